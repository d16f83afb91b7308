-- Every tool call with the CRM state as it was at occurred_at: the contact, its account and the target
-- deal, each the version with valid_from <= occurred_at < valid_to, plus the unsubscribe / bounce
-- signals received before the call (docs/incidents.md, "state at action time") and the agent's team.
-- Computed once so every rule model reads the same point-in-time state: the rules share this scan.
{{ config(materialized='table', schema=var('crmguard_policy_output_schema', none)) }}

with

actions as (
    select
        event_id, occurred_at, agent_id, run_id, environment, actor_id, actor_role, on_behalf_of, tool_name,
        call_id, target_object_type, target_object_id, target_account_id, contact_id, status, dry_run,
        approval_id, triggered_by_event_id
    from {{ ref('fct_agent_actions') }}
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
    with_contact.tool_name || '|' || coalesce(with_contact.actor_role, '') as scope_key
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
