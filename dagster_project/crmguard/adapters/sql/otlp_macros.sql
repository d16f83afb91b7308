-- Decoding helpers for the OTLP/JSON encoding (opentelemetry-proto, JSON Protobuf Encoding).
-- Temporary macros: they live only in the connection that maps a file.

-- AnyValue -> plain JSON value. intValue is a string or a number in the wild (64-bit ints are strings in
-- proto3 JSON); both become a JSON number. Nested arrayValue / kvlistValue are decoded four levels deep;
-- a deeper value is kept as its raw AnyValue JSON (documented in docs/otel.md).
create or replace temp macro otlp_v0(v) as case
    when v is null then null
    when json_exists(v, '$.stringValue') then v -> '$.stringValue'
    when json_exists(v, '$.boolValue') then (lower(v ->> '$.boolValue') = 'true')::JSON
    when json_exists(v, '$.intValue') then try_cast(v ->> '$.intValue' as HUGEINT)::JSON
    when json_exists(v, '$.doubleValue') then try_cast(v ->> '$.doubleValue' as DOUBLE)::JSON
    when json_exists(v, '$.bytesValue') then v -> '$.bytesValue'
    when json_exists(v, '$.arrayValue') or json_exists(v, '$.kvlistValue') then v
    else 'null'::JSON
end;

create or replace temp macro otlp_v1(v) as case
    when json_exists(v, '$.arrayValue') then to_json(list_transform(
        json_extract(v, '$.arrayValue.values[*]'), x -> otlp_v0(x)))
    when json_exists(v, '$.kvlistValue') then to_json(map_from_entries(list_transform(
        json_extract(v, '$.kvlistValue.values[*]'), e -> struct_pack(k := e ->> '$.key', v := otlp_v0(e -> '$.value')))))
    else otlp_v0(v)
end;

create or replace temp macro otlp_v2(v) as case
    when json_exists(v, '$.arrayValue') then to_json(list_transform(
        json_extract(v, '$.arrayValue.values[*]'), x -> otlp_v1(x)))
    when json_exists(v, '$.kvlistValue') then to_json(map_from_entries(list_transform(
        json_extract(v, '$.kvlistValue.values[*]'), e -> struct_pack(k := e ->> '$.key', v := otlp_v1(e -> '$.value')))))
    else otlp_v0(v)
end;

create or replace temp macro otlp_value(v) as case
    when json_exists(v, '$.arrayValue') then to_json(list_transform(
        json_extract(v, '$.arrayValue.values[*]'), x -> otlp_v2(x)))
    when json_exists(v, '$.kvlistValue') then to_json(map_from_entries(list_transform(
        json_extract(v, '$.kvlistValue.values[*]'), e -> struct_pack(k := e ->> '$.key', v := otlp_v2(e -> '$.value')))))
    else otlp_v0(v)
end;

-- Trace and span ids: the OTLP/JSON spec says lowercase hex, generic proto3 JSON encoders write base64.
-- The lengths never collide (16 bytes: 32 hex or 24 base64 chars; 8 bytes: 16 hex or 12 base64 chars).
create or replace temp macro otlp_id_form(raw, nbytes) as case
    when raw is null or raw = '' then null
    when regexp_full_match(raw, '[0-9a-fA-F]+') and length(raw) = 2 * nbytes then 'hex'
    when regexp_full_match(raw, '[A-Za-z0-9+/_-]+={0,2}')
        and octet_length(try(from_base64(translate(raw, '-_', '+/')))) = nbytes then 'base64'
    else 'invalid'
end;

create or replace temp macro otlp_id(raw, nbytes) as case otlp_id_form(raw, nbytes)
    when 'hex' then lower(raw)
    when 'base64' then lower(hex(from_base64(translate(raw, '-_', '+/'))))
end;

-- A 64-bit nanosecond time, as the text of a JSON string or number (exponent form tolerated).
create or replace temp macro otlp_nanos(v) as coalesce(try_cast(v as HUGEINT), try_cast(try_cast(v as DOUBLE) as HUGEINT));

