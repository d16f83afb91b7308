-- Which rule applies to which (tool, actor role): a rule without a `tools` / `agent_roles` list applies
-- to every tool / role. Expanded against the pairs the actions actually use, so each rule model joins
-- the actions on one equality key instead of an OR (the rules share one scan of the actions).
-- A role in a rule's `exempt_roles` is taken out of its scope: its calls are neither judged nor counted.
{{ config(materialized='table', schema=var('crmguard_policy_output_schema', none)) }}

with

pairs as (
    select distinct
        tool_name,
        coalesce(actor_role, '') as actor_role
    from {{ ref('fct_agent_actions') }}
),

tools as (
    select rule_id, value as tool_name from {{ ref('int_policy__rule_lists') }} where param = 'tools'
),

roles as (
    select rule_id, value as actor_role from {{ ref('int_policy__rule_lists') }} where param = 'agent_roles'
),

exempt as (
    select rule_id, value as actor_role from {{ ref('int_policy__rule_lists') }} where param = 'exempt_roles'
),

scoped as (
    select rules.rule_id, pairs.tool_name, pairs.actor_role
    from {{ ref('int_policy__rules') }} as rules
    cross join pairs
    where (
            not exists (select 1 from tools where tools.rule_id = rules.rule_id)
            or exists (select 1 from tools where tools.rule_id = rules.rule_id and tools.tool_name = pairs.tool_name)
        )
      and (
            not exists (select 1 from roles where roles.rule_id = rules.rule_id)
            or exists (select 1 from roles where roles.rule_id = rules.rule_id and roles.actor_role = pairs.actor_role)
        )
      and not exists (select 1 from exempt where exempt.rule_id = rules.rule_id and exempt.actor_role = pairs.actor_role)
)

select
    rules.*,
    scoped.tool_name as scope_tool_name,
    scoped.actor_role as scope_actor_role,
    scoped.tool_name || '|' || scoped.actor_role as scope_key
from scoped
inner join {{ ref('int_policy__rules') }} as rules on rules.rule_id = scoped.rule_id
