-- Rule kind blast_radius: how much one run (per: run) or one agent in any sliding hour (per: hour) may
-- change, counting the succeeded, non-dry-run claimed changes (measure: changes) or the records they
-- touch (measure: records; per hour a record changed by two calls counts twice), optionally only one
-- field / object type. When a run is over the limit every call of it making such a change is a
-- violation; per hour, every such call that ends an hour over the limit.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select policy_version, rule_id, scope_key, per, measure, max_count, field as only_field,
           object_type as only_object_type
    from {{ ref('int_policy__rule_scope') }}
    where rule_kind = 'blast_radius'
),

applicable as (
    select
        rules.*,
        actions.event_id,
        actions.occurred_at,
        actions.agent_id,
        actions.run_id,
        actions.is_attempted,
        actions.status = 'succeeded' and not actions.dry_run as counts
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
),

call_changes as (
    select
        applicable.rule_id,
        applicable.event_id,
        count(*) as changes,
        count(distinct claims.object_type || ':' || claims.object_id) as records,
        min(claims.object_type) as object_type,
        min(claims.object_id) as object_id
    from applicable
    inner join {{ ref('fct_claimed_changes') }} as claims on claims.event_id = applicable.event_id
    where (applicable.only_field is null or claims.field = applicable.only_field)
      and (applicable.only_object_type is null or claims.object_type = applicable.only_object_type)
    group by applicable.rule_id, applicable.event_id
),

measured as (
    select
        applicable.*,
        call_changes.object_type,
        call_changes.object_id,
        call_changes.event_id is not null and applicable.is_attempted as makes_change,
        case when applicable.counts
             then case applicable.measure when 'records' then call_changes.records else call_changes.changes end
             else 0 end as amount
    from applicable
    left join call_changes on call_changes.rule_id = applicable.rule_id and call_changes.event_id = applicable.event_id
),

per_run as (
    select rule_id, run_id, sum(amount) as run_total
    from measured
    where per = 'run'
    group by rule_id, run_id
),

windowed as (
    select
        measured.*,
        case measured.per
            when 'run' then per_run.run_total
            else sum(measured.amount) over (
                partition by measured.rule_id, measured.agent_id
                order by measured.occurred_at
                range between interval '1 hour' preceding and current row
            )
        end as window_total
    from measured
    left join per_run on per_run.rule_id = measured.rule_id and per_run.run_id = measured.run_id
)

select
    policy_version,
    rule_id,
    event_id,
    case
        when not makes_change then 'not_applicable'
        when window_total > max_count then 'violation'
        else 'pass'
    end as verdict,
    coalesce(cast(window_total as varchar), '0') || ' ' || measure || ' in the ' || per
        || ' (max ' || cast(max_count as varchar) || ')' as reason,
    cast(null as varchar) as incident_kind,
    object_type,
    object_id,
    only_field as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('per', 'per'),
        ('measure', 'measure'),
        ('max_count', 'max_count'),
        ('window_total', 'window_total'),
        ('run_id', 'run_id'),
        ('agent_id', 'agent_id'),
    ]) }} as evidence
from windowed
