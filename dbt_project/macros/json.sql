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

{#- Many fields of one JSON document, parsed once: `json_fields` extracts `paths` (a list of JSONPath
    strings) into one value per row, `json_field` reads one of them back. One json_extract_string per
    field parsed the payload again for each (the staging view has ~35 fields: 1M calls took 22 s against
    5.5 s parsed once). The default keeps the document and extracts per field: an engine without a
    many-paths extract still runs the models. -#}
{% macro json_fields(expr, paths, as_json=false) -%}
    {{ return(adapter.dispatch('json_fields', 'crmguard')(expr, paths, as_json)) }}
{%- endmacro %}
{% macro default__json_fields(expr, paths, as_json) -%}
    {{ expr }}
{%- endmacro %}
{% macro duckdb__json_fields(expr, paths, as_json) -%}
    {{ 'json_extract' if as_json else 'json_extract_string' }}({{ expr }}, [{% for path in paths %}'{{ path }}'{% if not loop.last %}, {% endif %}{% endfor %}])
{%- endmacro %}

{% macro json_field(fields, paths, path, as_json=false) -%}
    {{ return(adapter.dispatch('json_field', 'crmguard')(fields, paths, path, as_json)) }}
{%- endmacro %}
{% macro default__json_field(fields, paths, path, as_json) -%}
    {{ json_get(fields, path) if as_json else json_str(fields, path) }}
{%- endmacro %}
{% macro duckdb__json_field(fields, paths, path, as_json) -%}
    {{ fields }}[{{ paths.index(path) + 1 }}]
{%- endmacro %}
