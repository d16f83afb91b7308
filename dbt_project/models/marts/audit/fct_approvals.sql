-- One row per approval: the request and its decision joined, the approver's role as the users
-- snapshot knew it when the decision was made (the event's own claim kept beside it), and the calls
-- that cited it. An approval_id cited or decided without a request still gets a row.
-- Incremental (after a clean whole build, macros/build_watermark.sql): the approvals a new load
-- touches are recomputed whole (macros/approvals.sql); the others cannot change.
{{ config(materialized='incremental', unique_key='approval_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

-- depends_on: {{ ref('stg_raw__crm_snapshots') }}
{%- set touched = touched_approvals() %}

with

{% if touched is not none -%}
touched as (
    {{ touched.sql }}
),

{% endif -%}
requests as (
    select * from (
        select
            approval_approval_id as approval_id,
            approval_call_id as call_id,
            event_id as requested_event_id,
            occurred_at as requested_at,
            actor_id as requester_id,
            on_behalf_of as requester_on_behalf_of,
            approval_reason as reason,
            approval_expires_at,
            row_number() over (partition by approval_approval_id order by occurred_at, event_id) as request_order
        from {{ ref('stg_raw__agent_events') }}
        where event_type = 'approval_requested' and approval_approval_id is not null
          {{- approval_events_filter(touched) }}
    ) as ordered
    where request_order = 1
),

decisions as (
    select * from (
        select
            approval_approval_id as approval_id,
            approval_call_id as call_id,
            event_id as decided_event_id,
            occurred_at as decided_at,
            approval_decision as decision,
            approver_id,
            approver_role as approver_role_claimed,
            approval_expires_at,
            row_number() over (partition by approval_approval_id order by occurred_at, event_id) as decision_order
        from {{ ref('stg_raw__agent_events') }}
        where event_type = 'approval_decided' and approval_approval_id is not null
          {{- approval_events_filter(touched) }}
    ) as ordered
    where decision_order = 1
),

reliance as (
    select approval_id, {{ json_agg_sorted('event_id') }} as relied_on_by
    from {{ ref('fct_agent_actions') }}
    where approval_id is not null
    {%- if touched is not none %}
      and approval_id in (select approval_id from touched)
    {%- endif %}
    group by approval_id
),

approval_ids as (
    select approval_id from requests
    union
    select approval_id from decisions
    union
    select approval_id from reliance
)

select
    approval_ids.approval_id,
    coalesce(requests.call_id, decisions.call_id) as call_id,
    requests.requested_event_id,
    requests.requested_at,
    requests.requester_id,
    requests.requester_on_behalf_of,
    requests.reason,
    decisions.decided_event_id,
    decisions.decided_at,
    decisions.decision,
    decisions.approver_id,
    coalesce(approver.role, decisions.approver_role_claimed) as approver_role,
    decisions.approver_role_claimed,
    coalesce(decisions.approval_expires_at, requests.approval_expires_at) as expires_at,
    reliance.relied_on_by
from approval_ids
left join requests on requests.approval_id = approval_ids.approval_id
left join decisions on decisions.approval_id = approval_ids.approval_id
left join reliance on reliance.approval_id = approval_ids.approval_id
left join {{ ref('scd_crm_users') }} as approver
    on approver.user_id = decisions.approver_id
   and approver.valid_from <= decisions.decided_at
   and (approver.valid_to is null or approver.valid_to > decisions.decided_at)
   and not approver.is_deleted
