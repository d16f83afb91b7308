-- Rule kind icp: a call to a contact at an account outside the ideal customer profile as the account
-- was at the time (industry not listed, employees outside the range, title without a listed keyword).
-- A value the CRM does not know (NULL) is not evidence of a mismatch.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select
        scope.policy_version,
        scope.rule_id,
        scope.scope_key,
        scope.employees_min,
        scope.employees_max,
        exists (
            select 1 from {{ ref('int_policy__rule_lists') }} as l
            where l.rule_id = scope.rule_id and l.param = 'industries'
        ) as has_industries,
        exists (
            select 1 from {{ ref('int_policy__rule_lists') }} as l
            where l.rule_id = scope.rule_id and l.param = 'titles'
        ) as has_titles
    from {{ ref('int_policy__rule_scope') }} as scope
    where scope.rule_kind = 'icp'
),

titles as (
    select rule_id, lower(value) as keyword from {{ ref('int_policy__rule_lists') }} where param = 'titles'
),

checked as (
    select
        rules.policy_version,
        rules.rule_id,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.account_id,
        actions.account_version_id,
        actions.account_industry,
        actions.account_employees,
        actions.contact_id,
        actions.contact_title,
        case
            when rules.has_industries and actions.account_industry is not null and industry.value is null
                then 'industry'
            when actions.account_employees < rules.employees_min or actions.account_employees > rules.employees_max
                then 'employees'
            when rules.has_titles and actions.contact_title is not null and not exists (
                select 1 from titles
                where titles.rule_id = rules.rule_id and lower(actions.contact_title) like '%' || titles.keyword || '%'
            ) then 'title'
        end as outside_on
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
    left join {{ ref('int_policy__rule_lists') }} as industry
        on industry.rule_id = rules.rule_id
        and industry.param = 'industries'
        and industry.value = actions.account_industry
)

select
    policy_version,
    rule_id,
    event_id,
    occurred_at,
    case
        when not is_attempted or account_id is null then 'not_applicable'
        when outside_on is not null then 'violation'
        else 'pass'
    end as verdict,
    case when outside_on is null then 'inside the ICP' else 'outside the ICP on ' || outside_on end as reason,
    cast(null as varchar) as incident_kind,
    case when outside_on = 'title' then 'contact' else 'account' end as object_type,
    case when outside_on = 'title' then contact_id else account_id end as object_id,
    outside_on as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('account_id', 'account_id'),
        ('account_version_id', 'account_version_id'),
        ('industry', 'account_industry'),
        ('employees', 'account_employees'),
        ('contact_id', 'contact_id'),
        ('title', 'contact_title'),
    ]) }} as evidence
from checked
