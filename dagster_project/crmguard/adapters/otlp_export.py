"""Native action events -> OTLP/JSON GenAI traces (the inverse of otlp.py).

Why: to prove that a traced agent lands in the warehouse exactly like a native one, the same world
must exist in both forms; and to give teams a reference of the spans crmguard expects. One trace per
run: an `invoke_agent` span (run_started / run_finished), an `execute_tool` child per tool call, and
the run's approvals, signals and stops as span events. Fields with a GenAI / general semantic
convention use it; the rest travel as `crmguard.*` attributes (docs/otel.md). This is an export
utility on a cold path (tests, fixtures, `crmguard`-free agents), so it is plain Python.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ENVELOPE = {"schema_version", "event_id", "event_type", "occurred_at", "agent_id", "agent_version", "run_id",
             "step", "environment", "actor"}  # fmt: skip
_TOOL_FIELDS = _ENVELOPE | {
    "tool",
    "target",
    "input",
    "changes",
    "context",
    "outcome",
    "dry_run",
    "approval_id",
}
_SECTIONS = {"approval_requested": "approval", "approval_decided": "approval", "signal_received": "signal",
             "stop": "stop", "resume": "resume"}  # fmt: skip


def _nanos(occurred_at: str) -> str:
    """RFC 3339 -> Unix nanoseconds as a string (64-bit ints are strings in OTLP/JSON)."""
    moment = datetime.fromisoformat(occurred_at.replace("Z", "+00:00")).astimezone(UTC)
    seconds = int(moment.replace(microsecond=0).timestamp())
    return str(seconds * 1_000_000_000 + moment.microsecond * 1000)


def _hex_id(text: str, nbytes: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[: 2 * nbytes]


def _value(value: Any) -> dict[str, Any]:
    """A Python value as an OTLP AnyValue; objects and lists travel as JSON strings."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    return {"stringValue": json.dumps(value)}


def _attributes(pairs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in pairs.items() if value is not None]


def _actor_attributes(actor: dict[str, Any] | None) -> dict[str, Any]:
    actor = actor or {}
    return {"enduser.id": actor.get("id"), "enduser.role": actor.get("role"),
            "crmguard.actor.type": actor.get("type"), "crmguard.actor.on_behalf_of": actor.get("on_behalf_of")}  # fmt: skip


def _extra(event: dict[str, Any], known: set[str]) -> str | None:
    extra = {key: value for key, value in event.items() if key not in known}
    return json.dumps(extra, sort_keys=True) if extra else None


def _tool_span(event: dict[str, Any], trace_id: str, parent_id: str) -> dict[str, Any]:
    tool, outcome, context = event.get("tool") or {}, event.get("outcome") or {}, event.get("context") or {}
    result = {"target": event.get("target") or {}, "changes": event.get("changes") or []}
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool.get("name"),
        "gen_ai.tool.call.id": tool.get("call_id"),
        "gen_ai.tool.call.arguments": json.dumps(event.get("input") or {}),
        "gen_ai.tool.call.result": json.dumps(result),
        "gen_ai.request.model": context.get("model"),
        "gen_ai.agent.version": event.get("agent_version"),
        "deployment.environment.name": event.get("environment"),
        "enduser.scope": tool.get("credential_scope"),
        **_actor_attributes(event.get("actor")),
        "error.type": outcome.get("error"),
        "crmguard.event_id": event["event_id"],
        "crmguard.step": event.get("step"),
        "crmguard.prompt_sha256": context.get("prompt_sha256"),
        "crmguard.retrieved": context.get("retrieved"),
        "crmguard.triggered_by_event_id": context.get("triggered_by_event_id"),
        "crmguard.outcome.status": outcome.get("status"),
        "crmguard.outcome.attempt": outcome.get("attempt"),
        "crmguard.outcome.retry_of": outcome.get("retry_of"),
        "crmguard.dry_run": event.get("dry_run"),
        "crmguard.approval_id": event.get("approval_id"),
        "crmguard.event.extra": _extra(event, _TOOL_FIELDS),
    }
    nanos = _nanos(event["occurred_at"])
    return {
        "traceId": trace_id, "spanId": _hex_id(event["event_id"], 8), "parentSpanId": parent_id,
        "name": f"execute_tool {tool.get('name')}", "kind": 1, "startTimeUnixNano": nanos, "endTimeUnixNano": nanos,
        "attributes": _attributes(attributes),
        "status": _status(outcome),
    }  # fmt: skip


