{#- Incremental filter on the ingest load: rows of loads after the build watermark (macros/build_watermark.sql),
    or, before the first clean whole build, rows of loads not yet in this model. Loads are immutable
    (ingest stores an event once), so a rebuild on unchanged inputs reads nothing new.
    Both are constants when the model runs: DuckDB then filters the raw scan on `_load_id` (a range
    on ids that sort by time skips whole row groups) before any JSON is extracted, whereas an anti-join
    against the model ran after the staging projection and parsed the payload of every event. -#}
{% macro from_new_loads(load_column='load_id') -%}
    {%- if is_incremental() -%}
    {%- set through = build_watermark() -%}
    {%- set loads = new_load_ids(this) if through is none else [] -%}
    {%- if through is not none -%}
    {{ load_column }} > {{ sql_literal(through) }}
    {%- elif loads | length == 0 -%}
    1 = 0
    {%- else -%}
    {{ load_column }} in ({% for load in loads %}{{ sql_literal(load) }}{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endif -%}
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}

{#- Action-log loads whose rows `model` does not hold yet (a load with no row for the model comes
    back every run: it then selects nothing). Empty at parse time. -#}
{% macro new_load_ids(model) -%}
    {%- set events = ref('stg_raw__agent_events') -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set query -%}
        select distinct load_id from {{ events }}
        where load_id is not null
          and load_id not in (select load_id from {{ model }} where load_id is not null)
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}

{#- A string as a SQL literal. -#}
{% macro sql_literal(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}

{#- The rows of every run touched by a new load (fct_agent_actions, fct_agent_runs recompute those runs
    whole): a constant floor on the load id, the earliest load holding an event of such a run, so DuckDB
    skips the older loads in the raw scan. The semi-join on the touched runs alone ran after the
    staging projection, which extracted the JSON of every historical event (fct_agent_runs 2.0 s of
    its 2.1 s on the 50k world). A late event of an old run only lowers the floor. -#}
{% macro from_loads_of_touched_runs(load_column='load_id') -%}
    {%- if not is_incremental() or not execute -%}
    1 = 1
    {%- else -%}
    {%- set events = ref('stg_raw__agent_events') -%}
    {%- set query -%}
        select min(load_id) from {{ events }}
        where run_id in (select run_id from {{ events }} where run_id is not null and {{ from_new_loads() }})
    {%- endset -%}
    {%- set floor = run_query(query).columns[0].values()[0] -%}
    {%- if floor is none -%}
    1 = 0
    {%- else -%}
    {{ load_column }} >= {{ sql_literal(floor) }}
    {%- endif -%}
    {%- endif -%}
{%- endmacro %}
