-- One row per tool call x applicable rule of the evaluated policy: pass, violation or not_applicable,
-- with the reason, the object it concerns and, for violations, the evidence (the state values used).
-- The union of the rule-kind models, each reading the shared point-in-time actions once. Narrow on
-- purpose (it has a row per call and rule): who/when/what and the rule's kind and severity are in
-- fct_policy_violations, or one join away (fct_agent_actions, policy.rules).
-- Deterministic: the same inputs and policy version give the same rows (no clock, no random).
-- A view: storing a row per call and rule (6M at 1M actions, nearly all passes) cost more than the
-- whole evaluation; fct_policy_violations persists what matters. Every input it reads is a table
-- of this build (actions as of, rule scope, stop windows), so it answers for the last build.
-- The SQL is `policy_verdicts` (macros/policy_rules.sql); fct_policy_violations calls it for the calls it judges.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

{{ policy_verdicts() }}
