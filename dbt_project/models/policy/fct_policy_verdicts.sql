-- One row per tool call x applicable rule of the evaluated policy: pass, violation or not_applicable,
-- with the reason, the object it concerns and, for violations, the evidence (the state values used).
-- The union of the rule-kind models, each reading the shared point-in-time actions once. Narrow on
-- purpose (it has a row per call and rule): who/when/what and the rule's kind and severity are in
-- fct_policy_violations, or one join away (fct_agent_actions, policy.rules).
-- Deterministic: the same inputs and policy version give the same rows (no clock, no random).
-- A view: storing a row per call and rule (6M at 1M actions, nearly all passes) cost more than the
-- whole evaluation; fct_policy_violations persists what matters. Every input it reads is a table
-- of this build (actions as of, rule scope, stop windows), so it answers for the last build.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

{%- set kinds = ['contact_flags', 'account_flag', 'account_lifecycle', 'icp', 'deal_stage_outreach',
                 'stage_transitions', 'bounce_rate_stop', 'negative_reply_stop', 'honor_stops', 'approval_gate', 'permissions',
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
    {{ dbt.concat(["verdicts.policy_version", "'|'", "verdicts.rule_id", "'|'", "verdicts.event_id"]) }} as verdict_id,
    verdicts.policy_version,
    verdicts.rule_id,
    case when verdicts.verdict = 'violation' then coalesce(verdicts.incident_kind, rules.incident_kind) end
        as incident_kind,
    verdicts.event_id,
    verdicts.verdict,
    verdicts.reason,
    verdicts.object_type,
    verdicts.object_id,
    verdicts.field,
    verdicts.stop_id,
    -- evidence is kept for violations (the reason says why a call passed): building and storing
    -- JSON for every pass multiplied the cost of the whole policy
    case when verdicts.verdict = 'violation' then verdicts.evidence end as evidence
from verdicts
inner join {{ ref('int_policy__rules') }} as rules on rules.rule_id = verdicts.rule_id
