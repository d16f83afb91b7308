-- Rule kind negative_reply_stop: a contact-level stop. A `reply` signal with sentiment `negative` whose
-- text_excerpt contains one of the rule's stop words (case-insensitive, whole words; a phrase matches
-- across any whitespace) stops the agent that received it (scope agent) or every agent of its team
-- (scope team) from calling the rule's tools on that contact from then on: every such call strictly
-- after the first tripping reply is a violation. Resumes and halts do not lift it (the contact asked).
-- Only calls with a contact are judged; blocked/skipped calls are not_applicable.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select distinct policy_version, rule_id, scope_key, coalesce(scope, 'agent') as stop_scope
    from {{ ref('int_policy__rule_scope') }}
    where rule_kind = 'negative_reply_stop'
),

stop_words as (
    select
        rule_id,
        value as stop_word,
        -- the loader allows only letters, digits, spaces, ' and -: nothing here needs escaping
        '\b' || replace(regexp_replace(lower(trim(value)), ' +', ' ', 'g'), ' ', '\s+') || '\b' as pattern
    from {{ ref('int_policy__rule_lists') }}
    where param = 'stop_words'
),

negative_replies as (
    select signals.event_id, signals.occurred_at, signals.agent_id, signals.contact_id, signals.text_excerpt,
           agents.team
    from {{ ref('fct_signals') }} as signals
    left join {{ ref('dim_agents') }} as agents on agents.agent_id = signals.agent_id
    where signals.signal_kind = 'reply'
      and signals.sentiment = 'negative'
      and signals.contact_id is not null
      and signals.text_excerpt is not null
),

-- the first tripping reply per rule, contact and stopped party (agent:ID or team:NAME; an agent
-- without a team is stopped alone)
trips as (
    select
        rules.rule_id,
        replies.contact_id,
        case when rules.stop_scope = 'team' and replies.team is not null
             then 'team:' || replies.team else 'agent:' || replies.agent_id end as stopped,
        min(replies.occurred_at) as stopped_at,
        arg_min(replies.event_id, replies.occurred_at) as stop_event_id,
        arg_min(stop_words.stop_word, replies.occurred_at) as stop_word
    from (select distinct rule_id, stop_scope from rules) as rules
    inner join stop_words on stop_words.rule_id = rules.rule_id
    inner join negative_replies as replies on regexp_matches(replies.text_excerpt, stop_words.pattern, 'i')
    group by 1, 2, 3
),

checked as (
    select
        rules.policy_version,
        rules.rule_id,
        rules.stop_scope,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.contact_id,
        actions.agent_id,
        trips.stopped,
        trips.stopped_at,
        trips.stop_event_id,
        trips.stop_word
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
    left join trips
        on trips.rule_id = rules.rule_id
        and trips.contact_id = actions.contact_id
        and trips.stopped = case when rules.stop_scope = 'team' and actions.agent_team is not null
                                 then 'team:' || actions.agent_team else 'agent:' || actions.agent_id end
        and trips.stopped_at < actions.occurred_at
)

select
    policy_version,
    rule_id,
    event_id,
    occurred_at,
    case
        when not is_attempted or contact_id is null then 'not_applicable'
        when stopped_at is not null then 'violation'
        else 'pass'
    end as verdict,
    case
        when contact_id is null then 'no contact'
        when stopped_at is not null then 'negative reply with stop word ''' || stop_word || ''' before the call'
        else 'no negative reply with a stop word from this contact'
    end as reason,
    cast(null as varchar) as incident_kind,
    'contact' as object_type,
    contact_id as object_id,
    cast(null as varchar) as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('contact_id', 'contact_id'),
        ('stopped', 'stopped'),
        ('stopped_at', 'stopped_at'),
        ('stop_event_id', 'stop_event_id'),
        ('stop_word', 'stop_word'),
    ]) }} as evidence
from checked
