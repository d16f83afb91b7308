-- One row per observed CRM change between consecutive snapshots: (object, field) updates with old and
-- new canonical values, whole-row creates and deletes (field NULL). Rules: macros/crm_changes.sql.
{{ config(materialized='incremental', unique_key='change_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

with

changes as (
    {% for object_name in crm_objects() -%}
    {{ crm_field_changes(object_name) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select
    {{ dbt.hash(dbt.concat(["object_type", "'|'", "object_id", "'|'", "coalesce(field, '')", "'|'",
                            "change_type", "'|'", "cast(window_end as varchar)"])) }} as change_id,
    object_type,
    object_id,
    field,
    change_type,
    old_value,
    new_value,
    window_start,
    window_end,
    updated_by,
    updated_at
from changes
