-- Rule kind honor_stops: a call made while a `stop` event or a `crmguard halt` covering its agent (the
-- agent, its team, or global) is in force, i.e. after it and before the matching resume.
-- The SQL is `honor_stops_verdicts` (macros/policy_rules.sql), which fct_policy_violations also calls.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

{{ honor_stops_verdicts() }}
