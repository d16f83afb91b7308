-- Rule kind permissions: per agent role, a call to a tool outside allowed_tools, in an environment outside
-- environments, or claiming a write to an object field outside writes ('*' = any field of that object)
-- is a violation, whether or not the call succeeded. A rule without writes does not restrict fields.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select
        scope.policy_version, scope.rule_id, scope.scope_key,
        exists (
            select 1 from {{ ref('int_policy__rule_lists') }} as l where l.rule_id = scope.rule_id and l.param = 'writes'
        ) as has_writes,
        exists (
            select 1 from {{ ref('int_policy__rule_lists') }} as l
            where l.rule_id = scope.rule_id and l.param = 'environments'
        ) as has_environments
    from {{ ref('int_policy__rule_scope') }} as scope
    where scope.rule_kind = 'permissions'
),

writes as (
    select rule_id, key as object_type, value as field from {{ ref('int_policy__rule_lists') }} where param = 'writes'
),

forbidden_writes as (
    select
        rules.rule_id,
        claims.event_id,
        min(claims.object_type || '.' || claims.field) as first_forbidden,
        min(claims.object_type) as object_type,
        min(claims.object_id) as object_id,
        count(*) as forbidden_count
    from {{ ref('fct_claimed_changes') }} as claims
    inner join {{ ref('int_policy__actions_as_of') }} as actions on actions.event_id = claims.event_id
    inner join rules on rules.scope_key = actions.scope_key and rules.has_writes
    where not exists (
        select 1 from writes
        where writes.rule_id = rules.rule_id
          and writes.object_type = claims.object_type
          and (writes.field = '*' or writes.field = claims.field)
    )
    group by rules.rule_id, claims.event_id
),

checked as (
    select
        rules.policy_version,
        rules.rule_id,
        actions.event_id,
        actions.is_attempted,
        actions.tool_name,
        actions.actor_role,
        actions.environment,
        actions.target_object_type,
        actions.target_object_id,
        tool_ok.value is not null as tool_allowed,
        not rules.has_environments or env_ok.value is not null as environment_allowed,
        forbidden_writes.first_forbidden,
        forbidden_writes.forbidden_count,
        forbidden_writes.object_type as forbidden_object_type,
        forbidden_writes.object_id as forbidden_object_id
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
    left join {{ ref('int_policy__rule_lists') }} as tool_ok
        on tool_ok.rule_id = rules.rule_id and tool_ok.param = 'allowed_tools' and tool_ok.value = actions.tool_name
    left join {{ ref('int_policy__rule_lists') }} as env_ok
        on env_ok.rule_id = rules.rule_id and env_ok.param = 'environments' and env_ok.value = actions.environment
    left join forbidden_writes
        on forbidden_writes.rule_id = rules.rule_id and forbidden_writes.event_id = actions.event_id
)

select
    policy_version,
    rule_id,
    event_id,
    case
        when not is_attempted then 'not_applicable'
        when not tool_allowed or not environment_allowed or first_forbidden is not null then 'violation'
        else 'pass'
    end as verdict,
    case
        when not tool_allowed then 'tool ' || tool_name || ' not allowed for role ' || actor_role
        when not environment_allowed then 'environment ' || environment || ' not allowed for role ' || actor_role
        when first_forbidden is not null then 'write to ' || first_forbidden || ' not allowed for role ' || actor_role
        else 'within the role''s permissions'
    end as reason,
    cast(null as varchar) as incident_kind,
    case when tool_allowed and environment_allowed and first_forbidden is not null
         then forbidden_object_type else target_object_type end as object_type,
    case when tool_allowed and environment_allowed and first_forbidden is not null
         then forbidden_object_id else target_object_id end as object_id,
    case when tool_allowed and environment_allowed and first_forbidden is not null
         then substr(first_forbidden, strpos(first_forbidden, '.') + 1) end as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('role', 'actor_role'),
        ('tool', 'tool_name'),
        ('tool_allowed', 'tool_allowed'),
        ('environment', 'environment'),
        ('environment_allowed', 'environment_allowed'),
        ('first_forbidden_write', 'first_forbidden'),
        ('forbidden_writes', 'forbidden_count'),
    ]) }} as evidence
from checked
