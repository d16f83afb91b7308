{#- Versions of one CRM object, computed from EVERY ingested snapshot by captured_at (several snapshots
    may arrive in one load, so a dbt snapshot of the latest state alone cannot rebuild history).
    A version starts in the first snapshot that shows a row as it is: the row is new, it came back
    after a gap, or one of its columns differs from the previous snapshot. A row missing from the next
    snapshot gets a deletion version (is_deleted, last known values) at that snapshot.
    Incremental: only snapshots from the last one holding a version onwards are read; that base
    snapshot is a full export, so it holds the previous state of every live row. -#}
{% macro crm_versions(object_name) %}
{%- set obj = crm_objects()[object_name] -%}
{%- set key = obj['key'] -%}
{%- set columns = obj['columns'] | map(attribute=0) | list + (['updated_at', 'updated_by'] if obj['has_writer'] else []) -%}
with

watermark as (
    {% if is_incremental() -%}
    select max(valid_from) as base_captured_at from {{ this }}
    {%- else -%}
    select cast(null as timestamp) as base_captured_at
    {%- endif %}
),

snapshots as (
    select
        snapshot_id,
        captured_at,
        row_number() over (order by captured_at) as snapshot_seq
    from {{ ref('stg_raw__crm_snapshots') }}
    where captured_at >= coalesce((select base_captured_at from watermark), captured_at)
),

snapshot_rows as (
    select
        rows.*,
        snapshots.snapshot_seq,
        {{ row_fingerprint(columns) }} as row_hash
    from {{ ref('stg_raw__crm_' ~ object_name) }} as rows
    inner join snapshots on rows.snapshot_id = snapshots.snapshot_id
    where rows.captured_at >= coalesce((select base_captured_at from watermark), rows.captured_at)
),

compared as (
    select
        *,
        lag(snapshot_seq) over by_row as previous_seq,
        lag(row_hash) over by_row as previous_hash,
        lead(snapshot_seq) over by_row as next_seq
    from snapshot_rows
    window by_row as (partition by {{ key }} order by snapshot_seq)
),

appeared as (
    select {{ key }}, captured_at as valid_from, false as is_deleted, {{ columns | join(', ') }}, row_hash
    from compared
    where previous_seq is null or previous_seq < snapshot_seq - 1 or previous_hash <> row_hash
),

disappeared as (
    select
        compared.{{ key }},
        following.captured_at as valid_from,
        true as is_deleted,
        {% for column in columns %}compared.{{ column }}, {% endfor %}
        compared.row_hash
    from compared
    inner join snapshots as following on following.snapshot_seq = compared.snapshot_seq + 1
    where compared.next_seq is null or compared.next_seq > compared.snapshot_seq + 1
),

versions as (
    select * from appeared
    union all
    select * from disappeared
)

select
    {{ dbt.hash(dbt.concat([key, "'|'", dbt.safe_cast('valid_from', api.Column.translate_type('varchar'))])) }} as version_id,
    *
from versions
where valid_from > coalesce((select base_captured_at from watermark), cast('1900-01-01' as timestamp))
{% endmacro %}

{#- A hash of a row's values that tells NULL from the empty string. -#}
{% macro row_fingerprint(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ api.Column.translate_type('varchar') ~ "), '<null>')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{#- State of a CRM object as of a time: `select * from {{ crm_as_of('deals', "timestamp '2026-01-05'") }}`.
    The version valid at T is the one with valid_from <= T < valid_to; deleted rows are left out. -#}
{% macro crm_as_of(object_name, at) -%}
    (
        select * from {{ ref('scd_crm_' ~ object_name) }}
        where valid_from <= {{ at }}
          and (valid_to is null or valid_to > {{ at }})
          and not is_deleted
    )
{%- endmacro %}

{#- SCD2 view over the versions: valid_to is the start of the next version (NULL while current). -#}
{% macro crm_scd(object_name) -%}
{%- set key = crm_objects()[object_name]['key'] -%}
select
    version_id,
    {{ key }},
    {%- for column, logical in crm_objects()[object_name]['columns'] %}
    {{ column }},
    {%- endfor %}
    {%- if crm_objects()[object_name]['has_writer'] %}
    updated_at,
    updated_by,
    {%- endif %}
    valid_from,
    lead(valid_from) over (partition by {{ key }} order by valid_from) as valid_to,
    is_deleted
from {{ ref('int_crm_' ~ object_name ~ '_versions') }}
{%- endmacro %}

{#- Current state of a CRM object: the rows of the latest snapshot, typed. -#}
{% macro crm_current(object_name) -%}
{%- set obj = crm_objects()[object_name] -%}
select
    {{ obj['key'] }},
    {%- for column, logical in obj['columns'] %}
    {{ column }},
    {%- endfor %}
    {%- if obj['has_writer'] %}
    updated_at,
    updated_by,
    {%- endif %}
    valid_from as captured_at
from {{ ref('scd_crm_' ~ object_name) }}
where valid_to is null and not is_deleted
{%- endmacro %}

{#- The rows of the latest snapshot, canonical columns only (lineage would make every build a change).
    Picked by snapshot id: DuckDB pushes that equality into the raw scan, while the parsed capture
    time (a cast of the raw column) made it read every snapshot ever ingested. -#}
{% macro crm_latest(object_name) -%}
{%- set obj = crm_objects()[object_name] -%}
select
    {{ obj['key'] }},
    {%- for column, logical in obj['columns'] %}
    {{ column }}{% if obj['has_writer'] or not loop.last %},{% endif %}
    {%- endfor %}
    {%- if obj['has_writer'] %}
    updated_at,
    updated_by
    {%- endif %}
from {{ ref('stg_raw__crm_' ~ object_name) }}
where snapshot_id = (
    select snapshot_id from {{ ref('stg_raw__crm_snapshots') }}
    order by captured_at desc, snapshot_id desc
    limit 1
)
{%- endmacro %}
