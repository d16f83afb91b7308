-- One row per signal_received event (replies, bounces, unsubscribes...), with the sender's domain
-- so a reply can be checked against the contact's account domain.
{{ config(materialized='incremental', unique_key='event_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

select
    event_id,
    occurred_at,
    agent_id,
    run_id,
    signal_kind,
    signal_contact_id as contact_id,
    signal_from_address as from_address,
    lower({{ dbt.split_part('signal_from_address', "'@'", 2) }}) as from_domain,
    signal_sentiment as sentiment,
    signal_text_excerpt as text_excerpt,
    load_id
from {{ ref('stg_raw__agent_events') }}
where event_type = 'signal_received'
  and {{ from_new_loads() }}
