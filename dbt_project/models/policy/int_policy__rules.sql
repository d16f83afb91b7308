-- The enabled rules of the policy being evaluated (a table: the policy as of this build).
{{ config(materialized='table', schema=var('crmguard_policy_output_schema', none)) }}

select *
from {{ source('policy', 'rules') }}
where enabled
