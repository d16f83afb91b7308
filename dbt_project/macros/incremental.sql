{#- Incremental filter on the ingest load: rows of loads not yet in this model. Loads are immutable
    (ingest stores an event once), so a rebuild on unchanged inputs reads nothing new. -#}
{% macro from_new_loads(load_column='load_id') -%}
    {%- if is_incremental() -%}
    {{ load_column }} not in (select distinct load_id from {{ this }})
    {%- else -%}
    1 = 1
    {%- endif -%}
{%- endmacro %}