create or replace temp macro otlp_time(v) as
    case when otlp_nanos(v) > 0 then make_timestamp((otlp_nanos(v) // 1000)::BIGINT) end;

-- The form a scalar arrived in, from its json_type: times as string or number, enums as int or name.
create or replace temp macro otlp_type_form(t) as case t
    when 'VARCHAR' then 'string' when 'UBIGINT' then 'int' when 'BIGINT' then 'int' when 'DOUBLE' then 'number'
end;

-- SpanKind / StatusCode: integers or their enum names.
create or replace temp macro otlp_status(code) as case upper(code)
    when '0' then 'unset' when 'STATUS_CODE_UNSET' then 'unset' when 'UNSET' then 'unset'
    when '1' then 'ok' when 'STATUS_CODE_OK' then 'ok' when 'OK' then 'ok'
    when '2' then 'error' when 'STATUS_CODE_ERROR' then 'error' when 'ERROR' then 'error'
end;

create or replace temp macro otlp_kind(kind) as case upper(kind)
    when '0' then 'unspecified' when 'SPAN_KIND_UNSPECIFIED' then 'unspecified'
    when '1' then 'internal' when 'SPAN_KIND_INTERNAL' then 'internal'
    when '2' then 'server' when 'SPAN_KIND_SERVER' then 'server'
    when '3' then 'client' when 'SPAN_KIND_CLIENT' then 'client'
    when '4' then 'producer' when 'SPAN_KIND_PRODUCER' then 'producer'
    when '5' then 'consumer' when 'SPAN_KIND_CONSUMER' then 'consumer'
end;

-- A tool argument / result attribute: a JSON string (parsed when it is JSON) or a structured value.
create or replace temp macro otlp_json_arg(v) as case
    when v is null then null
    when json_type(v) = 'VARCHAR' and json_valid(v ->> '$') then (v ->> '$')::JSON
    else v
end;

-- Attributes as MAP(key -> decoded JSON value): one build per span, then cheap lookups. A repeated
-- key keeps its first value (maps need unique keys; the dedupe only runs on spans that repeat one).
create or replace temp macro otlp_typed_value(v) as case
    when v.stringValue is not null then to_json(v.stringValue)
    when v.boolValue is not null then (lower(v.boolValue) = 'true')::JSON
    when v.intValue is not null then try_cast(v.intValue as HUGEINT)::JSON
    when v.doubleValue is not null then try_cast(v.doubleValue as DOUBLE)::JSON
    when v.bytesValue is not null then to_json(v.bytesValue)
    when v.arrayValue is not null then otlp_value(json_object('arrayValue', v.arrayValue))
    when v.kvlistValue is not null then otlp_value(json_object('kvlistValue', v.kvlistValue))
    else 'null'::JSON
end;
create or replace temp macro otlp_entries(list) as
    coalesce(list_transform(list, a -> struct_pack(k := a.key, v := otlp_typed_value(a.value))), []);
create or replace temp macro otlp_first_entries(entries) as
    list_filter(entries, (e, i) -> list_position(list_transform(entries, x -> x.k), e.k) = i);
create or replace temp macro otlp_attributes(list) as map_from_entries(case
    when len(list_distinct(list_transform(list, a -> a.key))) = len(list) then otlp_entries(list)
    else otlp_first_entries(otlp_entries(list)) end);
create or replace temp macro otlp_attr(attrs, key) as attrs[key];
create or replace temp macro otlp_str(attrs, key) as attrs[key] ->> '$';

-- Unknown native fields carried in crmguard.*.extra join the mapped event. The event is the merge
-- target, so JSON nulls inside its arguments and sections survive (a merge patch deletes null keys).
create or replace temp macro otlp_with_extra(extra, event) as json_merge_patch(event, coalesce(extra, '{}'::JSON));
