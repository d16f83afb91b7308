-- Rule kind dry_run_integrity: a dry_run call whose claimed change showed up in the next snapshot,
-- written by the agent (attribution cause agent_dry_run). Calls that are not dry runs are not applicable.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select policy_version, rule_id, scope_key
    from {{ ref('int_policy__rule_scope') }}
    where rule_kind = 'dry_run_integrity'
),

observed as (
    select
        event_id,
        min(object_type) as object_type,
        min(object_id) as object_id,
        min(field) as field,
        count(*) as observed_changes,
        min(window_end) as first_seen_in_snapshot
    from {{ ref('fct_change_attribution') }}
    where record_type = 'observed_change' and cause = 'agent_dry_run'
    group by event_id
)

select
    rules.policy_version,
    rules.rule_id,
    actions.event_id,
    actions.occurred_at,
    case
        when not actions.dry_run or not actions.is_attempted then 'not_applicable'
        when observed.event_id is not null then 'violation'
        else 'pass'
    end as verdict,
    case when observed.event_id is null then 'no change observed'
         else cast(observed.observed_changes as varchar) || ' claimed change(s) observed in the CRM' end as reason,
    cast(null as varchar) as incident_kind,
    coalesce(observed.object_type, actions.target_object_type) as object_type,
    coalesce(observed.object_id, actions.target_object_id) as object_id,
    observed.field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('dry_run', 'actions.dry_run'),
        ('observed_changes', 'observed.observed_changes'),
        ('first_seen_in_snapshot', 'observed.first_seen_in_snapshot'),
    ]) }} as evidence
from {{ ref('int_policy__actions_as_of') }} as actions
inner join rules on rules.scope_key = actions.scope_key
left join observed on observed.event_id = actions.event_id
where actions.dry_run
