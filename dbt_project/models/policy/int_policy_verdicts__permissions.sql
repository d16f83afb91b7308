-- Rule kind permissions: per agent role, a call to a tool outside allowed_tools, in an environment outside
-- environments, or claiming a write to an object field outside writes ('*' = any field of that object)
-- is a violation, whether or not the call succeeded. A rule without writes does not restrict fields.
-- The SQL is `permissions_verdicts` (macros/policy_rules.sql), which fct_policy_violations also calls.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

{{ permissions_verdicts() }}
