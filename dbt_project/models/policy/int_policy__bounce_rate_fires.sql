-- When each bounce_rate_stop rule fires: at every bounce signal, for each agent that had sent to that
-- contact, the window is the agent's last `window_sends` succeeded production send_email calls; the
-- rule fires at the bounce that brings the window's bounced contacts (a bounce signal between the send
-- and the evaluated bounce) to threshold_pct % of window_sends or more, from below.
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
      and contact_id is not null
),

bounces as (
    select event_id, occurred_at, contact_id
    from {{ ref('fct_signals') }}
    where signal_kind = 'bounce' and contact_id is not null
),

bounce_points as (
    select distinct sends.agent_id, bounces.event_id as bounce_event_id, bounces.occurred_at as evaluated_at
    from bounces
    inner join sends on sends.contact_id = bounces.contact_id and sends.occurred_at <= bounces.occurred_at
),

timeline as (
    select agent_id, occurred_at, 0 as is_bounce, event_id as tiebreak, 1 as is_send from sends
    union all
    select agent_id, evaluated_at, 1 as is_bounce, bounce_event_id as tiebreak, 0 as is_send from bounce_points
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
    select rules.policy_version, rules.rule_id, rules.window_sends, rules.threshold_pct, rules.scope,
           positioned.agent_id, positioned.bounce_event_id, positioned.evaluated_at, positioned.last_send_seq
    from positioned
    cross join rules
    where positioned.is_bounce = 1
),

bounced_in_window as (
    select
        points.rule_id,
        points.agent_id,
        points.bounce_event_id,
        count(distinct sends.contact_id) as bounced_contacts
    from points
    inner join sends
        on sends.agent_id = points.agent_id
        and sends.send_seq > points.last_send_seq - points.window_sends
        and sends.send_seq <= points.last_send_seq
    where exists (
        select 1 from bounces
        where bounces.contact_id = sends.contact_id
          and bounces.occurred_at >= sends.occurred_at
          and bounces.occurred_at <= points.evaluated_at
    )
    group by points.rule_id, points.agent_id, points.bounce_event_id
),

evaluated as (
    select
        points.*,
        coalesce(bounced_in_window.bounced_contacts, 0) as bounced_contacts,
        coalesce(bounced_in_window.bounced_contacts, 0) * 100 >= points.threshold_pct * points.window_sends as is_over
    from points
    left join bounced_in_window
        on bounced_in_window.rule_id = points.rule_id
        and bounced_in_window.agent_id = points.agent_id
        and bounced_in_window.bounce_event_id = points.bounce_event_id
),

crossings as (
    select
        *,
        coalesce(lag(is_over) over (
            partition by rule_id, agent_id order by evaluated_at, bounce_event_id
        ), false) as was_over
    from evaluated
)

select
    crossings.policy_version,
    crossings.rule_id,
    crossings.agent_id,
    crossings.scope,
    case crossings.scope when 'team' then agents.team else crossings.agent_id end as scope_value,
    crossings.bounce_event_id,
    crossings.evaluated_at as fired_at,
    crossings.bounced_contacts,
    crossings.window_sends,
    crossings.threshold_pct
from crossings
left join {{ ref('dim_agents') }} as agents on agents.agent_id = crossings.agent_id
where crossings.is_over and not crossings.was_over
