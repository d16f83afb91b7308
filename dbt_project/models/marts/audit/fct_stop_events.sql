-- One row per `stop` (the runtime halting itself) and `resume` (a human lifting it) event.
{{ config(materialized='incremental', unique_key='event_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

select
    event_id,
    occurred_at,
    event_type,
    agent_id,
    run_id,
    stop_rule_id as rule_id,
    stop_scope as scope,
    stop_reason as reason,
    actor_id,
    actor_type,
    load_id
from {{ ref('stg_raw__agent_events') }}
where event_type in ('stop', 'resume')
  and {{ from_new_loads() }}
