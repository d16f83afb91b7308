-- Rule kind honor_stops: a call made while a `stop` event or a `crmguard halt` covering its agent (the
-- agent, its team, or global) is in force, i.e. after it and before the matching resume.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

{{ stop_rule_verdicts("honor_stops", "stops.stop_source in ('stop_event', 'halt')") }}
