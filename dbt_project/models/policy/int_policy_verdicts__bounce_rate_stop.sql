-- Rule kind bounce_rate_stop: a call to the rule's tools made while one of the rule's own firings
-- (int_policy__bounce_rate_fires) covers its agent, i.e. after the crossing bounce and before a resume
-- or a later `stop` event.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

applicable as (
    select
        scope.policy_version,
        scope.rule_id,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.agent_id,
        actions.target_object_type,
        actions.target_object_id,
        'agent:' || actions.agent_id as agent_key,
        'team:' || actions.agent_team as team_key
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join {{ ref('int_policy__rule_scope') }} as scope
        on scope.scope_key = actions.scope_key and scope.rule_kind = 'bounce_rate_stop'
),

stops as (
    select *, scope || ':' || scope_value as stop_key
    from {{ ref('int_policy__stop_windows') }}
),

covering as (
    select applicable.rule_id, applicable.event_id, stops.stop_id, stops.stop_source, stops.scope, stops.scope_value,
           stops.fired_at, stops.fired_by, stops.reason, stops.resumed_at
    from applicable
    inner join stops on stops.stop_key = applicable.agent_key
    where stops.stop_source = 'rate_rule' and stops.rule_id = applicable.rule_id and applicable.occurred_at > stops.fired_at
      and (stops.ended_at is null or applicable.occurred_at < stops.ended_at)
    union all
    select applicable.rule_id, applicable.event_id, stops.stop_id, stops.stop_source, stops.scope, stops.scope_value,
           stops.fired_at, stops.fired_by, stops.reason, stops.resumed_at
    from applicable
    inner join stops on stops.stop_key = applicable.team_key
    where stops.stop_source = 'rate_rule' and stops.rule_id = applicable.rule_id and applicable.occurred_at > stops.fired_at
      and (stops.ended_at is null or applicable.occurred_at < stops.ended_at)
    union all
    select applicable.rule_id, applicable.event_id, stops.stop_id, stops.stop_source, stops.scope, stops.scope_value,
           stops.fired_at, stops.fired_by, stops.reason, stops.resumed_at
    from applicable
    inner join stops on stops.stop_key = 'global:*'
    where stops.stop_source = 'rate_rule' and stops.rule_id = applicable.rule_id and applicable.occurred_at > stops.fired_at
      and (stops.ended_at is null or applicable.occurred_at < stops.ended_at)
),

{{ stop_verdicts() }}
