"""Tool mapping: which tool arguments / result fields name a tool call's target and claimed changes.

OTel tool-call spans carry the arguments and the result, not our `target` and `changes`. A declarative,
per-tool-name YAML file (default: mappings/tools.yml, format in docs/otel.md) says where to find them;
this module validates it and compiles it into SQL expressions for the bulk OTLP mapping, so adding a
customer's tool is a YAML edit, not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crmguard.errors import BadInput

DEFAULT_TOOL_MAPPING = Path(__file__).resolve().parent / "mappings" / "tools.yml"
TARGET_FIELDS = ("object_type", "object_id", "account_id")
_PATH = re.compile(r"(args|result)((?:\.[A-Za-z0-9_]+)+)")
_ATTR = re.compile(r"attr\.([A-Za-z0-9_.\-]+)")
_FIELD = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class ToolMappingSql:
    """SQL expressions (over columns tool_name, args, result, attrs) for the target and changes."""

    object_type: str
    object_id: str
    account_id: str
    changes: str


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source_sql(source: Any, where: str, as_json: bool) -> str:
    """One source (args.PATH, result.PATH, attr.NAME, =VALUE) as SQL; text unless as_json."""
    arrow = "->" if as_json else "->>"
    if not isinstance(source, str):
        raise BadInput(f"{where}: a source must be a string like args.contact_id, got {source!r}")
    if source.startswith("="):
        value = _literal(source[1:])
        return f"to_json({value})" if as_json else value
    path = _PATH.fullmatch(source)
    if path:
        return f"({path.group(1)} {arrow} {_literal('$' + path.group(2))})"
    attr = _ATTR.fullmatch(source)
    if attr:
        json_path = '$."' + attr.group(1) + '"'
        return f"(attrs {arrow} {_literal(json_path)})"
    raise BadInput(f"{where}: source {source!r} is not args.PATH, result.PATH, attr.NAME or =VALUE")


def _sources_sql(sources: Any, where: str, as_json: bool) -> list[str]:
    if sources is None:
        return []
    if not isinstance(sources, list):
        sources = [sources]
    return [_source_sql(s, f"{where}[{i}]", as_json) for i, s in enumerate(sources)]


def _coalesce(parts: list[str]) -> str:
    return f"coalesce({', '.join(parts)})" if parts else "NULL"


def _per_tool(defaults: list[str], per_tool: dict[str, list[str]]) -> str:
    """CASE over tool_name: a tool's own sources first, then the defaults."""
    if not per_tool:
        return _coalesce(defaults)
    whens = " ".join(
        f"when {_literal(tool)} then {_coalesce(parts + defaults)}" for tool, parts in per_tool.items()
    )
    return f"case tool_name {whens} else {_coalesce(defaults)} end"


def _changes_from_args(spec: Any, where: str, target: dict[str, str]) -> str:
    """A JSON array of {object_type, object_id, field, old: null, new} for the argument fields present."""
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("fields"), list)
        or set(spec) - {"object_type", "fields"}
    ):
        raise BadInput(f"{where}: expected {{object_type: TYPE (optional), fields: [FIELD, ...]}}")
    object_type = _literal(spec["object_type"]) if spec.get("object_type") else target["object_type"]
    items = []
    for field in spec["fields"]:
        if not isinstance(field, str) or not _FIELD.fullmatch(field):
            raise BadInput(f"{where}.fields: {field!r} is not a plain field name")
        items.append(
            f"struct_pack(object_type := {object_type}, object_id := {target['object_id']}, "
            f"field := {_literal(field)}, old := NULL::JSON, new := (args -> {_literal('$.' + field)}))"
        )
    return f"to_json(list_filter([{', '.join(items)}], c -> c.new is not null))"


def _check_keys(value: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(f"{where}: expected a mapping")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise BadInput(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    return value


def compile_tool_mapping(path: Path | str | None = None) -> ToolMappingSql:
    """Load and validate a tool-mapping YAML file; errors name the file and the key that is wrong."""
    path = Path(path) if path else DEFAULT_TOOL_MAPPING
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"{path}: cannot read tool mapping: {exc}".splitlines()[0]) from None
    doc = _check_keys(doc, {"version", "defaults", "tools"}, f"{path}")
    defaults = _check_keys(doc.get("defaults"), {"target", "changes"}, f"{path}: defaults")
    default_target = _check_keys(defaults.get("target"), set(TARGET_FIELDS), f"{path}: defaults.target")
    tools = _check_keys(doc.get("tools"), set(doc.get("tools") or {}), f"{path}: tools")

    target_sql: dict[str, str] = {}
    for field in TARGET_FIELDS:
        per_tool = {}
        for tool, spec in tools.items():
            spec = _check_keys(spec, {"target", "changes", "changes_from_args"}, f"{path}: tools.{tool}")
            target = _check_keys(spec.get("target"), set(TARGET_FIELDS), f"{path}: tools.{tool}.target")
            if target.get(field) is not None:
                per_tool[tool] = _sources_sql(target[field], f"{path}: tools.{tool}.target.{field}", False)
        target_sql[field] = _per_tool(
            _sources_sql(default_target.get(field), f"{path}: defaults.target.{field}", False), per_tool
        )

    default_changes = _sources_sql(defaults.get("changes"), f"{path}: defaults.changes", True)
    per_tool_changes = {}
    for tool, spec in tools.items():
        parts = _sources_sql((spec or {}).get("changes"), f"{path}: tools.{tool}.changes", True)
        if (spec or {}).get("changes_from_args") is not None:
            built = _changes_from_args(
                spec["changes_from_args"], f"{path}: tools.{tool}.changes_from_args", target_sql
            )
            per_tool_changes[tool] = parts + default_changes + [built]
        elif parts:
            per_tool_changes[tool] = parts + default_changes
    # The tool's own list already ends with the defaults (and the argument builder after them).
    changes = (
        "case tool_name "
        + " ".join(f"when {_literal(t)} then {_coalesce(p)}" for t, p in per_tool_changes.items())
        + f" else {_coalesce(default_changes)} end"
        if per_tool_changes
        else _coalesce(default_changes)
    )
    return ToolMappingSql(
        target_sql["object_type"], target_sql["object_id"], target_sql["account_id"], changes
    )
