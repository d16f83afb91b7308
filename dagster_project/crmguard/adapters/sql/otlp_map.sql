-- OTLP/JSON TracesData lines -> native action events (CONTRACTS.md section 1) + rejects, in bulk.
-- Input: temp table otlp_input(line BIGINT, text VARCHAR). Output: temp tables otlp_events
-- (line, seq, event_id, event_json) and otlp_rejects (line, reason, raw_text), plus otlp_context
-- (spans that are model calls or plumbing: no action, counted). {{placeholders}} are filled from the
-- tool mapping (adapters/tool_mapping.py).

-- 1. Lines. Proto3 JSON parsers accept the original snake_case field names too: normalise them (only
--    on lines that use them), and remember that the line came in that form. The pattern needs an
--    unescaped quote before the name and a colon after it, so text inside JSON-string attribute values
--    is left alone.
create or replace temp table otlp_lines as
with normalised as (
    select line, text,
           case when contains(text, '"resource_spans"') or contains(text, '_value"')
                then {{SNAKE_TO_CAMEL}} else text end as doc_text
    from otlp_input where trim(text) <> ''
)
select line, text, doc_text <> text as snake_case,
       case when json_valid(doc_text) then doc_text::JSON end as doc
from normalised;

create or replace temp table otlp_rejects as
select line, 'not valid JSON' as reason, text as raw_text from otlp_lines where doc is null
union all
select line, 'not an OTLP TracesData object: no resourceSpans array', text
from otlp_lines where doc is not null and json_type(doc, '$.resourceSpans') is distinct from 'ARRAY';

-- 2. One row per span, with its resource and scope, parsed once into typed structs (from_json is
--    lenient: a field of another shape becomes NULL and is judged below). instrumentationLibrarySpans
--    is the pre-1.0 name of scopeSpans.
create or replace temp table otlp_spans as
with docs as (
    select line, snake_case, from_json(doc, '{{TRACES_STRUCTURE}}').resourceSpans as resource_spans
    from otlp_lines where json_type(doc, '$.resourceSpans') = 'ARRAY'
), resource_spans as (   -- unnest + generate_subscripts in the select list: a projection, no lateral join
    select line, snake_case, unnest(resource_spans) as rs, generate_subscripts(resource_spans, 1) as rs_i
    from docs
), scope_lists as (
    select line, snake_case, rs_i, rs.resource.attributes as resource_attributes,
           rs.instrumentationLibrarySpans is not null as legacy_scope,
           coalesce(rs.scopeSpans, []) || coalesce(rs.instrumentationLibrarySpans, []) as scopes
    from resource_spans
), scope_spans as (
    select line, snake_case, rs_i, resource_attributes, legacy_scope,
           unnest(scopes) as ss, generate_subscripts(scopes, 1) as ss_i
    from scope_lists
), spans as (
    select line, snake_case, rs_i, ss_i, resource_attributes, legacy_scope,
           coalesce(ss.scope.name, ss.instrumentationLibrary.name) as scope_name,
           unnest(ss.spans) as span, generate_subscripts(ss.spans, 1) as sp_i
    from scope_spans
)
select row_number() over (order by line, rs_i, ss_i, sp_i) as span_seq,
       line, rs_i, snake_case, legacy_scope, resource_attributes, scope_name, span,
       from_json(span, '{{SPAN_STRUCTURE}}') as f,
       json_type(span, ['$.startTimeUnixNano', '$.kind', '$.status.code']) as types
from spans;

