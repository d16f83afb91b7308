-- One row per tool call x applicable rule of the evaluated policy: pass, violation or not_applicable,
-- with the reason, the object it concerns and the evidence (the state values the verdict used).
-- The union of the rule-kind models, each reading the shared point-in-time actions once.
-- Deterministic: the same inputs and policy version give the same rows (no clock, no random).
{{ config(materialized='table', schema=var('crmguard_policy_output_schema', none)) }}

{%- set kinds = ['contact_flags', 'account_flag', 'account_lifecycle', 'icp', 'deal_stage_outreach',
                 'stage_transitions', 'bounce_rate_stop', 'honor_stops', 'approval_gate', 'permissions',
                 'blast_radius', 'signal_verification', 'dry_run_integrity'] %}

with

verdicts as (
    {%- for kind in kinds %}
    select * from {{ ref('int_policy_verdicts__' ~ kind) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select
    {{ dbt.hash(dbt.concat(["verdicts.policy_version", "'|'", "verdicts.rule_id", "'|'", "verdicts.event_id"])) }}
        as verdict_id,
    verdicts.policy_version,
    verdicts.rule_id,
    rules.rule_kind,
    case when verdicts.verdict = 'violation' then coalesce(verdicts.incident_kind, rules.incident_kind) end
        as incident_kind,
    rules.severity,
    verdicts.event_id,
    actions.occurred_at,
    actions.agent_id,
    actions.run_id,
    actions.tool_name,
    verdicts.verdict,
    verdicts.reason,
    verdicts.object_type,
    verdicts.object_id,
    verdicts.field,
    verdicts.stop_id,
    verdicts.evidence
from verdicts
inner join {{ ref('int_policy__rules') }} as rules on rules.rule_id = verdicts.rule_id
inner join {{ ref('int_policy__actions_as_of') }} as actions on actions.event_id = verdicts.event_id
