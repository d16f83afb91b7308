-- Rule kind signal_verification: a call triggered (context.triggered_by_event_id) by an inbound signal
-- of the listed kinds whose sender domain is not the domain (or a subdomain) of the account of the
-- signal's contact, both as of the call. Calls not triggered by such a signal are not applicable.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select policy_version, rule_id, scope_key
    from {{ ref('int_policy__rule_scope') }}
    where rule_kind = 'signal_verification'
),

applicable as (
    select
        rules.policy_version,
        rules.rule_id,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.account_id as action_account_id,
        actions.account_domain as action_account_domain,
        signals.event_id as signal_event_id,
        signals.signal_kind,
        signals.contact_id as signal_contact_id,
        lower(signals.from_domain) as from_domain
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
    left join {{ ref('fct_signals') }} as signals on signals.event_id = actions.triggered_by_event_id
    left join {{ ref('int_policy__rule_lists') }} as kinds
        on kinds.rule_id = rules.rule_id and kinds.param = 'signal_kinds' and kinds.value = signals.signal_kind
    where signals.event_id is null or kinds.value is not null
),

with_domain as (
    select
        applicable.*,
        coalesce(accounts.account_id, applicable.action_account_id) as account_id,
        lower(coalesce(accounts.domain, applicable.action_account_domain)) as account_domain
    from applicable
    left join {{ ref('scd_crm_contacts') }} as contacts
        on contacts.contact_id = applicable.signal_contact_id
        and contacts.valid_from <= applicable.occurred_at
        and coalesce(contacts.valid_to, cast('9999-12-31' as timestamp)) > applicable.occurred_at
        and not contacts.is_deleted
    left join {{ ref('scd_crm_accounts') }} as accounts
        on accounts.account_id = contacts.account_id
        and accounts.valid_from <= applicable.occurred_at
        and coalesce(accounts.valid_to, cast('9999-12-31' as timestamp)) > applicable.occurred_at
        and not accounts.is_deleted
),

classified as (
    select
        *,
        case
            when not is_attempted or signal_event_id is null or from_domain is null or account_domain is null then null
            else from_domain = account_domain or from_domain like '%.' || account_domain
        end as domain_matches
    from with_domain
)

select
    policy_version,
    rule_id,
    event_id,
    occurred_at,
    case when domain_matches is null then 'not_applicable' when domain_matches then 'pass' else 'violation' end as verdict,
    case when domain_matches is null then 'not triggered by a verifiable signal'
         else 'sender domain ' || from_domain || ' vs account domain ' || account_domain end as reason,
    cast(null as varchar) as incident_kind,
    'account' as object_type,
    account_id as object_id,
    case when not domain_matches then 'domain' end as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('signal_event_id', 'signal_event_id'),
        ('signal_kind', 'signal_kind'),
        ('contact_id', 'signal_contact_id'),
        ('from_domain', 'from_domain'),
        ('account_id', 'account_id'),
        ('account_domain', 'account_domain'),
    ]) }} as evidence
from classified