-- 4. Decoded span fields, the operation it stands for, and the attributes children inherit.
create or replace temp table otlp_nodes as
with decoded as (
    select s.span_seq, s.line, s.snake_case, s.legacy_scope, s.scope_name, s.f.events as events,
           otlp_attributes(s.f.attributes) as attrs, otlp_attributes(s.resource_attributes) as resource_attrs,
           otlp_id(s.f.traceId, 16) as trace_id,
           otlp_id(s.f.spanId, 8) as span_id,
           otlp_id(s.f.parentSpanId, 8) as parent_span_id,
           [otlp_id_form(s.f.traceId, 16), otlp_id_form(s.f.spanId, 8), otlp_id_form(s.f.parentSpanId, 8)] as id_forms,
           otlp_time(s.f.startTimeUnixNano) as start_ts,
           otlp_time(s.f.endTimeUnixNano) as end_ts,
           case when s.types[1] = 'VARCHAR' then 'string' when s.types[1] is not null then 'number' end as time_form,
           otlp_kind(s.f.kind) as kind, otlp_type_form(s.types[2]) as kind_form,
           otlp_status(s.f.status.code) as status, otlp_type_form(s.types[3]) as status_form,
           s.f.status.message as status_message,
           s.f.name as span_name
    from otlp_spans s
), classified as (
    select *,
           case
               when otlp_str(attrs, 'gen_ai.operation.name') is not null then 'gen_ai'
               when otlp_str(attrs, 'openinference.span.kind') is not null then 'openinference'
               when otlp_str(attrs, 'traceloop.span.kind') is not null then 'traceloop'
               when otlp_str(attrs, 'gen_ai.system') is not null
                    or otlp_str(attrs, 'gen_ai.prompt.0.content') is not null then 'gen_ai_legacy'
           end as convention,
           coalesce(
               otlp_str(attrs, 'gen_ai.operation.name'),
               case upper(otlp_str(attrs, 'openinference.span.kind'))
                   when 'AGENT' then 'invoke_agent' when 'TOOL' then 'execute_tool'
                   when 'LLM' then 'chat' when 'CHAIN' then 'chain'
                   else lower(otlp_str(attrs, 'openinference.span.kind'))
               end,
               case lower(otlp_str(attrs, 'traceloop.span.kind'))
                   when 'tool' then 'execute_tool' when 'agent' then 'invoke_agent'
                   else lower(otlp_str(attrs, 'traceloop.span.kind'))
               end,
               case when otlp_str(attrs, 'gen_ai.tool.name') is not null then 'execute_tool' end,
               case when otlp_str(attrs, 'gen_ai.system') is not null
                         or otlp_str(attrs, 'gen_ai.prompt.0.content') is not null then 'chat' end
           ) as operation
    from decoded
)
select *,
       coalesce(otlp_str(attrs, 'gen_ai.agent.id'), otlp_str(attrs, 'agent.id')) as own_agent_id,
       coalesce(otlp_str(attrs, 'gen_ai.agent.name'), otlp_str(attrs, 'agent.name')) as own_agent_name,
       otlp_str(attrs, 'gen_ai.agent.version') as own_agent_version,
       coalesce(otlp_str(attrs, 'gen_ai.conversation.id'), otlp_str(attrs, 'session.id')) as own_conversation_id,
       otlp_str(attrs, 'crmguard.run_id') as own_run_id,
       case when operation = 'invoke_agent' then trace_id || '-' || span_id end as own_run_span,
       coalesce(otlp_str(attrs, 'gen_ai.request.model'), otlp_str(attrs, 'gen_ai.response.model'),
                otlp_str(attrs, 'llm.model_name')) as own_model,
       coalesce(otlp_str(attrs, 'enduser.id'), otlp_str(attrs, 'user.id')) as own_actor_id,
       otlp_str(attrs, 'enduser.role') as own_actor_role,
       otlp_str(attrs, 'crmguard.actor.type') as own_actor_type,
       otlp_str(attrs, 'crmguard.actor.on_behalf_of') as own_on_behalf_of,
       otlp_str(attrs, 'enduser.scope') as own_credential_scope,
       coalesce(otlp_str(attrs, 'deployment.environment.name'), otlp_str(attrs, 'deployment.environment'),
                otlp_str(resource_attrs, 'deployment.environment.name'), otlp_str(resource_attrs, 'deployment.environment'))
           as own_environment,
       otlp_str(attrs, 'crmguard.prompt_sha256') as own_prompt_sha256
from classified;

