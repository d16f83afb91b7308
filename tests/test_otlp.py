"""OTLP/JSON GenAI traces -> native events: every accepted variant, every reject reason, and the round trip.

Fixtures in tests/fixtures/otlp/ are written from the public specifications: the OTLP JSON encoding
(opentelemetry-proto), the GenAI semantic conventions (invoke_agent / execute_tool spans), the older
gen_ai.system / indexed gen_ai.prompt.N.* attributes, OpenInference and Traceloop span kinds.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmguard.adapters.otlp import is_otlp_file, map_otlp_file
from crmguard.adapters.otlp_export import events_to_traces, export_native_file
from crmguard.errors import BadInput

FIXTURES = Path(__file__).parent / "fixtures" / "otlp"


def _events(path: Path, tool_mapping: Path | None = None) -> list[dict[str, Any]]:
    return [
        json.loads(text) for text in map_otlp_file(path, tool_mapping).events.column("event_json").to_pylist()
    ]


def _by_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event_type"] == event_type]


def test_genai_semconv_document_maps_runs_and_tool_calls() -> None:
    result = map_otlp_file(FIXTURES / "genai_semconv.otlp.json")
    events = [json.loads(t) for t in result.events.column("event_json").to_pylist()]
    assert (result.lines, result.spans, result.context_spans, result.rejects.num_rows) == (1, 4, 1, 0)
    assert [e["event_type"] for e in events] == ["run_started", "run_finished", "tool_call", "tool_call"]
    send, update = _by_type(events, "tool_call")
    assert (
        send["agent_id"] == "outbound-sdr" and send["agent_version"] == "v7" and send["run_id"] == "run-0001"
    )
    assert send["actor"] == {"type": "agent", "id": "u-agent-sdr", "role": "sdr_agent", "on_behalf_of": None}
    assert send["tool"] == {
        "name": "send_email",
        "call_id": "call_Xy12",
        "credential_scope": "crm.contacts.write",
    }
    assert send["target"] == {"object_type": "contact", "object_id": "c-17", "account_id": "a-3"}
    assert send["context"]["model"] == "gpt-4.1"  # inherited from the invoke_agent span
    assert send["occurred_at"] == "2026-01-01T09:00:10.000000Z" and send["step"] == 1
    assert update["outcome"] == {"status": "failed", "error": "timeout", "attempt": 1, "retry_of": None}
    assert update["changes"] == [
        {"object_type": "contact", "object_id": "c-17", "field": "title", "old": None, "new": "VP Sales"}
    ]
    assert send["_otlp"]["forms"]["ids"] == "hex" and send["_otlp"]["forms"]["times"] == "string"
    assert send["_otlp"]["forms"]["arguments"] == "json_string" and send["_otlp"]["forms"]["kind"] == "int"
    assert send["_otlp"]["trace_id"] == "5b8efff798038103d269b633813fc60c"


def test_file_exporter_lines_accept_every_encoding_variant() -> None:
    events = _events(FIXTURES / "file_exporter.otlp.jsonl")
    assign, update = _by_type(events, "tool_call")
    forms = assign["_otlp"]["forms"]
    assert (forms["ids"], forms["times"], forms["kind"], forms["status"], forms["arguments"]) == (
        "base64", "number", "string", "string", "kvlist"
    )  # fmt: skip
    assert assign["_otlp"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert assign["input"] == {
        "object_type": "account", "object_id": "a-41", "owner_id": "u-ae-3", "priority": 2, "notify": True,
        "score": 0.75, "tags": ["emea", 7], "reason": {"rule": "territory", "matched": ["DE"]},
    }  # fmt: skip
    assert assign["outcome"]["status"] == "failed" and assign["outcome"]["error"] == "PermissionDenied"
    assert assign["environment"] == "production"  # deployment.environment = "prod"
    assert assign["run_id"] == "route-77"
    # line 2 uses proto field names, and its parent span is on line 1
    assert update["_otlp"]["forms"]["field_names"] == "snake_case" and update["_otlp"]["line"] == 2
    assert update["agent_id"] == "lead-router" and update["step"] == 5
    assert update["changes"][0]["old"] == "banking"
    approval = _by_type(events, "approval_requested")[0]
    assert approval["event_id"] == "appr-req-1" and approval["approval"] == {
        "approval_id": "ap-9",
        "reason": "industry change",
    }
    assert approval["occurred_at"] == "2026-01-01T10:00:02.050000Z"
    finished = _by_type(events, "run_finished")[0]
    assert finished["step"] == 6 and finished["occurred_at"] == "2026-01-01T10:01:00.500000Z"


def test_openinference_traceloop_and_legacy_attributes() -> None:
    result = map_otlp_file(FIXTURES / "openinference_legacy.otlp.json")
    events = [json.loads(t) for t in result.events.column("event_json").to_pylist()]
    discount, email, note = _by_type(events, "tool_call")
    assert discount["agent_id"] == "deal-desk" and discount["run_id"] == "sess-42"
    assert discount["environment"] == "sandbox" and discount["context"]["model"] == "claude-sonnet-4"
    assert discount["changes"][0]["field"] == "discount_pct" and discount["changes"][0]["new"] == 12
    assert discount["_otlp"]["forms"]["convention"] == "openinference"
    assert email["_otlp"]["forms"]["convention"] == "gen_ai_legacy" and email["input"]["contact_id"] == "c-3"
    assert email["agent_id"] == "legacy-bot" and email["_otlp"]["forms"]["agent_id"] == "service.name"
    assert email["context"]["model"] == "gpt-4o" and email["agent_version"] == "0.9"
    assert note["tool"]["name"] == "write_note" and note["_otlp"]["forms"]["convention"] == "traceloop"
    assert result.context_spans == 1  # the openai.chat span: a model call, not an action


def test_unmappable_spans_and_lines_are_rejected_with_reasons() -> None:
    result = map_otlp_file(FIXTURES / "rejects.otlp.jsonl")
    reasons = result.rejects.column("reason").to_pylist()
    expected = [
        "tool arguments are not a JSON object",
        "deployment environment moon-base is neither production nor sandbox",
        "neither 16/8-byte hex nor base64",
        "startTimeUnixNano is missing",
        "execute_tool span has no gen_ai.tool.name",
        "no agent identity",
        "not valid JSON",
        "no resourceSpans array",
    ]
    for fragment in expected:
        assert sum(fragment in reason for reason in reasons) == 1, (fragment, reasons)
    assert len(reasons) == len(expected)
    assert result.rejects.column("line").to_pylist().count(1) == 6
    # every span is accounted for: mapped, rejected, or context (the plain HTTP span)
    assert result.spans == 8 and result.context_spans == 1
    assert {json.loads(e)["event_type"] for e in result.events.column("event_json").to_pylist()} == {
        "run_started", "run_finished"
    }  # fmt: skip


def _normalise(event: dict[str, Any]) -> dict[str, Any]:
    """The fields a fact reads, with the defaults the mapping fills in, and times as UTC instants.

    An absent envelope field and a null one mean the same; inside arguments and sections nulls must
    survive as they are.
    """
    envelope = ("actor", "tool", "target", "context", "outcome")
    event = {k: v for k, v in event.items() if k != "_otlp" and v is not None}
    for key in envelope:
        if isinstance(event.get(key), dict):
            event[key] = {k: v for k, v in event[key].items() if v is not None}
    event["occurred_at"] = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).astimezone(UTC)
    if event["event_type"] == "tool_call":
        event.setdefault("changes", [])
        event.setdefault("dry_run", False)
        event["context"].setdefault("retrieved", [])
        event["outcome"].setdefault("attempt", 1)
    return event


def test_native_events_survive_the_round_trip_through_otlp(tmp_path: Path) -> None:
    native_path = FIXTURES / "native_world.jsonl"
    native = [json.loads(line) for line in native_path.read_text().splitlines() if line.strip()]
    otlp_path = tmp_path / "world.otlp.jsonl"
    assert export_native_file(native_path, otlp_path) == 2
    mapped = map_otlp_file(otlp_path)
    assert mapped.rejects.num_rows == 0
    back = {
        e["event_id"]: _normalise(e)
        for e in (json.loads(t) for t in mapped.events.column("event_json").to_pylist())
    }
    assert set(back) == {e["event_id"] for e in native}
    for event in native:
        assert back[event["event_id"]] == _normalise(event), event["event_id"]


def test_gzip_and_content_detection(tmp_path: Path) -> None:
    gz = tmp_path / "traces.json.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "file_exporter.otlp.jsonl").read_bytes()))
    plain = tmp_path / "export.json"
    shutil.copy(FIXTURES / "genai_semconv.otlp.json", plain)
    native = tmp_path / "actions.jsonl"
    native.write_text(json.dumps({"event_id": "e1", "resource": "x"}) + "\n")
    assert is_otlp_file(gz) and is_otlp_file(plain) and is_otlp_file(FIXTURES / "rejects.otlp.jsonl")
    assert not is_otlp_file(native)
    assert len(_events(gz)) == 5


def test_a_custom_tool_mapping_decides_target_and_changes(tmp_path: Path) -> None:
    mapping = tmp_path / "tools.yml"
    mapping.write_text(
        "version: 1\n"
        "tools:\n"
        "  send_email:\n"
        "    target: {object_type: ['=contact'], object_id: [args.subject], account_id: ['=acct-x']}\n"
        "    changes_from_args: {object_type: contact, fields: [subject]}\n"
    )
    send = _by_type(_events(FIXTURES / "genai_semconv.otlp.json", mapping), "tool_call")[0]
    assert send["target"] == {"object_type": "contact", "object_id": "Quick question", "account_id": "acct-x"}
    assert send["changes"] == [
        {
            "object_type": "contact",
            "object_id": "Quick question",
            "field": "subject",
            "old": None,
            "new": "Quick question",
        }
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nbogus: {}\n", "unknown key 'bogus'"),
        (
            "tools:\n  send_email:\n    target: {object_id: [argz.contact_id]}\n",
            "tools.send_email.target.object_id[0]",
        ),
        ("tools:\n  send_email:\n    changes_from_args: {fields: ['a b']}\n", "is not a plain field name"),
        ("tools: [\n", "cannot read tool mapping"),
    ],
)
def test_bad_tool_mapping_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    mapping = tmp_path / "tools.yml"
    mapping.write_text(text)
    with pytest.raises(BadInput, match=re.escape(message)) as info:
        map_otlp_file(FIXTURES / "genai_semconv.otlp.json", mapping)
    assert str(mapping) in str(info.value) and "\n" not in str(info.value)


def test_exporter_groups_one_trace_per_run() -> None:
    native = [json.loads(line) for line in (FIXTURES / "native_world.jsonl").read_text().splitlines()]
    traces = list(events_to_traces(native))
    spans = [s for t in traces for s in t["resourceSpans"][0]["scopeSpans"][0]["spans"]]
    assert len(traces) == 2 and len(spans) == 2 + 4
    assert {s["traceId"] for s in spans} == {
        t["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] for t in traces
    }
