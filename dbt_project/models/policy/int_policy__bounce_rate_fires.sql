-- When each bounce_rate_stop rule fires (docs/incidents.md, bounce stop). At every bounce signal an
-- agent receives, its window is its last `window_sends` succeeded production send_email calls made
-- since its last resume; a send counts as bounced when its contact has a bounce signal at or before
-- the evaluated one. The rule fires at the first bounce of a resume epoch where the bounced sends
-- reach threshold_pct % of window_sends, and stays fired until the next resume (int_policy__stop_windows).
{{ config(materialized='table', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select policy_version, rule_id, window_sends, threshold_pct, scope
    from {{ ref('int_policy__rules') }}
    where rule_kind = 'bounce_rate_stop'
),

sends as (
    select
        agent_id,
        event_id,
        occurred_at,
        contact_id,
        row_number() over (partition by agent_id order by occurred_at, event_id) as send_seq
    from {{ ref('fct_agent_actions') }}
    where tool_name = 'send_email'
      and status = 'succeeded'
      and environment = 'production'
      and not dry_run
),

bounces as (
    select event_id, occurred_at, agent_id, contact_id
    from {{ ref('fct_signals') }}
    where signal_kind = 'bounce'
),

first_bounce as (
    select contact_id, min(occurred_at) as first_bounced_at
    from bounces
    where contact_id is not null
    group by contact_id
),

-- resumes that lift an agent: its own resume events and kill-switch resumes of its scope
resumes as (
    select agent_id, occurred_at as resumed_at
    from {{ ref('fct_stop_events') }}
    where event_type = 'resume'
    union all
    select agents.agent_id, kill_switch.decided_at
    from {{ source('policy_control', 'kill_switch') }} as kill_switch
    inner join {{ ref('dim_agents') }} as agents
        on kill_switch.scope = 'global'
        or (kill_switch.scope = 'agent' and kill_switch.scope_value = agents.agent_id)
        or (kill_switch.scope = 'team' and kill_switch.scope_value = agents.team)
    where kill_switch.decision = 'resume'
),

timeline as (
    select agent_id, occurred_at, 0 as is_bounce, event_id as tiebreak, 1 as is_send from sends
    union all
    select agent_id, occurred_at, 1 as is_bounce, event_id as tiebreak, 0 as is_send from bounces
),

positioned as (
    select
        agent_id,
        is_bounce,
        tiebreak as bounce_event_id,
        occurred_at as evaluated_at,
        sum(is_send) over (
            partition by agent_id order by occurred_at, is_bounce, tiebreak
            rows between unbounded preceding and current row
        ) as last_send_seq
    from timeline
),

points as (
    select
        rules.policy_version, rules.rule_id, rules.window_sends, rules.threshold_pct, rules.scope,
        positioned.agent_id, positioned.bounce_event_id, positioned.evaluated_at, positioned.last_send_seq,
        (
            select max(resumes.resumed_at) from resumes
            where resumes.agent_id = positioned.agent_id and resumes.resumed_at <= positioned.evaluated_at
        ) as epoch_started_at
    from positioned
    cross join rules
    where positioned.is_bounce = 1
),

bounced_in_window as (
    select
        points.rule_id,
        points.bounce_event_id,
        count(*) as bounced_sends
    from points
    inner join sends
        on sends.agent_id = points.agent_id
        and sends.send_seq > points.last_send_seq - points.window_sends
        and sends.send_seq <= points.last_send_seq
    inner join first_bounce
        on first_bounce.contact_id = sends.contact_id
        and first_bounce.first_bounced_at <= points.evaluated_at
    where points.epoch_started_at is null or sends.occurred_at > points.epoch_started_at
    group by points.rule_id, points.bounce_event_id
),

over_threshold as (
    select
        points.*,
        bounced_in_window.bounced_sends,
        row_number() over (
            partition by points.rule_id, points.agent_id, points.epoch_started_at
            order by points.evaluated_at, points.bounce_event_id
        ) as nth_in_epoch
    from points
    inner join bounced_in_window
        on bounced_in_window.rule_id = points.rule_id
        and bounced_in_window.bounce_event_id = points.bounce_event_id
    where bounced_in_window.bounced_sends * 100 >= points.threshold_pct * points.window_sends
)

select
    over_threshold.policy_version,
    over_threshold.rule_id,
    over_threshold.agent_id,
    over_threshold.scope,
    case over_threshold.scope when 'team' then agents.team else over_threshold.agent_id end as scope_value,
    over_threshold.bounce_event_id,
    over_threshold.evaluated_at as fired_at,
    over_threshold.bounced_sends,
    over_threshold.window_sends,
    over_threshold.threshold_pct
from over_threshold
left join {{ ref('dim_agents') }} as agents on agents.agent_id = over_threshold.agent_id
where over_threshold.nth_in_epoch = 1
