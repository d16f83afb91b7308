-- Integrity over time: one row per expectation per check run (crmguard check, Dagster checks).
-- A view over the runner's results store, so charts see a run as soon as it is stored. Before the
-- first check run the store does not exist yet: the view is then empty, with the same columns.
{{ config(materialized='view') }}

{%- set results_relation = load_relation(source('quality', 'check_results')) if execute else none %}

{% if results_relation is not none %}
with

results as (
    select * from {{ source('quality', 'check_results') }}
),

runs as (
    select * from {{ source('quality', 'check_runs') }}
)

select
    results.run_id || ':' || results.suite || ':' || results.expectation as check_result_id,
    results.run_id,
    results.suite,
    results.expectation,
    results.expectation_type,
    results.category,
    results.severity,
    results.success,
    results.observed,
    results.unexpected_count,
    results.sample_ids,
    results.checked_at,
    runs.mode,
    runs.rows_checked
from results
left join runs
    on runs.run_id = results.run_id
   and runs.suite = results.suite
{% else %}
select
    cast(null as {{ dbt.type_string() }}) as check_result_id,
    cast(null as {{ dbt.type_string() }}) as run_id,
    cast(null as {{ dbt.type_string() }}) as suite,
    cast(null as {{ dbt.type_string() }}) as expectation,
    cast(null as {{ dbt.type_string() }}) as expectation_type,
    cast(null as {{ dbt.type_string() }}) as category,
    cast(null as {{ dbt.type_string() }}) as severity,
    cast(null as {{ dbt.type_boolean() }}) as success,
    cast(null as json) as observed,
    cast(null as {{ dbt.type_bigint() }}) as unexpected_count,
    cast(null as json) as sample_ids,
    cast(null as {{ dbt.type_timestamp() }}) as checked_at,
    cast(null as {{ dbt.type_string() }}) as mode,
    cast(null as {{ dbt.type_bigint() }}) as rows_checked
where 1 = 0
{% endif %}
