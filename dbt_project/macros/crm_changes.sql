{#- Field changes of one CRM object between consecutive snapshots, from its versions: a version after
    a gap or first seen after the first snapshot is a `create` (field NULL), a deletion version a
    `delete` (field NULL), any other version one `update` row per column whose canonical value differs.
    The window is (capture before valid_from, valid_from]. Incremental: only versions newer than the
    latest window_end already stored for this object are compared (with their previous version). -#}
{% macro crm_field_changes(object_name) %}
{%- set obj = crm_objects()[object_name] -%}
{%- set key = obj['key'] -%}
{%- set versions_ref = ref('int_crm_' ~ object_name ~ '_versions') -%}
{%- set new_versions_filter -%}
    {%- if is_incremental() -%}
    valid_from > coalesce((select max(window_end) from {{ this }} where object_type = '{{ obj['object_type'] }}'),
                          cast('1900-01-01' as timestamp))
    {%- else -%} 1 = 1 {%- endif -%}
{%- endset -%}
select * from (
    with

    touched as (
        select distinct {{ key }} from {{ versions_ref }} where {{ new_versions_filter }}
    ),

    paired as (
        select
            versions.*,
            lag(version_id) over by_row as previous_version_id,
            lag(is_deleted) over by_row as previous_is_deleted
        from {{ versions_ref }} as versions
        where {{ key }} in (select {{ key }} from touched)
        window by_row as (partition by {{ key }} order by valid_from)
    ),

    new_versions as (
        select
            paired.*,
            snapshots.previous_captured_at as window_start,
            case
                when paired.is_deleted then 'delete'
                when paired.previous_version_id is null or paired.previous_is_deleted then 'create'
                else 'update'
            end as change_type
        from paired
        inner join {{ ref('stg_raw__crm_snapshots') }} as snapshots on snapshots.captured_at = paired.valid_from
        where {{ new_versions_filter | replace('valid_from', 'paired.valid_from') }}
          {#- a row of the very first snapshot is the starting state, not a change -#}
          and snapshots.previous_captured_at is not null
    ),

    row_changes as (
        select
            {{ key }} as object_id, change_type, cast(null as varchar) as field,
            cast(null as varchar) as old_value, cast(null as varchar) as new_value,
            window_start, valid_from as window_end,
            {{ 'case when is_deleted then null else updated_by end' if obj['has_writer'] else 'cast(null as varchar)' }} as updated_by,
            {{ 'case when is_deleted then null else updated_at end' if obj['has_writer'] else 'cast(null as timestamp)' }} as updated_at
        from new_versions
        where change_type in ('create', 'delete')
    ),

    updates as (
        select
            new_versions.*,
            {% for column, logical in obj['columns'] -%}
            previous.{{ column }} as previous_{{ column }}{% if not loop.last %},{% endif %}
            {% endfor %}
        from new_versions
        inner join {{ versions_ref }} as previous on previous.version_id = new_versions.previous_version_id
        where new_versions.change_type = 'update'
    ),

    field_changes as (
        {% for column, logical in obj['columns'] -%}
        select
            {{ key }} as object_id, change_type, '{{ column }}' as field,
            {{ canonical_value('previous_' ~ column, logical) }} as old_value,
            {{ canonical_value(column, logical) }} as new_value,
            window_start, valid_from as window_end,
            {{ 'updated_by' if obj['has_writer'] else 'cast(null as varchar)' }} as updated_by,
            {{ 'updated_at' if obj['has_writer'] else 'cast(null as timestamp)' }} as updated_at
        from updates
        where {{ canonical_value('previous_' ~ column, logical) }} is distinct from {{ canonical_value(column, logical) }}
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
    )

    select '{{ obj['object_type'] }}' as object_type, * from row_changes
    union all
    select '{{ obj['object_type'] }}' as object_type, * from field_changes
)
{% endmacro %}
