-- Rule kind bounce_rate_stop: a call to the rule's tools made while one of the rule's own firings
-- (int_policy__bounce_rate_fires) covers its agent, i.e. after the crossing bounce and before a resume
-- or a later `stop` event.
-- The SQL is `bounce_rate_stop_verdicts` (macros/policy_rules.sql), which fct_policy_violations also calls.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

{{ bounce_rate_stop_verdicts() }}
