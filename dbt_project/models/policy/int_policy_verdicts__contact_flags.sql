-- Rule kind contact_flags: an outbound call to a contact that is opted out, bounced or do-not-contact
-- in the snapshot as of the call, or that sent an unsubscribe / bounce signal before it.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select
        scope.policy_version,
        scope.rule_id,
        scope.scope_key,
        bool_or(lists.param = 'flags' and lists.value = 'email_opt_out') as checks_opt_out,
        bool_or(lists.param = 'flags' and lists.value = 'email_bounced') as checks_bounced,
        bool_or(lists.param = 'flags' and lists.value = 'do_not_contact') as checks_do_not_contact,
        bool_or(lists.param = 'signals' and lists.value = 'unsubscribe') as checks_unsubscribe_signal,
        bool_or(lists.param = 'signals' and lists.value = 'bounce') as checks_bounce_signal
    from {{ ref('int_policy__rule_scope') }} as scope
    inner join {{ ref('int_policy__rule_lists') }} as lists on lists.rule_id = scope.rule_id
    where scope.rule_kind = 'contact_flags'
    group by scope.policy_version, scope.rule_id, scope.scope_key
),

checked as (
    select
        rules.policy_version,
        rules.rule_id,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.contact_id,
        actions.contact_version_id,
        actions.contact_email_opt_out,
        actions.contact_email_bounced,
        actions.contact_do_not_contact,
        actions.unsubscribed_signal_at,
        actions.bounced_signal_at,
        case
            when rules.checks_opt_out and actions.contact_email_opt_out then 'email_opt_out'
            when rules.checks_bounced and actions.contact_email_bounced then 'email_bounced'
            when rules.checks_do_not_contact and actions.contact_do_not_contact then 'do_not_contact'
            when rules.checks_unsubscribe_signal and actions.unsubscribed_signal_at is not null then 'email_opt_out'
            when rules.checks_bounce_signal and actions.bounced_signal_at is not null then 'email_bounced'
        end as tripped_field,
        case
            when rules.checks_opt_out and actions.contact_email_opt_out then 'contact flag email_opt_out'
            when rules.checks_bounced and actions.contact_email_bounced then 'contact flag email_bounced'
            when rules.checks_do_not_contact and actions.contact_do_not_contact then 'contact flag do_not_contact'
            when rules.checks_unsubscribe_signal and actions.unsubscribed_signal_at is not null then 'unsubscribe signal before the call'
            when rules.checks_bounce_signal and actions.bounced_signal_at is not null then 'bounce signal before the call'
        end as tripped_reason
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
)

select
    policy_version,
    rule_id,
    event_id,
    occurred_at,
    case
        when not is_attempted or contact_id is null then 'not_applicable'
        when tripped_field is not null then 'violation'
        else 'pass'
    end as verdict,
    coalesce(tripped_reason, case when contact_id is null then 'no contact' else 'contact reachable' end) as reason,
    cast(null as varchar) as incident_kind,
    'contact' as object_type,
    contact_id as object_id,
    tripped_field as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('contact_id', 'contact_id'),
        ('contact_version_id', 'contact_version_id'),
        ('email_opt_out', 'contact_email_opt_out'),
        ('email_bounced', 'contact_email_bounced'),
        ('do_not_contact', 'contact_do_not_contact'),
        ('unsubscribed_signal_at', 'unsubscribed_signal_at'),
        ('bounced_signal_at', 'bounced_signal_at'),
    ]) }} as evidence
from checked
