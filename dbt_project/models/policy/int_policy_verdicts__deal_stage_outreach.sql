-- Rule kind deal_stage_outreach: outreach to a contact whose account has a deal (as of the call) in one
-- of the rule's stages, e.g. no prospecting while a negotiation is open.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select policy_version, rule_id, scope_key, pipeline
    from {{ ref('int_policy__rule_scope') }}
    where rule_kind = 'deal_stage_outreach'
),

applicable as (
    select
        rules.policy_version,
        rules.rule_id,
        rules.pipeline as rule_pipeline,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.account_id,
        actions.contact_id
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
),

blocking_deals as (
    select
        applicable.rule_id,
        applicable.event_id,
        min(deals.deal_id) as deal_id,
        min(deals.deal_id || ' in stage ' || deals.stage) as blocking_deal
    from applicable
    inner join {{ ref('scd_crm_deals') }} as deals
        on deals.account_id = applicable.account_id
        and deals.valid_from <= applicable.occurred_at
        and coalesce(deals.valid_to, cast('9999-12-31' as timestamp)) > applicable.occurred_at
        and not deals.is_deleted
        and (applicable.rule_pipeline is null or deals.pipeline = applicable.rule_pipeline)
    inner join {{ ref('int_policy__rule_lists') }} as stages
        on stages.rule_id = applicable.rule_id and stages.param = 'stages' and stages.value = deals.stage
    group by applicable.rule_id, applicable.event_id
)

select
    applicable.policy_version,
    applicable.rule_id,
    applicable.event_id,
    applicable.occurred_at,
    case
        when not applicable.is_attempted or applicable.account_id is null then 'not_applicable'
        when blocking_deals.deal_id is not null then 'violation'
        else 'pass'
    end as verdict,
    case when blocking_deals.deal_id is null then 'no deal in a stopping stage'
         else 'account has deal ' || blocking_deals.blocking_deal end as reason,
    cast(null as varchar) as incident_kind,
    case when blocking_deals.deal_id is null then 'account' else 'deal' end as object_type,
    coalesce(blocking_deals.deal_id, applicable.account_id) as object_id,
    case when blocking_deals.deal_id is not null then 'stage' end as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('account_id', 'applicable.account_id'),
        ('contact_id', 'applicable.contact_id'),
        ('deal_id', 'blocking_deals.deal_id'),
        ('blocking_deal', 'blocking_deals.blocking_deal'),
    ]) }} as evidence
from applicable
left join blocking_deals
    on blocking_deals.rule_id = applicable.rule_id and blocking_deals.event_id = applicable.event_id
