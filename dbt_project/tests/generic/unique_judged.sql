{#- dbt's `unique` for fct_policy_verdicts, over the calls this build judges again (macros/policy_judged.sql;
    every call on a full build): the verdicts `policy_verdicts` gives from that time on, as
    fct_policy_violations reads them. A key holds one call (policy_version|rule_id|event_id), so a
    duplicate key is among them whenever a judged call has one.
    Its parents include the staging and mart models the judged window reads, so dbt's eager indirect
    selection picks it for a build of those layers alone: when the selection does not build the
    verdicts, there is nothing of this build to check and it selects no row. -#}
{% test unique_judged(model, column_name) %}
{%- set violations = api.Relation.create(database=model.database, schema=model.schema,
                                         identifier='fct_policy_violations') %}
{%- if not execute %}{% do policy_verdicts() %}{% do policy_judged_window(violations) %}{% endif %}{#- records the refs #}
{%- if execute and ('model.' ~ project_name ~ '.fct_policy_verdicts') not in selected_resources %}
select cast(null as varchar) as unique_field, 0 as n_records where false
{%- else %}
{%- set judged = policy_judged_window(violations) %}
select {{ column_name }} as unique_field, count(*) as n_records
from {% if judged.since is none %}{{ model }}{% else %}({{ policy_verdicts(judged.since) }}){% endif %} as verdicts
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1
{%- endif %}
{% endtest %}