-- 5. Inherit agent identity, run and actor down the span tree (nearest ancestor wins). A span whose
--    parent is not in this file is a root. Depth is capped so a malformed parent cycle terminates.
create or replace temp table otlp_tree as
with recursive nodes as (
    select distinct on (trace_id, span_id) * from otlp_nodes
    where trace_id is not null and span_id is not null
    order by trace_id, span_id, span_seq
), tree as (
    select n.trace_id, n.span_id, 0 as depth,
           n.own_agent_id as agent_id, n.own_agent_name as agent_name, n.own_agent_version as agent_version,
           n.own_conversation_id as conversation_id, n.own_run_id as run_id, n.own_run_span as run_span,
           n.own_model as model, n.own_actor_id as actor_id, n.own_actor_role as actor_role,
           n.own_actor_type as actor_type, n.own_on_behalf_of as on_behalf_of,
           n.own_credential_scope as credential_scope, n.own_environment as environment,
           n.own_prompt_sha256 as prompt_sha256
    from nodes n
    where n.parent_span_id is null
       or not exists (select 1 from nodes p where p.trace_id = n.trace_id and p.span_id = n.parent_span_id)
    union all
    select c.trace_id, c.span_id, t.depth + 1,
           coalesce(c.own_agent_id, t.agent_id), coalesce(c.own_agent_name, t.agent_name),
           coalesce(c.own_agent_version, t.agent_version), coalesce(c.own_conversation_id, t.conversation_id),
           coalesce(c.own_run_id, t.run_id), coalesce(c.own_run_span, t.run_span), coalesce(c.own_model, t.model),
           -- the actor travels as a whole: a span naming its own enduser.id does not inherit role or principal
           coalesce(c.own_actor_id, t.actor_id),
           case when c.own_actor_id is not null then c.own_actor_role else t.actor_role end,
           case when c.own_actor_id is not null then c.own_actor_type else t.actor_type end,
           case when c.own_actor_id is not null then c.own_on_behalf_of else t.on_behalf_of end,
           coalesce(c.own_credential_scope, t.credential_scope), coalesce(c.own_environment, t.environment),
           coalesce(c.own_prompt_sha256, t.prompt_sha256)
    from tree t join nodes c on c.trace_id = t.trace_id and c.parent_span_id = t.span_id
    where t.depth < 256
)
select * from tree;

