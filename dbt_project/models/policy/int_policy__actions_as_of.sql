-- Every tool call with the CRM state as it was at occurred_at: the contact, its account and the target
-- deal, each the version with valid_from <= occurred_at < valid_to, plus the unsubscribe / bounce
-- signals received before the call (docs/incidents.md, "state at action time") and the agent's team.
-- Computed once so every rule model reads the same point-in-time state: the rules share this scan.
-- Incremental: a call's state changes only when a new load brings an event at or before it (the call
-- itself, a late signal) or a new snapshot starts a version at or before it; calls from the earliest
-- such time on are recomputed, plus calls not yet here and calls whose agent changed team (the team is
-- the current one). `loads_through` records the latest load (ids sort by time) the row has seen.
{{ config(materialized='incremental', unique_key='event_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns', schema=var('crmguard_policy_output_schema', none)) }}

{#- a table built before `loads_through` existed is recomputed whole (delete+insert of every call) -#}
{%- set incremental = is_incremental() and 'loads_through' in (
        adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list) %}

with

{% if incremental -%}
built as (
    select coalesce(max(loads_through), '') as loads_through from {{ this }}
),

new_inputs_at as (
    select occurred_at as input_at from {{ ref('stg_raw__agent_events') }}
    where load_id > (select loads_through from built)
    union all
    select captured_at as input_at from {{ ref('stg_raw__crm_snapshots') }}
    where load_id > (select loads_through from built)
),

to_compute as (
    select event_id from {{ ref('fct_agent_actions') }}
    where occurred_at >= (select min(input_at) from new_inputs_at)
    union
    select event_id from {{ ref('fct_agent_actions') }}
    where event_id not in (select event_id from {{ this }})
    union
    select computed.event_id
    from {{ this }} as computed
    left join {{ ref('dim_agents') }} as agents on agents.agent_id = computed.agent_id
    where computed.agent_team is distinct from agents.team
),
{%- endif %}

loads as (
    select max(load_id) as loads_through from {{ ref('stg_raw__agent_events') }}
    union all
    select max(load_id) from {{ ref('stg_raw__crm_snapshots') }}
),

actions as (
    select
        event_id, occurred_at, agent_id, run_id, environment, actor_id, actor_role, on_behalf_of, tool_name,
        call_id, target_object_type, target_object_id, target_account_id, contact_id, status, dry_run,
        approval_id, triggered_by_event_id
    from {{ ref('fct_agent_actions') }}
    {%- if incremental %}
    where event_id in (select event_id from to_compute)
    {%- endif %}
),

-- valid_until instead of `valid_to is null or ...`: plain comparisons keep these joins hash joins
contacts as (
    select *, coalesce(valid_to, cast('9999-12-31' as timestamp)) as valid_until
    from {{ ref('scd_crm_contacts') }} where not is_deleted
),

accounts as (
    select *, coalesce(valid_to, cast('9999-12-31' as timestamp)) as valid_until
    from {{ ref('scd_crm_accounts') }} where not is_deleted
),

deals as (
    select *, coalesce(valid_to, cast('9999-12-31' as timestamp)) as valid_until
    from {{ ref('scd_crm_deals') }} where not is_deleted
),


contact_signals as (
    select
        contact_id,
        min(case when signal_kind = 'unsubscribe' then occurred_at end) as first_unsubscribe_at,
        min(case when signal_kind = 'bounce' then occurred_at end) as first_bounce_at
    from {{ ref('fct_signals') }}
    where signal_kind in ('unsubscribe', 'bounce') and contact_id is not null
    group by contact_id
),

with_contact as (
    select
        actions.*,
        contacts.version_id as contact_version_id,
        contacts.valid_from as contact_valid_from,
        contacts.account_id as contact_account_id,
        contacts.title as contact_title,
        contacts.email_opt_out as contact_email_opt_out,
        contacts.email_bounced as contact_email_bounced,
        contacts.do_not_contact as contact_do_not_contact
    from actions
    left join contacts
        on contacts.contact_id = actions.contact_id
        and contacts.valid_from <= actions.occurred_at
        and contacts.valid_until > actions.occurred_at
)

select
    with_contact.*,
    coalesce(with_contact.target_account_id, with_contact.contact_account_id) as account_id,
    with_contact.status not in ('blocked', 'skipped') as is_attempted,
    case when contact_signals.first_unsubscribe_at < with_contact.occurred_at
         then contact_signals.first_unsubscribe_at end as unsubscribed_signal_at,
    case when contact_signals.first_bounce_at < with_contact.occurred_at
         then contact_signals.first_bounce_at end as bounced_signal_at,
    accounts.version_id as account_version_id,
    accounts.valid_from as account_valid_from,
    accounts.domain as account_domain,
    accounts.industry as account_industry,
    accounts.employees as account_employees,
    accounts.lifecycle as account_lifecycle,
    accounts.legal_hold as account_legal_hold,
    accounts.security_incident_open as account_security_incident_open,
    deals.version_id as deal_version_id,
    deals.pipeline as deal_pipeline,
    deals.stage as deal_stage,
    agents.team as agent_team,
    with_contact.tool_name || '|' || coalesce(with_contact.actor_role, '') as scope_key,
    (select max(loads_through) from loads) as loads_through
from with_contact
left join contact_signals on contact_signals.contact_id = with_contact.contact_id
left join accounts
    on accounts.account_id = coalesce(with_contact.target_account_id, with_contact.contact_account_id)
    and accounts.valid_from <= with_contact.occurred_at
    and accounts.valid_until > with_contact.occurred_at
left join deals
    on deals.deal_id = case when with_contact.target_object_type = 'deal' then with_contact.target_object_id end
    and deals.valid_from <= with_contact.occurred_at
    and deals.valid_until > with_contact.occurred_at
left join {{ ref('dim_agents') }} as agents on agents.agent_id = with_contact.agent_id
