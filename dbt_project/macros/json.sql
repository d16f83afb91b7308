{#- Engine-specific JSON access behind adapter.dispatch (STYLE.md: portable SQL). Paths are JSONPath
    strings like '$.tool.name'. Add a spark__/snowflake__ variant to run on another engine. -#}

{% macro json_str(expr, path) -%}
    {{ return(adapter.dispatch('json_str', 'crmguard')(expr, path)) }}
{%- endmacro %}
{% macro duckdb__json_str(expr, path) -%}
    json_extract_string({{ expr }}, '{{ path }}')
{%- endmacro %}

{% macro json_get(expr, path) -%}
    {{ return(adapter.dispatch('json_get', 'crmguard')(expr, path)) }}
{%- endmacro %}
{% macro duckdb__json_get(expr, path) -%}
    json_extract({{ expr }}, '{{ path }}')
{%- endmacro %}

{#- Select-list fragments that expand one row per element of a JSON array, with its 0-based index
    (DuckDB zips two unnests of equal length). -#}
{% macro json_array_elements(expr) -%}
    {{ return(adapter.dispatch('json_array_elements', 'crmguard')(expr)) }}
{%- endmacro %}
{% macro duckdb__json_array_elements(expr) -%}
    unnest(json_extract({{ expr }}, '$[*]'))
{%- endmacro %}

{% macro json_array_indexes(expr) -%}
    {{ return(adapter.dispatch('json_array_indexes', 'crmguard')(expr)) }}
{%- endmacro %}
{% macro duckdb__json_array_indexes(expr) -%}
    unnest(range(cast(coalesce(json_array_length(json_extract({{ expr }}, '$[*]')), 0) as bigint)))
{%- endmacro %}

{#- A JSON array of strings aggregated from a column, in a stable order. -#}
{% macro json_agg_sorted(expr) -%}
    {{ return(adapter.dispatch('json_agg_sorted', 'crmguard')(expr)) }}
{%- endmacro %}
{% macro duckdb__json_agg_sorted(expr) -%}
    cast(to_json(list_sort(list(distinct {{ expr }}) filter (where {{ expr }} is not null))) as json)
{%- endmacro %}

{#- A JSON object built from key/value pairs: json_object('k', v, ...). -#}
{% macro json_object(pairs) -%}
    {{ return(adapter.dispatch('json_object', 'crmguard')(pairs)) }}
{%- endmacro %}
{% macro duckdb__json_object(pairs) -%}
    json_object({% for k, v in pairs %}'{{ k }}', {{ v }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}

{% macro json_array_length(expr) -%}
    {{ return(adapter.dispatch('json_array_length', 'crmguard')(expr)) }}
{%- endmacro %}
{% macro duckdb__json_array_length(expr) -%}
    coalesce(cast(json_array_length(json_extract({{ expr }}, '$[*]')) as integer), 0)
{%- endmacro %}
