{#- fct_approvals, incremental. An approval's row changes only when a load brings one of its events
    or a call citing it, or when a snapshot taken at or before its decision arrives (the approver's
    role is read as of the decision; snapshots arrive in capture order, so a new one only opens
    versions from its own capture on). Any snapshot counts, not only one with user rows: a snapshot
    without users deletes every user from its capture on (the versions follow the snapshot timeline).
    Those approvals are recomputed whole, from every event they have; the rest are left as they are.
    Like every incremental fact, rows built by older SQL stay until `crmguard build --full-refresh`.

    touched_approvals(): none when the model is built whole (first build, --full-refresh, or no
    clean whole build yet), else {sql: the touched approval ids, floor: the earliest load holding an
    event of one already in the model}. The floor is a constant, looked up when the model runs, so the
    raw scan skips the older loads: an approval's events sit in a few consecutive loads, and reading
    the payload of the approval events scattered over the whole history cost ~0.35 s a scan on the
    50k-account world. -#}
{% macro touched_approvals() -%}
    {%- if not execute or not is_incremental() -%}{{ return(none) }}{%- endif -%}
    {%- set through = build_watermark() -%}
    {%- if through is none -%}{{ return(none) }}{%- endif -%}
    {%- set after = sql_literal(through) -%}
    {%- set sql -%}
        select approval_approval_id as approval_id from {{ ref('stg_raw__agent_events') }}
        where event_type in ('approval_requested', 'approval_decided') and approval_approval_id is not null
          and load_id > {{ after }}
        union
        select approval_id from {{ ref('fct_agent_actions') }}
        where approval_id is not null and load_id > {{ after }}
        union
        select approval_id from {{ this }}
        where decided_at >= (select min(captured_at) from {{ ref('stg_raw__crm_snapshots') }} where load_id > {{ after }})
    {%- endset -%}
    {%- set floor_query -%}
        select min(_load_id) from {{ source('raw', 'agent_events') }}
        where event_id in (
            select unnest([requested_event_id, decided_event_id]) from {{ this }} where approval_id in ({{ sql }})
        )
    {%- endset -%}
    {%- set floor = run_query(floor_query).columns[0].values()[0] -%}
    {{ return({'sql': sql, 'floor': floor, 'through': through}) }}
{%- endmacro %}

{#- The approval events to read: every one (built whole), or those of the touched approvals, in the
    loads from the floor on (or after the watermark when no touched approval is in the model yet). -#}
{% macro approval_events_filter(touched) -%}
    {%- if touched is not none %}
          and {% if touched.floor is none %}load_id > {{ sql_literal(touched.through) }}
              {%- else %}load_id >= {{ sql_literal(touched.floor) }}{% endif %}
          and approval_approval_id in (select approval_id from touched)
    {%- endif -%}
{%- endmacro %}
