"""OpenTelemetry GenAI traces (OTLP/JSON) -> native action events, in bulk.

Teams trace their agents with OpenTelemetry instead of writing our log format. This adapter reads OTLP
JSON trace files (one TracesData object per line, as the OTel file exporter writes them, or one
pretty-printed document) and maps the spans onto native events (CONTRACTS.md section 1): invoke_agent
spans give runs, execute_tool spans give tool calls, governance span events give approvals, signals and
stops. Everything happens in DuckDB SQL (adapters/sql/), so no Python loop touches a span. Each event
records in `_otlp` where it came from and in which forms; a span that carries an action and cannot be
mapped is rejected with a reason. The mapping is documented in docs/otel.md.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from crmguard.adapters.tool_mapping import compile_tool_mapping
from crmguard.errors import BadInput

SQL_DIR = Path(__file__).resolve().parent / "sql"
OTLP_SUFFIXES = (".otlp.json", ".otlp.jsonl", ".otlp.json.gz", ".otlp.jsonl.gz")
GOVERNANCE_EVENTS = ("approval_requested", "approval_decided", "signal_received", "stop", "resume")
# proto3 JSON parsers accept the original field names; these are the ones the mapping reads.
_SNAKE_FIELDS = (
    "resource_spans", "scope_spans", "instrumentation_library_spans", "instrumentation_library",
    "trace_id", "span_id", "parent_span_id", "start_time_unix_nano", "end_time_unix_nano",
    "time_unix_nano", "string_value", "bool_value", "int_value", "double_value", "bytes_value",
    "array_value", "kvlist_value",
)  # fmt: skip
_SNIFF_BYTES = 4096
# AnyValue scalars are typed in the same parse; nested arrayValue / kvlistValue stay JSON (sql/otlp_macros.sql).
_ANY_VALUE = {"stringValue": "VARCHAR", "boolValue": "VARCHAR", "intValue": "VARCHAR", "doubleValue": "VARCHAR",
              "bytesValue": "VARCHAR", "arrayValue": "JSON", "kvlistValue": "JSON"}  # fmt: skip
_ATTRIBUTES = [{"key": "VARCHAR", "value": _ANY_VALUE}]
# The parts of TracesData the mapping reads, for DuckDB's from_json (one parse per document and span).
_SCOPE_SPANS = [
    {"scope": {"name": "VARCHAR"}, "instrumentationLibrary": {"name": "VARCHAR"}, "spans": ["JSON"]}
]
TRACES_STRUCTURE = {"resourceSpans": [{"resource": {"attributes": _ATTRIBUTES}, "scopeSpans": _SCOPE_SPANS,
                                       "instrumentationLibrarySpans": _SCOPE_SPANS}]}  # fmt: skip
SPAN_STRUCTURE = {
    "traceId": "VARCHAR", "spanId": "VARCHAR", "parentSpanId": "VARCHAR", "name": "VARCHAR", "kind": "VARCHAR",
    "startTimeUnixNano": "VARCHAR", "endTimeUnixNano": "VARCHAR", "attributes": _ATTRIBUTES,
    "status": {"code": "VARCHAR", "message": "VARCHAR"},
    "events": [{"name": "VARCHAR", "timeUnixNano": "VARCHAR", "attributes": _ATTRIBUTES}],
}  # fmt: skip


@dataclass(frozen=True)
class OtlpMapped:
    """The result of mapping one file: native events, rejects, and what became of every span."""

    events: pa.Table  # line, event_id, event_json (native event as JSON text, in file order)
    rejects: pa.Table  # line, reason, raw_text
    lines: int  # non-empty lines (TracesData objects) read
    spans: int  # spans found
    context_spans: int  # spans that carry no action (model calls, plumbing): counted, not loaded


def is_otlp_file(path: Path) -> bool:
    """OTLP by name (`*.otlp.json[l][.gz]`) or by content (a TracesData object starts the file)."""
    name = path.name.lower()
    if name.endswith(OTLP_SUFFIXES):
        return True
    if not name.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz")):
        return False
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except (OSError, EOFError):
        return False
    return b'"resourceSpans"' in head or b'"resource_spans"' in head


def read_otlp_lines(path: Path) -> pa.Table:
    """The file as (line, text) rows: one per line, or the whole file as line 1 when it is one document."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise BadInput(f"{path}: cannot read OTLP file: {exc}") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput(f"{path}:{line}: not UTF-8 text") from None
    lines = text.split("\n")
    first = next((candidate for candidate in lines if candidate.strip()), "")
    if len(lines) > 1 and first.strip() and not _is_json(first):
        lines = [text]  # a pretty-printed single TracesData document
    return pa.table(
        {"line": pa.array(range(1, len(lines) + 1), pa.int64()), "text": pa.array(lines, pa.string())}
    )


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _snake_to_camel_sql() -> str:
    """Nested regexp_replace turning `"trace_id":` into `"traceId":` for every field the mapping reads."""
    expr = "text"
    for name in _SNAKE_FIELDS:
        head, *rest = name.split("_")
        camel = head + "".join(part.capitalize() for part in rest)
        expr = f"""regexp_replace({expr}, '"{name}"(\\s*):', '"{camel}"\\1:', 'g')"""
    return expr


def _mapping_sql(tool_mapping: Path | str | None) -> str:
    tools = compile_tool_mapping(tool_mapping)
    values = {
        "SNAKE_TO_CAMEL": _snake_to_camel_sql(),
        "TRACES_STRUCTURE": json.dumps(TRACES_STRUCTURE),
        "SPAN_STRUCTURE": json.dumps(SPAN_STRUCTURE),
        "GOVERNANCE_EVENTS": ", ".join(f"'{name}'" for name in GOVERNANCE_EVENTS),
        "TARGET_OBJECT_TYPE": tools.object_type,
        "TARGET_OBJECT_ID": tools.object_id,
        "TARGET_ACCOUNT_ID": tools.account_id,
        "CHANGES": tools.changes,
    }
    sql = (SQL_DIR / "otlp_map.sql").read_text(encoding="utf-8")
    for name, value in values.items():
        sql = sql.replace("{{" + name + "}}", value)
    return sql


def map_otlp_lines(lines: pa.Table, tool_mapping: Path | str | None = None) -> OtlpMapped:
    """Map (line, text) rows of OTLP JSON onto native events in a private in-memory DuckDB."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("otlp_input_arrow", lines)
        con.execute("create temp table otlp_input as select line, text from otlp_input_arrow")
        con.execute((SQL_DIR / "otlp_macros.sql").read_text(encoding="utf-8"))
        con.execute(_mapping_sql(tool_mapping))
        events = con.execute(
            "select line, event_id, event_json::VARCHAR as event_json from otlp_events order by span_seq, seq"
        ).to_arrow_table()
        rejects = con.execute(
            "select line, reason, raw_text from otlp_rejects order by line, reason"
        ).to_arrow_table()
        lines_read, spans, context = con.execute(
            "select (select count(*) from otlp_lines), (select count(*) from otlp_spans), "
            "(select count(*) from otlp_context)"
        ).fetchone()
    finally:
        con.close()
    return OtlpMapped(events, rejects, lines_read, spans, context)


def map_otlp_file(path: Path | str, tool_mapping: Path | str | None = None) -> OtlpMapped:
    """Read an OTLP/JSON trace file and map it (see map_otlp_lines)."""
    return map_otlp_lines(read_otlp_lines(Path(path)), tool_mapping)
