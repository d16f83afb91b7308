"""What makes an action-log line acceptable (CONTRACTS.md section 1 + the `resume` extension).

The rules are data (FIELDS), compiled to SQL twice:
- `fast_valid_sql`: true only for a line every rule accepts, judged on one `json_transform` per line
  (`fast_spec`), so the common good line is parsed once;
- `reject_reason_sql`: one CASE expression over the full path lists (`type_sql`, `text_sql`) that names
  the first failing rule, run only on the lines the fast check refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

EVENT_TYPES = (
    "run_started", "run_finished", "tool_call", "approval_requested", "approval_decided",
    "signal_received", "stop", "resume",
)
ENVIRONMENTS = ("production", "sandbox")
ACTOR_TYPES = ("agent", "human", "system")
TARGET_OBJECT_TYPES = ("account", "contact", "deal", "sequence_enrollment", "meeting", "task", "case")
OUTCOME_STATUSES = ("succeeded", "failed", "blocked", "skipped")
DECISIONS = ("approved", "rejected")
SIGNAL_KINDS = ("reply", "bounce", "unsubscribe", "meeting_request", "out_of_office")
SENTIMENTS = ("positive", "neutral", "negative")
SCOPES = ("agent", "team", "global")

# JSON types as DuckDB's json_type() names them, per contract type.
_JSON_TYPES = {
    "string": ("VARCHAR",),
    "integer": ("BIGINT", "UBIGINT"),
    "boolean": ("BOOLEAN",),
    "object": ("OBJECT",),
    "array": ("ARRAY",),
}
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"


@dataclass(frozen=True)
class Field:
    """One field rule: its JSON path, type, whether it must be present, allowed values, event type."""

    path: str
    type: str
    required: bool = True
    nullable: bool = False
    enum: tuple[str, ...] = ()
    only_for: tuple[str, ...] = ()


_TOOL = ("tool_call",)
_APPROVAL = ("approval_requested", "approval_decided")

FIELDS: tuple[Field, ...] = (
    Field("schema_version", "string", enum=("1",)),
    Field("event_id", "string"),
    Field("event_type", "string", enum=EVENT_TYPES),
    Field("occurred_at", "time"),
    Field("agent_id", "string"),
    Field("agent_version", "string"),
    Field("run_id", "string"),
    Field("step", "integer"),
    Field("environment", "string", enum=ENVIRONMENTS),
    Field("actor", "object"),
    Field("actor.type", "string", enum=ACTOR_TYPES),
    Field("actor.id", "string"),
    Field("actor.role", "string", required=False, nullable=True),
    Field("actor.on_behalf_of", "string", required=False, nullable=True),
    Field("tool", "object", only_for=_TOOL),
    Field("tool.name", "string", only_for=_TOOL),
    Field("tool.call_id", "string", only_for=_TOOL),
    Field("target", "object", only_for=_TOOL),
    Field("target.object_type", "string", enum=TARGET_OBJECT_TYPES, only_for=_TOOL),
    Field("target.object_id", "string", only_for=_TOOL),
    Field("outcome", "object", only_for=_TOOL),
    Field("outcome.status", "string", enum=OUTCOME_STATUSES, only_for=_TOOL),
    Field("dry_run", "boolean", only_for=_TOOL),
    Field("approval_id", "string", required=False, nullable=True, only_for=_TOOL),
    Field("input", "object", required=False, nullable=True, only_for=_TOOL),
    Field("changes", "array", required=False, nullable=True, only_for=_TOOL),
    Field("context", "object", required=False, nullable=True, only_for=_TOOL),
    Field("approval", "object", only_for=_APPROVAL),
    Field("approval.approval_id", "string", only_for=_APPROVAL),
    Field("approval.expires_at", "time", required=False, nullable=True, only_for=_APPROVAL),
    Field("approval.decision", "string", enum=DECISIONS, only_for=("approval_decided",)),
    Field("approval.approver", "object", only_for=("approval_decided",)),
    Field("approval.approver.id", "string", only_for=("approval_decided",)),
    Field("signal", "object", only_for=("signal_received",)),
    Field("signal.kind", "string", enum=SIGNAL_KINDS, only_for=("signal_received",)),
    Field("signal.contact_id", "string", only_for=("signal_received",)),
    Field("signal.sentiment", "string", required=False, nullable=True, enum=SENTIMENTS,
          only_for=("signal_received",)),
    Field("stop", "object", only_for=("stop",)),
    Field("stop.scope", "string", enum=SCOPES, only_for=("stop",)),
    Field("resume", "object", only_for=("resume",)),
    Field("resume.scope", "string", enum=SCOPES, only_for=("resume",)),
)

PATHS: tuple[str, ...] = tuple(f.path for f in FIELDS)


def paths_sql() -> str:
    """The JSON path list, so DuckDB parses each line once per list function for all fields."""
    return "[" + ", ".join(f"'$.{p}'" for p in PATHS) + "]"


def type_sql(path: str) -> str:
    """The field's JSON type (DuckDB json_type name, 'NULL' for JSON null, SQL NULL when absent)."""
    return f"t[{PATHS.index(path) + 1}]"