def _status(outcome: dict[str, Any]) -> dict[str, Any]:
    """Span status: ERROR (with the error as message when there is one) for a failed outcome, else OK."""
    if outcome.get("status") != "failed":
        return {"code": 1}
    return {"code": 2, "message": outcome["error"]} if outcome.get("error") else {"code": 2}


def _span_event(event: dict[str, Any]) -> dict[str, Any]:
    section = _SECTIONS[event["event_type"]]
    attributes = {
        "crmguard.event_id": event["event_id"],
        "crmguard.step": event.get("step"),
        f"crmguard.{section}": event.get(section),
        **_actor_attributes(event.get("actor")),
        "crmguard.event.extra": _extra(event, _ENVELOPE | {section}),
    }
    return {"timeUnixNano": _nanos(event["occurred_at"]), "name": event["event_type"],
            "attributes": _attributes(attributes)}  # fmt: skip


def _run_attributes(kind: str, event: dict[str, Any] | None) -> dict[str, Any]:
    if event is None:
        return {f"crmguard.run_{kind}.omit": True}
    return {f"crmguard.run_{kind}.event_id": event["event_id"], f"crmguard.run_{kind}.step": event.get("step"),
            f"crmguard.run_{kind}.extra": _extra(event, _ENVELOPE | {"outcome"})}  # fmt: skip


def _run_trace(events: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's events as a TracesData object: one resource, one invoke_agent span and its children."""
    first = events[0]
    started = next((e for e in events if e["event_type"] == "run_started"), None)
    finished = next((e for e in events if e["event_type"] == "run_finished"), None)
    trace_id = _hex_id(f"{first['agent_id']}\x00{first['run_id']}", 16)
    run_span_id = _hex_id(f"{first['agent_id']}\x00{first['run_id']}\x00run", 8)
    outcome = (finished or {}).get("outcome") or {}
    head = started or first
    run_span = {
        "traceId": trace_id, "spanId": run_span_id, "parentSpanId": "",
        "name": f"invoke_agent {first['agent_id']}", "kind": 1,
        "startTimeUnixNano": _nanos(min(events, key=lambda e: _nanos(e["occurred_at"]))["occurred_at"]
                                    if started is None else started["occurred_at"]),
        "attributes": _attributes({
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": first["agent_id"],
            "gen_ai.agent.version": head.get("agent_version"), "gen_ai.conversation.id": first["run_id"],
            **_actor_attributes(head.get("actor")),
            "crmguard.outcome.status": outcome.get("status"), "error.type": outcome.get("error"),
            **_run_attributes("started", started), **_run_attributes("finished", finished),
        }),
        "events": [_span_event(e) for e in events if e["event_type"] in _SECTIONS],
        "status": _status(outcome),
    }  # fmt: skip
    if finished is not None:
        run_span["endTimeUnixNano"] = _nanos(finished["occurred_at"])
    tools = [_tool_span(e, trace_id, run_span_id) for e in events if e["event_type"] == "tool_call"]
    resource = _attributes(
        {"service.name": first["agent_id"], "deployment.environment.name": head.get("environment")}
    )
    return {"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [
        {"scope": {"name": "crmguard.adapters.otlp_export"}, "spans": [run_span, *tools]}]}]}  # fmt: skip


def events_to_traces(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Group native events by (agent_id, run_id), in order of first appearance, one TracesData per run."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event in events:
        runs.setdefault((event["agent_id"], event["run_id"]), []).append(event)
    for run_events in runs.values():
        yield _run_trace(run_events)


def export_native_file(source: Path, target: Path) -> int:
    """Write a native JSONL action log as an OTLP/JSON lines file; returns the number of traces."""
    opener = gzip.open if source.name.endswith(".gz") else open
    with opener(source, "rt", encoding="utf-8") as handle:
        events = [json.loads(line) for line in handle if line.strip()]
    traces = list(events_to_traces(events))
    target.write_text("".join(json.dumps(t, sort_keys=True) + "\n" for t in traces), encoding="utf-8")
    return len(traces)
