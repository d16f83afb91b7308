{#- Everything dbt builds lives in `main` (schema `raw` belongs to ingest): no <target>_<custom> prefixes. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name or target.schema }}
{%- endmacro %}
