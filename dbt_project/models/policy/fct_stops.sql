-- One row per stop: a `stop` event, a `crmguard halt`, or a rate rule firing; its scope, when it fired
-- and ended (resume or hand-over to a stop event), and the calls that ran past it (violations).
{{ config(materialized='table', schema=var('crmguard_policy_output_schema', none)) }}

with

ran_past as (
    select
        stop_id,
        count(*) as actions_past_stop,
        {{ json_agg_sorted('event_id') }} as event_ids_past_stop,
        min(occurred_at) as first_action_past_stop_at
    from {{ ref('fct_policy_violations') }}
    where stop_id is not null
    group by stop_id
)

select
    stops.stop_id,
    stops.stop_source,
    stops.rule_id,
    stops.scope,
    stops.scope_value,
    stops.agent_id,
    stops.fired_at,
    stops.fired_by,
    stops.reason,
    stops.resumed_at,
    stops.resumed_by,
    stops.handed_over_at,
    stops.ended_at,
    coalesce(ran_past.actions_past_stop, 0) as actions_past_stop,
    ran_past.first_action_past_stop_at,
    coalesce(ran_past.event_ids_past_stop, cast('[]' as {{ api.Column.translate_type('json') }})) as event_ids_past_stop
from {{ ref('int_policy__stop_windows') }} as stops
left join ran_past on ran_past.stop_id = stops.stop_id