-- 6. Everything an event needs, resolved; `problem` is the reject reason when the span cannot be mapped.
create or replace temp table otlp_resolved as
with joined as (
    select n.*, t.depth is not null as in_tree,
           coalesce(t.agent_id, t.agent_name, otlp_str(n.resource_attrs, 'service.name')) as agent_id,
           case when t.agent_id is not null then 'gen_ai.agent.id'
                when t.agent_name is not null then 'gen_ai.agent.name'
                when otlp_str(n.resource_attrs, 'service.name') is not null then 'service.name' end as agent_id_from,
           coalesce(t.agent_version, otlp_str(n.resource_attrs, 'service.version'), 'unknown') as agent_version,
           case when t.agent_version is not null then 'gen_ai.agent.version'
                when otlp_str(n.resource_attrs, 'service.version') is not null then 'service.version'
                else 'default' end as agent_version_from,
           coalesce(t.conversation_id, t.run_id, t.run_span, n.trace_id) as run_id,
           case when t.conversation_id is not null then 'gen_ai.conversation.id'
                when t.run_id is not null then 'crmguard.run_id'
                when t.run_span is not null then 'invoke_agent span'
                else 'trace' end as run_id_from,
           t.model, t.actor_role, t.actor_type, t.on_behalf_of, t.credential_scope, t.prompt_sha256,
           t.actor_id as actor_id_attr,
           t.environment as environment_raw,
           coalesce(otlp_str(n.attrs, 'gen_ai.tool.name'), otlp_str(n.attrs, 'tool.name'),
                    case when n.convention = 'traceloop' then otlp_str(n.attrs, 'traceloop.entity.name') end) as tool_name,
           coalesce(otlp_attr(n.attrs, 'gen_ai.tool.call.arguments'), otlp_attr(n.attrs, 'input.value'),
                    otlp_attr(n.attrs, 'traceloop.entity.input'), otlp_attr(n.attrs, 'gen_ai.prompt.0.content')) as args_attr,
           coalesce(otlp_attr(n.attrs, 'gen_ai.tool.call.result'), otlp_attr(n.attrs, 'output.value'),
                    otlp_attr(n.attrs, 'traceloop.entity.output'), otlp_attr(n.attrs, 'gen_ai.completion.0.content')) as result_attr
    from otlp_nodes n
    left join otlp_tree t on t.trace_id = n.trace_id and t.span_id = n.span_id
), typed as (
    select *,
           otlp_json_arg(args_attr) as args, otlp_json_arg(result_attr) as result,
           case when args_attr is null then 'absent'
                when json_type(args_attr) = 'VARCHAR' then 'json_string'
                when json_type(args_attr) = 'OBJECT' then 'kvlist'
                else lower(json_type(args_attr)) end as args_form,
           case when environment_raw is null then 'production' else case lower(environment_raw)
               when 'production' then 'production' when 'prod' then 'production'
               when 'sandbox' then 'sandbox' when 'staging' then 'sandbox' when 'dev' then 'sandbox'
               when 'development' then 'sandbox' when 'test' then 'sandbox'
           end end as environment,
           len(list_filter(list_transform(coalesce(events, []), e -> e.name),
                           n -> replace(n, 'crmguard.', '') in ({{GOVERNANCE_EVENTS}}))) > 0
               or coalesce(operation in ('execute_tool', 'invoke_agent'), false) as carries_action
    from joined
)
select *,
       case
           when 'invalid' in id_forms then 'traceId/spanId/parentSpanId is neither 16/8-byte hex nor base64'
           when trace_id is null or span_id is null then 'span has no traceId or spanId'
           when start_ts is null then 'startTimeUnixNano is missing or not a positive integer'
           when not in_tree then 'parent span cycle: the span never reaches a root'
           when operation = 'execute_tool' and tool_name is null
               then 'execute_tool span has no gen_ai.tool.name (or tool.name)'
           when operation = 'execute_tool' and json_type(args) is distinct from 'OBJECT' and args is not null
               then 'tool arguments are not a JSON object (' || args_form || ')'
           when not carries_action then null
           when agent_id is null
               then 'no agent identity: no gen_ai.agent.id/name on the span or its ancestors in this file and no service.name'
           when environment is null and environment_raw is not null
               then 'deployment environment ' || environment_raw || ' is neither production nor sandbox'
       end as problem,
       to_json(struct_pack(
           ids := case when list_contains(id_forms, 'base64') and list_contains(id_forms, 'hex') then 'mixed'
                       when list_contains(id_forms, 'base64') then 'base64' else 'hex' end,
           times := time_form, kind := kind_form, status := status_form, arguments := args_form,
           field_names := case when snake_case then 'snake_case' else 'camelCase' end,
           scope := case when legacy_scope then 'instrumentationLibrarySpans' else 'scopeSpans' end,
           convention := convention, operation := operation,
           agent_id := agent_id_from, agent_version := agent_version_from, run_id := run_id_from,
           environment := case when environment_raw is null then 'default' else environment_raw end
       )) as forms
from typed;

-- 7. A span that carries an action (agent run, tool call, governance span event) and cannot be mapped is
--    rejected with its reason. Other spans (model calls, HTTP, plumbing) are context: they feed
--    inheritance and are counted, not loaded.
insert into otlp_rejects
select r.line, 'span ' || coalesce(r.span_name, '?') || ' (' || coalesce(r.span_id, s.f.spanId, '?') || '): ' || r.problem,
       s.span::VARCHAR
from otlp_resolved r join otlp_spans s using (span_seq)
where r.problem is not null;

create or replace temp table otlp_context as
select span_seq, line, operation from otlp_resolved
where problem is null and not carries_action;

