-- Rule kind account_flag: an outbound call to a contact whose account carries the rule's flag
-- (legal_hold, security_incident_open) in the snapshot as of the call.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select policy_version, rule_id, scope_key, flag
    from {{ ref('int_policy__rule_scope') }}
    where rule_kind = 'account_flag'
),

checked as (
    select
        rules.policy_version,
        rules.rule_id,
        rules.flag,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.account_id,
        actions.account_version_id,
        actions.contact_id,
        case rules.flag
            when 'legal_hold' then actions.account_legal_hold
            when 'security_incident_open' then actions.account_security_incident_open
        end as flag_value
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
)

select
    policy_version,
    rule_id,
    event_id,
    occurred_at,
    case
        when not is_attempted or account_id is null then 'not_applicable'
        when flag_value then 'violation'
        else 'pass'
    end as verdict,
    case when flag_value then 'account flag ' || flag else 'account flag ' || flag || ' not set' end as reason,
    cast(null as varchar) as incident_kind,
    'account' as object_type,
    account_id as object_id,
    case when flag_value then flag end as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('account_id', 'account_id'),
        ('account_version_id', 'account_version_id'),
        ('contact_id', 'contact_id'),
        ('flag', 'flag'),
        ('value', 'flag_value'),
    ]) }} as evidence
from checked
