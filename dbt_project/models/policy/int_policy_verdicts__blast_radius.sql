-- Rule kind blast_radius: how much one run (per: run) or one agent in any sliding hour (per: hour) may
-- change, counting the succeeded, non-dry-run claimed changes (measure: changes) or the records they
-- touch (measure: records; per hour a record changed by two calls counts twice), optionally only one
-- field / object type. When a run is over the limit every call of it making such a change is a
-- violation; per hour, every counted call that ends an hour over the limit. Only calls that claim such
-- a change are judged (the others cannot add to the blast radius).
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select policy_version, rule_id, scope_key, per, measure, max_count, field as only_field,
           object_type as only_object_type
    from {{ ref('int_policy__rule_scope') }}
    where rule_kind = 'blast_radius'
),

calls as (
    select
        rules.policy_version,
        rules.rule_id,
        rules.per,
        rules.measure,
        rules.max_count,
        rules.only_field,
        actions.event_id,
        actions.occurred_at,
        actions.agent_id,
        actions.run_id,
        actions.is_attempted,
        actions.status = 'succeeded' and not actions.dry_run as counts,
        count(*) as changes,
        count(distinct claims.object_type || ':' || claims.object_id) as records,
        min(claims.object_type) as object_type,
        min(claims.object_id) as object_id
    from {{ ref('fct_claimed_changes') }} as claims
    inner join {{ ref('int_policy__actions_as_of') }} as actions on actions.event_id = claims.event_id
    inner join rules on rules.scope_key = actions.scope_key
    where (rules.only_field is null or claims.field = rules.only_field)
      and (rules.only_object_type is null or claims.object_type = rules.only_object_type)
    group by
        rules.policy_version, rules.rule_id, rules.per, rules.measure, rules.max_count, rules.only_field,
        actions.event_id, actions.occurred_at, actions.agent_id, actions.run_id, actions.is_attempted,
        actions.status, actions.dry_run
),

counted as (
    select *, case measure when 'records' then records else changes end as amount
    from calls
    where counts
),

per_run as (
    select rule_id, run_id, sum(amount) as run_total
    from counted
    where per = 'run'
    group by rule_id, run_id
),

per_hour as (
    select
        rule_id,
        event_id,
        sum(amount) over (
            partition by rule_id, agent_id
            order by occurred_at
            range between interval '1 hour' preceding and current row
        ) as hour_total
    from counted
    where per = 'hour'
),

windowed as (
    select
        calls.*,
        case calls.per when 'run' then coalesce(per_run.run_total, 0) else per_hour.hour_total end as window_total
    from calls
    left join per_run on per_run.rule_id = calls.rule_id and per_run.run_id = calls.run_id
    left join per_hour on per_hour.rule_id = calls.rule_id and per_hour.event_id = calls.event_id
)

select
    policy_version,
    rule_id,
    event_id,
    case
        when not is_attempted then 'not_applicable'
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
