-- The enabled rules of the policy being evaluated, with the incident kind their violations file under.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

select *
from {{ source('policy', 'rules') }}
where enabled
