{#- The build watermark: the latest load (load ids sort by time, docs/raw-layer.md) that a complete
    `dbt build` of the whole project built and tested with every node passing. The load-filtered
    incremental models read the loads after it, and the tests of incremental inputs check the rows of
    those loads against the whole table, so a daily build tests what the day added, not the history.
    on-run-end records a new watermark only when nothing failed, errored or was skipped, and nothing
    was left out by a selection (leaving out the unit tests, as the daily build does, is allowed);
    without one (first build, `--full-refresh`) everything is tested.
    Re-reading a load after a failed build is safe: those models replace rows by key. -#}

{#- Kept out of `main` (the marts) in a bookkeeping schema of its own. -#}
{% macro build_watermark_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='dbt_state', identifier='build_watermark')) }}
{%- endmacro %}

{#- on-run-start: the table exists before any model or test looks it up. -#}
{% macro create_build_watermark() -%}
    create schema if not exists {{ build_watermark_relation().without_identifier() }};
    create table if not exists {{ build_watermark_relation() }} (
        built_through {{ api.Column.translate_type('varchar') }},
        invocation_id {{ api.Column.translate_type('varchar') }},
        recorded_at {{ api.Column.translate_type('timestamp') }}
    )
{%- endmacro %}

{#- on-run-end: advance the watermark to the latest load in the raw layer after a clean, whole build. -#}
{% macro record_build_watermark(results) -%}
    {%- set args = invocation_args_dict -%}
    {%- set selected = (args.get('select') or []) | list -%}
    {#- Leaving out the unit tests still builds and tests every model: they check the SQL, not the data. -#}
    {%- set left_out = (args.get('exclude_resource_types') or []) | list | reject('equalto', 'unit_test') | list -%}
    {%- set whole_project = selected in ([], ['fqn:*']) and not args.get('exclude') and not args.get('selector')
                            and not args.get('resource_types') and not left_out -%}
    {%- set blocking = results | selectattr('status', 'in', ['error', 'fail', 'skipped', 'runtime error']) | list -%}
    {%- if execute and flags.WHICH == 'build' and whole_project and results | length > 0 and blocking | length == 0 -%}
    insert into {{ build_watermark_relation() }}
    select max(load_id), '{{ invocation_id }}', {{ dbt.current_timestamp() }}
    from (
        select max(_load_id) as load_id from {{ api.Relation.create(database=target.database, schema='raw', identifier='agent_events') }}
        union all
        select max(_load_id) from {{ api.Relation.create(database=target.database, schema='raw', identifier='crm_snapshots') }}
    ) as latest
    having max(load_id) > (select coalesce(max(built_through), '') from {{ build_watermark_relation() }})
    {%- else -%}
    select 1 as watermark_unchanged
    {%- endif -%}
{%- endmacro %}

{#- The watermark as a string when this invocation may build and test incrementally, else none
    (at parse time, under --full-refresh, or before the first clean build). -#}
{% macro build_watermark() -%}
    {%- if not execute or flags.FULL_REFRESH -%}{{ return(none) }}{%- endif -%}
    {%- set relation = build_watermark_relation() -%}
    {%- if adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) is none -%}
    {{ return(none) }}
    {%- endif -%}
    {%- set through = run_query('select max(built_through) from ' ~ relation).columns[0].values()[0] -%}
    {{ return(through) }}
{%- endmacro %}

{#- The rows a test checks: those of loads after the watermark (`column` holds the load id), or all. -#}
{% macro new_rows_filter(column) -%}
    {%- set through = build_watermark() -%}
    {%- if through is none -%}1 = 1{%- else -%}{{ column }} > {{ sql_literal(through) }}{%- endif -%}
{%- endmacro %}
