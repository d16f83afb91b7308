-- One row per agent run. Status, first rule that applies:
--   running         no run_finished event yet (a retry may still come)
--   failed_mid_way  a call failed for good (final attempt failed) after the run had written
--                   (a succeeded, non-dry-run call claiming changes earlier in the run)
--   failed          run_finished says failed, or a call failed for good before any write
--   stopped         the runtime emitted a `stop` event inside the run
--   completed       otherwise
-- Action counts are over final attempts, so a retried call counts once.
-- Incremental: runs touched by a new load are recomputed whole.
{{ config(materialized='incremental', unique_key='run_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

with

touched_runs as (
    select distinct run_id from {{ ref('stg_raw__agent_events') }}
    where run_id is not null and {{ from_new_loads() }}
),

events as (
    select * from {{ ref('stg_raw__agent_events') }}
    where {{ from_loads_of_touched_runs() }} and run_id in (select run_id from touched_runs)
),

actions as (
    select * from {{ ref('fct_agent_actions') }} where run_id in (select run_id from touched_runs)
),

run_bounds as (
    select
        run_id,
        max(agent_id) as agent_id,
        max(agent_version) as agent_version,
        min(occurred_at) as started_at,
        max(case when event_type = 'run_finished' then occurred_at end) as finished_at,
        max(case when event_type = 'run_finished' then status end) as finish_status,
        sum(case when event_type = 'stop' then 1 else 0 end) as stop_events,
        max(load_id) as load_id
    from events
    group by run_id
),

first_writes as (
    select run_id, min(occurred_at) as first_write_at
    from actions
    where status = 'succeeded' and not dry_run and change_count > 0
    group by run_id
),

final_failures as (
    select
        actions.run_id,
        actions.event_id,
        actions.occurred_at > first_writes.first_write_at as after_write,
        row_number() over (partition by actions.run_id order by actions.occurred_at, actions.step, actions.event_id) as failure_order
    from actions
    left join first_writes on first_writes.run_id = actions.run_id
    where actions.is_final_attempt and actions.status = 'failed'
),

failure_summary as (
    select
        run_id,
        max(case when failure_order = 1 then event_id end) as first_failed_event_id,
        min(case when after_write then event_id end) as failed_after_write_event_id,
        count(*) as final_failures,
        sum(case when after_write then 1 else 0 end) as failures_after_write
    from final_failures
    group by run_id
),

outcomes as (
    select
        run_id,
        count(distinct logical_call_id) as logical_calls,
        max(step) as max_step,
        sum(case when is_final_attempt and status = 'succeeded' then 1 else 0 end) as actions_succeeded,
        sum(case when is_final_attempt and status = 'failed' then 1 else 0 end) as actions_failed,
        sum(case when is_final_attempt and status = 'blocked' then 1 else 0 end) as actions_blocked,
        sum(case when is_final_attempt and status = 'skipped' then 1 else 0 end) as actions_skipped,
        sum(case when attempt > 1 then 1 else 0 end) as retries
    from actions
    group by run_id
)

select
    run_bounds.run_id,
    run_bounds.agent_id,
    run_bounds.agent_version,
    run_bounds.started_at,
    run_bounds.finished_at,
    cast(coalesce(outcomes.logical_calls, 0) as integer) as steps,
    case
        when run_bounds.finished_at is null then 'running'
        when coalesce(failure_summary.failures_after_write, 0) > 0 then 'failed_mid_way'
        when run_bounds.finish_status = 'failed' or coalesce(failure_summary.final_failures, 0) > 0 then 'failed'
        when run_bounds.stop_events > 0 then 'stopped'
        else 'completed'
    end as status,
    run_bounds.finish_status,
    cast(coalesce(outcomes.actions_succeeded, 0) as integer) as actions_succeeded,
    cast(coalesce(outcomes.actions_failed, 0) as integer) as actions_failed,
    cast(coalesce(outcomes.actions_blocked, 0) as integer) as actions_blocked,
    cast(coalesce(outcomes.actions_skipped, 0) as integer) as actions_skipped,
    cast(coalesce(outcomes.retries, 0) as integer) as retries,
    failure_summary.first_failed_event_id,
    failure_summary.failed_after_write_event_id,
    first_writes.first_write_at,
    run_bounds.load_id
from run_bounds
left join outcomes on outcomes.run_id = run_bounds.run_id
left join failure_summary on failure_summary.run_id = run_bounds.run_id
left join first_writes on first_writes.run_id = run_bounds.run_id
