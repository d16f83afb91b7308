-- Rule kind bounce_rate_stop: a call to the rule's tools made while one of the rule's own firings
-- (int_policy__bounce_rate_fires) covers its agent, i.e. after the crossing bounce and before a resume
-- or a later `stop` event.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

{{ stop_rule_verdicts("bounce_rate_stop", "stops.stop_source = 'rate_rule' and stops.rule_id = applicable.rule_id") }}
