-- Rule kind account_lifecycle: a call to a contact at an account whose lifecycle (as of the call) is
-- one the rule forbids, e.g. current customers contacted by outbound tools.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

checked as (
    select
        scope.policy_version,
        scope.rule_id,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.account_id,
        actions.account_version_id,
        actions.account_lifecycle,
        actions.contact_id,
        forbidden.value is not null as is_forbidden
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join {{ ref('int_policy__rule_scope') }} as scope
        on scope.scope_key = actions.scope_key and scope.rule_kind = 'account_lifecycle'
    left join {{ ref('int_policy__rule_lists') }} as forbidden
        on forbidden.rule_id = scope.rule_id
        and forbidden.param = 'lifecycles'
        and forbidden.value = actions.account_lifecycle
)

select
    policy_version,
    rule_id,
    event_id,
    occurred_at,
    case
        when not is_attempted or account_id is null then 'not_applicable'
        when is_forbidden then 'violation'
        else 'pass'
    end as verdict,
    'account lifecycle ' || coalesce(account_lifecycle, 'unknown') as reason,
    cast(null as varchar) as incident_kind,
    'account' as object_type,
    account_id as object_id,
    case when is_forbidden then 'lifecycle' end as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('account_id', 'account_id'),
        ('account_version_id', 'account_version_id'),
        ('contact_id', 'contact_id'),
        ('lifecycle', 'account_lifecycle'),
    ]) }} as evidence
from checked
