-- One row per agent event (every type), every field of the contract extracted from the payload and
-- cast. Consumers select the columns they need; a consumer of no payload field parses no JSON.
{%- set string_paths = [
    '$.tool.name',
    '$.tool.call_id',
    '$.tool.credential_scope',
    '$.target.object_type',
    '$.target.object_id',
    '$.target.account_id',
    '$.input.contact_id',
    '$.context.model',
    '$.context.prompt_sha256',
    '$.context.triggered_by_event_id',
    '$.outcome.status',
    '$.outcome.error',
    '$.outcome.attempt',
    '$.outcome.retry_of',
    '$.dry_run',
    '$.approval_id',
    '$.approval.approval_id',
    '$.approval.call_id',
    '$.approval.reason',
    '$.approval.decision',
    '$.approval.approver.id',
    '$.approval.approver.role',
    '$.approval.expires_at',
    '$.signal.kind',
    '$.signal.contact_id',
    '$.signal.from_address',
    '$.signal.sentiment',
    '$.signal.text_excerpt',
    '$.stop.rule_id',
    '$.resume.rule_id',
    '$.stop.scope',
    '$.resume.scope',
    '$.stop.reason',
    '$.resume.reason',
] %}
{%- set json_paths = ['$.input', '$.changes', '$.context.retrieved'] %}

with

-- the payload is parsed once per row for all its fields (macros/json.sql: json_fields)
source as (
    select
        *,
        {{ json_fields('payload', string_paths) }} as payload_strings,
        {{ json_fields('payload', json_paths, as_json=true) }} as payload_json
    from {{ source('raw', 'agent_events') }}
),

renamed as (
    select
        -- ids
        cast(event_id as varchar) as event_id,
        cast(event_type as varchar) as event_type,
        cast(schema_version as varchar) as schema_version,
        cast(agent_id as varchar) as agent_id,
        cast(agent_version as varchar) as agent_version,
        cast(run_id as varchar) as run_id,
        cast(step as integer) as step,
        cast(environment as varchar) as environment,
        -- actor
        cast(actor_type as varchar) as actor_type,
        cast(actor_id as varchar) as actor_id,
        cast(actor_role as varchar) as actor_role,
        cast(actor_on_behalf_of as varchar) as on_behalf_of,
        -- timestamps
        {{ to_utc_timestamp('occurred_at') }} as occurred_at,
        -- tool call
        {{ json_field('payload_strings', string_paths, '$.tool.name') }} as tool_name,
        {{ json_field('payload_strings', string_paths, '$.tool.call_id') }} as call_id,
        {{ json_field('payload_strings', string_paths, '$.tool.credential_scope') }} as credential_scope,
        {{ json_field('payload_strings', string_paths, '$.target.object_type') }} as target_object_type,
        {{ json_field('payload_strings', string_paths, '$.target.object_id') }} as target_object_id,
        {{ json_field('payload_strings', string_paths, '$.target.account_id') }} as target_account_id,
        {{ json_field('payload_strings', string_paths, '$.input.contact_id') }} as input_contact_id,
        {{ json_field('payload_json', json_paths, '$.input', as_json=true) }} as input,
        {{ json_field('payload_json', json_paths, '$.changes', as_json=true) }} as changes,
        {{ json_field('payload_strings', string_paths, '$.context.model') }} as model,
        {{ json_field('payload_strings', string_paths, '$.context.prompt_sha256') }} as prompt_sha256,
        {{ json_field('payload_json', json_paths, '$.context.retrieved', as_json=true) }} as retrieved_ids,
        {{ json_field('payload_strings', string_paths, '$.context.triggered_by_event_id') }} as triggered_by_event_id,
        {{ json_field('payload_strings', string_paths, '$.outcome.status') }} as status,
        {{ json_field('payload_strings', string_paths, '$.outcome.error') }} as error,
        {{ dbt.safe_cast(json_field('payload_strings', string_paths, '$.outcome.attempt'), api.Column.translate_type('integer')) }} as attempt,
        {{ json_field('payload_strings', string_paths, '$.outcome.retry_of') }} as retry_of,
        coalesce({{ dbt.safe_cast(json_field('payload_strings', string_paths, '$.dry_run'), api.Column.translate_type('boolean')) }}, false) as dry_run,
        {{ json_field('payload_strings', string_paths, '$.approval_id') }} as approval_id,
        -- approvals
        {{ json_field('payload_strings', string_paths, '$.approval.approval_id') }} as approval_approval_id,
        {{ json_field('payload_strings', string_paths, '$.approval.call_id') }} as approval_call_id,
        {{ json_field('payload_strings', string_paths, '$.approval.reason') }} as approval_reason,
        {{ json_field('payload_strings', string_paths, '$.approval.decision') }} as approval_decision,
        {{ json_field('payload_strings', string_paths, '$.approval.approver.id') }} as approver_id,
        {{ json_field('payload_strings', string_paths, '$.approval.approver.role') }} as approver_role,
        {{ to_utc_timestamp(json_field('payload_strings', string_paths, '$.approval.expires_at')) }} as approval_expires_at,
        -- signals
        {{ json_field('payload_strings', string_paths, '$.signal.kind') }} as signal_kind,
        {{ json_field('payload_strings', string_paths, '$.signal.contact_id') }} as signal_contact_id,
        {{ json_field('payload_strings', string_paths, '$.signal.from_address') }} as signal_from_address,
        {{ json_field('payload_strings', string_paths, '$.signal.sentiment') }} as signal_sentiment,
        {{ json_field('payload_strings', string_paths, '$.signal.text_excerpt') }} as signal_text_excerpt,
        -- stop / resume
        coalesce({{ json_field('payload_strings', string_paths, '$.stop.rule_id') }}, {{ json_field('payload_strings', string_paths, '$.resume.rule_id') }}) as stop_rule_id,
        coalesce({{ json_field('payload_strings', string_paths, '$.stop.scope') }}, {{ json_field('payload_strings', string_paths, '$.resume.scope') }}) as stop_scope,
        coalesce({{ json_field('payload_strings', string_paths, '$.stop.reason') }}, {{ json_field('payload_strings', string_paths, '$.resume.reason') }}) as stop_reason,
        -- lineage
        cast(payload as {{ api.Column.translate_type('json') }}) as payload,
        cast(_source_format as varchar) as source_format,
        cast(_load_id as varchar) as load_id,
        cast(_file as varchar) as source_file,
        cast(_line as bigint) as source_line
    from source
)

select * from renamed
