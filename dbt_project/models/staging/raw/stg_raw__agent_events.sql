-- One row per agent event (every type), every field of the contract extracted from the payload and
-- cast. Consumers select the columns they need; unused JSON paths are never evaluated.
with

source as (
    select * from {{ source('raw', 'agent_events') }}
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
        {{ json_str('payload', '$.tool.name') }} as tool_name,
        {{ json_str('payload', '$.tool.call_id') }} as call_id,
        {{ json_str('payload', '$.tool.credential_scope') }} as credential_scope,
        {{ json_str('payload', '$.target.object_type') }} as target_object_type,
        {{ json_str('payload', '$.target.object_id') }} as target_object_id,
        {{ json_str('payload', '$.target.account_id') }} as target_account_id,
        {{ json_str('payload', '$.input.contact_id') }} as input_contact_id,
        {{ json_get('payload', '$.input') }} as input,
        {{ json_get('payload', '$.changes') }} as changes,
        {{ json_str('payload', '$.context.model') }} as model,
        {{ json_str('payload', '$.context.prompt_sha256') }} as prompt_sha256,
        {{ json_get('payload', '$.context.retrieved') }} as retrieved_ids,
        {{ json_str('payload', '$.context.triggered_by_event_id') }} as triggered_by_event_id,
        {{ json_str('payload', '$.outcome.status') }} as status,
        {{ json_str('payload', '$.outcome.error') }} as error,
        {{ dbt.safe_cast(json_str('payload', '$.outcome.attempt'), api.Column.translate_type('integer')) }} as attempt,
        {{ json_str('payload', '$.outcome.retry_of') }} as retry_of,
        coalesce({{ dbt.safe_cast(json_str('payload', '$.dry_run'), api.Column.translate_type('boolean')) }}, false) as dry_run,
        {{ json_str('payload', '$.approval_id') }} as approval_id,
        -- approvals
        {{ json_str('payload', '$.approval.approval_id') }} as approval_approval_id,
        {{ json_str('payload', '$.approval.call_id') }} as approval_call_id,
        {{ json_str('payload', '$.approval.reason') }} as approval_reason,
        {{ json_str('payload', '$.approval.decision') }} as approval_decision,
        {{ json_str('payload', '$.approval.approver.id') }} as approver_id,
        {{ json_str('payload', '$.approval.approver.role') }} as approver_role,
        {{ to_utc_timestamp(json_str('payload', '$.approval.expires_at')) }} as approval_expires_at,
        -- signals
        {{ json_str('payload', '$.signal.kind') }} as signal_kind,
        {{ json_str('payload', '$.signal.contact_id') }} as signal_contact_id,
        {{ json_str('payload', '$.signal.from_address') }} as signal_from_address,
        {{ json_str('payload', '$.signal.sentiment') }} as signal_sentiment,
        {{ json_str('payload', '$.signal.text_excerpt') }} as signal_text_excerpt,
        -- stop / resume
        coalesce({{ json_str('payload', '$.stop.rule_id') }}, {{ json_str('payload', '$.resume.rule_id') }}) as stop_rule_id,
        coalesce({{ json_str('payload', '$.stop.scope') }}, {{ json_str('payload', '$.resume.scope') }}) as stop_scope,
        coalesce({{ json_str('payload', '$.stop.reason') }}, {{ json_str('payload', '$.resume.reason') }}) as stop_reason,
        -- lineage
        cast(payload as {{ api.Column.translate_type('json') }}) as payload,
        cast(_source_format as varchar) as source_format,
        cast(_load_id as varchar) as load_id,
        cast(_file as varchar) as source_file,
        cast(_line as bigint) as source_line
    from source
)

select * from renamed
