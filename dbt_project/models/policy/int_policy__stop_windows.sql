-- Every stop in force at some time: the runtime's `stop` events, `crmguard halt` decisions and the
-- firings of rate rules, each with the scope it stops (agent:ID, team:NAME, global:*) and when it ended.
-- A stop or halt ends at the first later resume of the same scope (or a global resume); a rate stop
-- also ends at a later `stop` event covering it, which hands the agent over to the honor_stops rule.
{{ config(materialized='table', schema=var('crmguard_policy_output_schema', none)) }}

with

agents as (
    select agent_id, team from {{ ref('dim_agents') }}
),

stop_events as (
    select
        events.event_type,
        events.event_id,
        events.occurred_at,
        events.agent_id,
        events.rule_id,
        events.reason,
        coalesce(events.scope, 'agent') as scope,
        case coalesce(events.scope, 'agent')
            when 'global' then '*'
            when 'team' then agents.team
            else events.agent_id
        end as scope_value
    from {{ ref('fct_stop_events') }} as events
    left join agents on agents.agent_id = events.agent_id
),

kill_switch as (
    select * from {{ source('policy_control', 'kill_switch') }}
),

resumes as (
    select occurred_at as resumed_at, event_id as resumed_by, scope, scope_value
    from stop_events
    where event_type = 'resume'
    union all
    select decided_at, 'halt-decision:' || decision_id, scope, scope_value
    from kill_switch
    where decision = 'resume'
),

stops as (
    select
        'stop_event' as stop_source,
        'stop_event:' || event_id as stop_id,
        rule_id,
        scope,
        scope_value,
        agent_id,
        occurred_at as fired_at,
        event_id as fired_by,
        coalesce(reason, 'stop event') as reason
    from stop_events
    where event_type = 'stop'
    union all
    select
        'halt',
        'halt:' || decision_id,
        cast(null as varchar),
        scope,
        scope_value,
        case when scope = 'agent' then scope_value end,
        decided_at,
        'halt-decision:' || decision_id,
        reason || ' (halted by ' || decided_by || ')'
    from kill_switch
    where decision = 'halt'
    union all
    select
        'rate_rule',
        'rate_rule:' || rule_id || ':' || agent_id || ':' || bounce_event_id,
        rule_id,
        scope,
        scope_value,
        agent_id,
        fired_at,
        bounce_event_id,
        cast(bounced_sends as varchar) || ' of the last ' || cast(window_sends as varchar)
            || ' sends bounced (threshold ' || cast(threshold_pct as varchar) || ' %)'
    from {{ ref('int_policy__bounce_rate_fires') }}
),

ends as (
    select
        stops.stop_id,
        min(resumes.resumed_at) as resumed_at,
        min(cast(resumes.resumed_at as varchar) || '|' || resumes.resumed_by) as first_resume
    from stops
    inner join resumes
        on resumes.resumed_at > stops.fired_at
        and ((resumes.scope = stops.scope and resumes.scope_value = stops.scope_value) or resumes.scope = 'global')
    group by stops.stop_id
),

handovers as (
    select stops.stop_id, min(later.occurred_at) as handed_over_at
    from stops
    inner join stop_events as later
        on later.event_type = 'stop'
        and later.occurred_at > stops.fired_at
        and (
            (later.scope = stops.scope and later.scope_value = stops.scope_value)
            or later.scope = 'global'
            or (later.scope = 'agent' and later.scope_value = stops.agent_id)
        )
    where stops.stop_source = 'rate_rule'
    group by stops.stop_id
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
    ends.resumed_at,
    case when ends.first_resume is not null
         then substr(ends.first_resume, strpos(ends.first_resume, '|') + 1) end as resumed_by,
    handovers.handed_over_at,
    case
        when handovers.handed_over_at is not null and (ends.resumed_at is null or handovers.handed_over_at < ends.resumed_at)
            then handovers.handed_over_at
        else ends.resumed_at
    end as ended_at
from stops
left join ends on ends.stop_id = stops.stop_id
left join handovers on handovers.stop_id = stops.stop_id