-- 8. Events. Common envelope: _otlp records where the event came from and in which forms.
create or replace temp table otlp_mappable as
select r.*,
       json_object('trace_id', trace_id, 'span_id', span_id, 'parent_span_id', parent_span_id,
                   'span_name', span_name, 'scope', scope_name, 'line', line, 'forms', forms) as otlp_meta,
       coalesce(actor_id_attr, agent_id) as actor_id,
       coalesce(actor_type, 'agent') as actor_type_final
from otlp_resolved r
where problem is null;

create or replace temp table otlp_tool_calls as
select m.*,
       coalesce(try_cast(otlp_str(attrs, 'crmguard.step') as INTEGER),
                row_number() over (partition by run_id order by start_ts, span_seq)::INTEGER) as step,
       coalesce(otlp_str(attrs, 'crmguard.event_id'), 'otlp-' || trace_id || '-' || span_id) as event_id
from otlp_mappable m
where operation = 'execute_tool';

create or replace temp table otlp_events as
select line, span_seq, 1 as seq, event_id, otlp_with_extra(otlp_json_arg(otlp_attr(attrs, 'crmguard.event.extra')), json_object(
    'schema_version', '1', 'event_id', event_id, 'event_type', 'tool_call',
    'occurred_at', strftime(start_ts, '%Y-%m-%dT%H:%M:%S.%fZ'),
    'agent_id', agent_id, 'agent_version', agent_version, 'run_id', run_id, 'step', step,
    'environment', environment,
    'actor', json_object('type', actor_type_final, 'id', actor_id, 'role', actor_role, 'on_behalf_of', on_behalf_of),
    'tool', json_object('name', tool_name,
                        'call_id', coalesce(otlp_str(attrs, 'gen_ai.tool.call.id'), otlp_str(attrs, 'tool_call.id'), span_id),
                        'credential_scope', credential_scope),
    'target', json_object('object_type', {{TARGET_OBJECT_TYPE}}, 'object_id', {{TARGET_OBJECT_ID}},
                          'account_id', {{TARGET_ACCOUNT_ID}}),
    'input', coalesce(args, '{}'::JSON),
    'changes', coalesce({{CHANGES}}, '[]'::JSON),
    'context', json_object('model', model, 'prompt_sha256', prompt_sha256,
                           'retrieved', coalesce(otlp_json_arg(otlp_attr(attrs, 'crmguard.retrieved')), '[]'::JSON),
                           'triggered_by_event_id', otlp_str(attrs, 'crmguard.triggered_by_event_id')),
    'outcome', json_object(
        'status', coalesce(otlp_str(attrs, 'crmguard.outcome.status'), case when status = 'error' then 'failed' else 'succeeded' end),
        'error', coalesce(otlp_str(attrs, 'error.type'), case when status = 'error' then status_message end),
        'attempt', coalesce(try_cast(otlp_str(attrs, 'crmguard.outcome.attempt') as INTEGER), 1),
        'retry_of', otlp_str(attrs, 'crmguard.outcome.retry_of')),
    'dry_run', coalesce(try_cast(otlp_str(attrs, 'crmguard.dry_run') as BOOLEAN), false),
    'approval_id', otlp_str(attrs, 'crmguard.approval_id'),
    '_otlp', otlp_meta)) as event_json
from otlp_tool_calls;

