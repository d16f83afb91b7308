-- One row per tool_call event (every attempt). Retries of one logical call share `logical_call_id`
-- (the event id of the first attempt of the same run and tool.call_id) and only the last attempt has
-- `is_final_attempt`, so counts over final attempts never double-count a retried call.
-- Incremental: every call of a run touched by a new load is recomputed, because a late retry changes
-- which attempt of an earlier call is final.
{{ config(materialized='incremental', unique_key='event_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

-- touched_runs reads the staging view on its own: a CTE used twice is materialized whole by DuckDB,
-- which would extract every JSON field of every historical event.
with

touched_runs as (
    select distinct run_id from {{ ref('stg_raw__agent_events') }}
    where event_type = 'tool_call' and {{ from_new_loads() }}
),

calls_to_compute as (
    select * from {{ ref('stg_raw__agent_events') }}
    where event_type = 'tool_call' and {{ from_loads_of_touched_runs() }}
      and run_id in (select run_id from touched_runs)
),

chained as (
    select
        *,
        first_value(event_id) over (
            partition by run_id, coalesce(call_id, event_id)
            order by coalesce(attempt, 1), occurred_at, event_id
        ) as logical_call_id,
        row_number() over (
            partition by run_id, coalesce(call_id, event_id)
            order by coalesce(attempt, 1) desc, occurred_at desc, event_id desc
        ) = 1 as is_final_attempt
    from calls_to_compute
)

select
    event_id,
    occurred_at,
    agent_id,
    agent_version,
    run_id,
    step,
    environment,
    actor_type,
    actor_id,
    actor_role,
    on_behalf_of,
    tool_name,
    call_id,
    credential_scope,
    target_object_type,
    target_object_id,
    target_account_id,
    case when target_object_type = 'contact' then target_object_id else input_contact_id end as contact_id,
    input,
    changes,
    {{ json_array_length('changes') }} as change_count,
    model,
    prompt_sha256,
    retrieved_ids,
    triggered_by_event_id,
    status,
    error,
    coalesce(attempt, 1) as attempt,
    retry_of,
    logical_call_id,
    is_final_attempt,
    dry_run,
    approval_id,
    source_format,
    load_id
from chained