def text_sql(path: str) -> str:
    """The field as SQL text (JSON strings unquoted, objects as JSON text, SQL NULL when absent)."""
    return f"s[{PATHS.index(path) + 1}]"


def utc_timestamp_sql(text: str) -> str:
    """An RFC 3339 text with offset as a UTC TIMESTAMP; NULL when it has no offset or does not parse."""
    return (
        f"CASE WHEN regexp_full_match({text}, '{_RFC3339}') "
        f"THEN timezone('UTC', try_cast({text} AS TIMESTAMPTZ)) END"
    )


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _checks(f: Field) -> list[tuple[str, str]]:
    """(condition that makes the line bad, reason expression) pairs for one field, in order."""
    jtype, text = type_sql(f.path), text_sql(f.path)
    kind = "string" if f.type == "time" else f.type
    present = f"{jtype} <> 'NULL'"  # SQL NULL (absent) makes every check below NULL, i.e. not failing
    checks: list[tuple[str, str]] = []
    if f.required:
        checks.append((f"coalesce({jtype} = 'NULL', true)", f"'missing required field {f.path}'"))
    checks.append((
        f"{present} AND {jtype} NOT IN ({_quoted(_JSON_TYPES[kind])})",
        f"'field {f.path} must be {_article(kind)}, got ' || lower({jtype})",
    ))
    if f.path == "step":
        checks.append((f"{present} AND coalesce(try_cast({text} AS INTEGER) < 0, true)",
                       f"'field step must be a non-negative integer, got ' || {text}"))
    if f.type == "time":
        checks.append((f"{present} AND {utc_timestamp_sql(text)} IS NULL",
                       f"'field {f.path} is not an RFC 3339 time with offset: ' || {text}"))
    if f.enum:
        checks.append((
            f"{present} AND {text} NOT IN ({_quoted(f.enum)})",
            f"'field {f.path} has invalid value ' || {text} || ' (expected one of: {', '.join(f.enum)})'",
        ))
    if f.only_for:
        guard = f"{text_sql('event_type')} IN ({_quoted(f.only_for)})"
        checks = [(f"{guard} AND ({cond})", reason) for cond, reason in checks]
    return checks


# The fast path: one json_transform of the fields a good line needs, judged on their JSON text (a string
# starts with a quote, an enum is compared with its quoted literal), so a good line is parsed once and
# never reaches the long CASE of `reject_reason_sql`. Containers with a required member (actor, tool,
# ...) need no lookup of their own: the member's path only resolves inside an object.
_CONTAINERS_IMPLIED = {f.path for f in FIELDS if f.type == "object"} - {"input", "context"}
FAST_PATHS: tuple[str, ...] = tuple(f.path for f in FIELDS if f.path not in _CONTAINERS_IMPLIED)
_JSON_START = {"string": "'\"'", "object": "'{'", "array": "'['"}


