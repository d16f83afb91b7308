-- One row per entry of a tool call's `changes`: the writes the agent says it made, values in
-- canonical form (docs/marts.md) so they compare with what the snapshots show.
{{ config(materialized='incremental', unique_key='claim_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

with

calls as (
    select event_id, occurred_at, agent_id, actor_id, run_id, tool_name, changes, dry_run, status, load_id
    from {{ ref('stg_raw__agent_events') }}
    -- No JSON filter here: the planner would parse every payload of the history before the load
    -- filter; a call with an empty or missing `changes` yields no entry from the unnest below.
    where event_type = 'tool_call'
      and {{ from_new_loads() }}
),

entries as (
    select
        calls.*,
        {{ json_array_elements('changes') }} as entry,
        {{ json_array_indexes('changes') }} as entry_index
    from calls
),

fields as (
    select
        entries.*,
        {{ json_str('entry', '$.object_type') }} as object_type,
        {{ json_str('entry', '$.object_id') }} as object_id,
        {{ json_str('entry', '$.field') }} as field,
        {{ json_str('entry', '$.old') }} as raw_old,
        {{ json_str('entry', '$.new') }} as raw_new
    from entries
)

select
    {{ dbt.concat(["event_id", "'#'", dbt.safe_cast('entry_index', api.Column.translate_type('varchar'))]) }} as claim_id,
    event_id,
    cast(entry_index as integer) as claim_index,
    occurred_at,
    agent_id,
    actor_id,
    run_id,
    tool_name,
    object_type,
    object_id,
    field,
    {{ canonical_value_of_field('raw_old', 'field') }} as old_value,
    {{ canonical_value_of_field('raw_new', 'field') }} as new_value,
    dry_run,
    status,
    load_id
from fields
