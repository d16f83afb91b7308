-- The violations among the verdicts, with the action's context (who, where, on whose behalf) so an
-- analyst or `crmguard violations` reads one table. One row per tool call x violated rule.
-- Incremental: a build judges again only the calls from `judged_from` on (macros/policy_judged.sql:
-- the earliest call a new input can change, or every call when the policy, the teams, the halts or
-- the code changed); the pre-hook forgets their old violations and records the judgement.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          schema=var('crmguard_policy_output_schema', none), pre_hook="{{ start_policy_judgement() }}") }}

-- depends_on: {{ ref('fct_policy_verdicts') }} (its tests run first: a duplicate verdict stops the build)
{%- set judged = policy_judged_window(this) %}

select
    verdicts.verdict_id as violation_id,
    verdicts.policy_version,
    verdicts.rule_id,
    rules.rule_kind,
    verdicts.incident_kind,
    rules.severity,
    verdicts.event_id,
    actions.occurred_at,
    actions.agent_id,
    actions.run_id,
    actions.tool_name,
    actions.actor_id,
    actions.on_behalf_of,
    actions.environment,
    actions.status,
    actions.target_object_type,
    actions.target_object_id,
    actions.account_id,
    actions.contact_id,
    verdicts.reason,
    verdicts.object_type,
    verdicts.object_id,
    verdicts.field,
    verdicts.stop_id,
    verdicts.evidence
from ({{ policy_verdicts(judged.since) }}) as verdicts
inner join {{ ref('int_policy__actions_as_of') }} as actions on actions.event_id = verdicts.event_id
inner join {{ ref('int_policy__rules') }} as rules on rules.rule_id = verdicts.rule_id
where verdicts.verdict = 'violation'
