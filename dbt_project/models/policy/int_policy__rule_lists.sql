-- List and map parameters of the enabled rules (tools, flags, stages, writes, ...), one row per item.
{{ config(materialized='table', schema=var('crmguard_policy_output_schema', none)) }}

select lists.*
from {{ source('policy', 'rule_lists') }} as lists
inner join {{ ref('int_policy__rules') }} as rules
    on rules.policy_version = lists.policy_version and rules.rule_id = lists.rule_id