-- invoke_agent spans: run_started at the start, run_finished at the end (unless told to omit either).
insert into otlp_events
with runs as (
    select m.*, coalesce(c.last_step, 0) as last_step
    from otlp_mappable m
    left join (select run_id, max(step) as last_step from otlp_tool_calls group by run_id) c using (run_id)
    where operation = 'invoke_agent'
), run_events as (
    select runs.*, e.kind as run_event, e.seq
    from runs, (values ('started', 0), ('finished', 2)) as e(kind, seq)
    where coalesce(try_cast(otlp_str(attrs, 'crmguard.run_' || e.kind || '.omit') as BOOLEAN), false) = false
      and (e.kind = 'started' or end_ts is not null)
)
select line, span_seq, seq,
       coalesce(otlp_str(attrs, 'crmguard.run_' || run_event || '.event_id'),
                'otlp-' || trace_id || '-' || span_id || '-' || run_event) as event_id,
       otlp_with_extra(otlp_json_arg(otlp_attr(attrs, 'crmguard.run_' || run_event || '.extra')), json_object(
    'schema_version', '1',
    'event_id', coalesce(otlp_str(attrs, 'crmguard.run_' || run_event || '.event_id'),
                         'otlp-' || trace_id || '-' || span_id || '-' || run_event),
    'event_type', 'run_' || run_event,
    'occurred_at', strftime(case when run_event = 'started' then start_ts else end_ts end, '%Y-%m-%dT%H:%M:%S.%fZ'),
    'agent_id', agent_id, 'agent_version', agent_version, 'run_id', run_id,
    'step', coalesce(try_cast(otlp_str(attrs, 'crmguard.run_' || run_event || '.step') as INTEGER),
                     case when run_event = 'started' then 0 else last_step + 1 end),
    'environment', environment,
    'actor', json_object('type', actor_type_final, 'id', actor_id, 'role', actor_role, 'on_behalf_of', on_behalf_of),
    'outcome', case when run_event = 'finished' then json_object(
        'status', coalesce(otlp_str(attrs, 'crmguard.outcome.status'), case when status = 'error' then 'failed' else 'succeeded' end),
        'error', coalesce(otlp_str(attrs, 'error.type'), case when status = 'error' then status_message end)) end,
    '_otlp', otlp_meta)) as event_json
from run_events;

-- Span events named after a governance event type (approvals, signals, stops) become that event,
-- inheriting agent, run and actor from their span; their own attributes override. Other span events
-- (exception, gen_ai.content.*) are part of the span and not actions.
insert into otlp_events
with span_events as (
    select m.*, e.ev, e.ev_i,
           replace(e.ev.name, 'crmguard.', '') as event_type,
           case when replace(e.ev.name, 'crmguard.', '') like 'approval_%' then 'approval'
                when replace(e.ev.name, 'crmguard.', '') = 'signal_received' then 'signal'
                else replace(e.ev.name, 'crmguard.', '') end as section,
           otlp_attributes(e.ev.attributes) as ev_attrs,
           coalesce(otlp_time(e.ev.timeUnixNano), m.start_ts) as ev_ts
    from otlp_mappable m, unnest(m.events) with ordinality as e(ev, ev_i)
)
select line, span_seq, 10 + ev_i as seq,
       coalesce(otlp_str(ev_attrs, 'crmguard.event_id'), 'otlp-' || trace_id || '-' || span_id || '-e' || ev_i) as event_id,
       otlp_with_extra(otlp_json_arg(otlp_attr(ev_attrs, 'crmguard.event.extra')), json_object(
    'schema_version', '1',
    'event_id', coalesce(otlp_str(ev_attrs, 'crmguard.event_id'), 'otlp-' || trace_id || '-' || span_id || '-e' || ev_i),
    'event_type', event_type,
    'occurred_at', strftime(ev_ts, '%Y-%m-%dT%H:%M:%S.%fZ'),
    'agent_id', agent_id, 'agent_version', agent_version, 'run_id', run_id,
    'step', coalesce(try_cast(otlp_str(ev_attrs, 'crmguard.step') as INTEGER), 0),
    'environment', environment,
    'actor', case when otlp_str(ev_attrs, 'enduser.id') is null
        then json_object('type', actor_type_final, 'id', actor_id, 'role', actor_role, 'on_behalf_of', on_behalf_of)
        else json_object('type', coalesce(otlp_str(ev_attrs, 'crmguard.actor.type'), 'agent'),
                         'id', otlp_str(ev_attrs, 'enduser.id'), 'role', otlp_str(ev_attrs, 'enduser.role'),
                         'on_behalf_of', otlp_str(ev_attrs, 'crmguard.actor.on_behalf_of')) end,
    section, otlp_json_arg(otlp_attr(ev_attrs, 'crmguard.' || section)),
    '_otlp', json_merge_patch(otlp_meta, json_object('span_event', ev_i)))) as event_json
from span_events
where event_type in ({{GOVERNANCE_EVENTS}});