# Computed once per line next to `v`, so the fast check and the stored column share one parse of it.
OCCURRED_AT_UTC = "occurred_at_utc"


def fast_sql(path: str) -> str:
    """The field's JSON text in the fast struct `v` (SQL NULL when absent or null)."""
    return "v." + ".".join(f'"{part}"' for part in path.split("."))


def fast_spec() -> str:
    """The json_transform structure of `v`: every fast path as a JSON leaf, nested like the event."""
    tree: dict = {}
    for path in FAST_PATHS:
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = "JSON"
    return json.dumps(tree)


def fast_text_sql(path: str) -> str:
    """A JSON string field of the fast list as SQL text (quotes and escapes removed)."""
    value = fast_sql(path)
    # Without a backslash the JSON text is the value between two quotes, and trimming quotes is cheap.
    return f"CASE WHEN contains({value}, '\\') THEN json_extract_string({value}, '$') ELSE trim({value}, '\"') END"


def _fast_check(f: Field) -> str:
    """True when field `f` passes every rule, judged on its JSON text alone."""
    value = fast_sql(f.path)
    if f.enum:
        ok = f"{value} IN ({_quoted(tuple(chr(34) + e + chr(34) for e in f.enum))})"
    elif f.type == "integer":
        ok = f"regexp_full_match({value}, '[0-9]+') AND try_cast({value} AS INTEGER) IS NOT NULL"
    elif f.type == "boolean":
        ok = f"{value} IN ('true', 'false')"
    elif f.path == "occurred_at":
        ok = f"{OCCURRED_AT_UTC} IS NOT NULL AND starts_with({value}, '\"')"
    elif f.type == "time":
        ok = f"{utc_timestamp_sql(fast_text_sql(f.path))} IS NOT NULL AND starts_with({value}, '\"')"
    else:
        ok = f"starts_with({value}, {_JSON_START[f.type]})"
    if f.required:
        return f"coalesce({ok}, false)"
    return f"({value} IS NULL OR {value} = 'null' OR coalesce({ok}, false))"


def fast_valid_sql() -> str:
    """True only for lines every rule accepts (False sends the line to `reject_reason_sql`)."""
    whens = []
    for event_type in EVENT_TYPES:
        checks = [_fast_check(f) for f in FIELDS
                  if f.path in FAST_PATHS and (not f.only_for or event_type in f.only_for)]
        whens.append(f"WHEN '\"{event_type}\"' THEN " + " AND ".join(checks))
    return f"coalesce(CASE {fast_sql('event_type')} {' '.join(whens)} END, false)"


def reject_reason_sql() -> str:
    """One CASE expression: NULL for a good line, else the reason the first failing rule gives.

    Expects columns `text` (the line with its newline, NULL when not UTF-8), `is_last` (last line of a file that does
    not end with a newline), `t` (json_type list, NULL when the line is not valid JSON) and `s`
    (json_extract_string list).
    """
    blank = "e' \\t\\r\\n'"
    structural = [
        ("text IS NULL", "'line is not valid UTF-8'"),
        (f"trim(text, {blank}) = ''", "'empty line'"),
        (f"t IS NULL AND is_last AND starts_with(ltrim(text, {blank}), '{{')",
         "'truncated line: the file ends inside this JSON object'"),
        (f"t IS NULL AND starts_with(ltrim(text, {blank}), '{{') AND NOT ends_with(rtrim(text, {blank}), '}}')",
         "'truncated line: JSON object is not closed'"),
        ("t IS NULL", "'invalid JSON'"),
        (f"NOT starts_with(ltrim(text, {blank}), '{{')", "'line is JSON but not an object'"),
    ]
    rules = structural + [check for f in FIELDS for check in _checks(f)]
    whens = "\n    ".join(f"WHEN {cond} THEN {reason}" for cond, reason in rules)
    return f"CASE\n    {whens}\n    ELSE 'does not match the event schema (a value uses JSON escapes where a plain one is expected)'\n  END"
