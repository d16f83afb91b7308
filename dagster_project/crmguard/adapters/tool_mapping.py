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
        return f"{'otlp_attr' if as_json else 'otlp_str'}(attrs, {_literal(attr.group(1))})"
    raise BadInput(f"{where}: source {source!r} is not args.PATH, result.PATH, attr.NAME or =VALUE")


def _sources_sql(sources: Any, where: str, as_json: bool) -> list[str]:
    if sources is None:
        return []
    if not isinstance(sources, list):
        sources = [sources]
    return [_source_sql(s, f"{where}[{i}]", as_json) for i, s in enumerate(sources)]


def _coalesce(parts: list[str]) -> str:
    return f"coalesce({', '.join(parts)})" if parts else "NULL"


def _per_tool(general: list[str], per_tool: dict[str, list[str]]) -> str:
    """CASE over tool_name: a tool's full source list, else the general one."""
    if not per_tool:
        return _coalesce(general)
    whens = " ".join(f"when {_literal(tool)} then {_coalesce(parts)}" for tool, parts in per_tool.items())
    return f"case tool_name {whens} else {_coalesce(general)} end"


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


def _sources_for(spec: dict[str, Any], key: str, where: str, as_json: bool) -> list[str]:
    return _sources_sql(spec.get(key), f"{where}.{key}", as_json)


def compile_tool_mapping(path: Path | str | None = None) -> ToolMappingSql:
    """Load and validate a tool-mapping YAML file; errors name the file and the key that is wrong.

    Order per field: `override` sources (what the span or the tool result states explicitly), then the
    tool's own sources, then `defaults`; for changes the tool's `changes_from_args` comes last.
    """
    path = Path(path) if path else DEFAULT_TOOL_MAPPING
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"{path}: cannot read tool mapping: {exc}".splitlines()[0]) from None
    doc = _check_keys(doc, {"version", "override", "defaults", "tools"}, f"{path}")
    layers = {}
    for layer in ("override", "defaults"):
        spec = _check_keys(doc.get(layer), {"target", "changes"}, f"{path}: {layer}")
        target = _check_keys(spec.get("target"), set(TARGET_FIELDS), f"{path}: {layer}.target")
        layers[layer] = (
            {f: _sources_for(target, f, f"{path}: {layer}.target", False) for f in TARGET_FIELDS},
            _sources_for(spec, "changes", f"{path}: {layer}", True),
        )
    tools = _check_keys(doc.get("tools"), set(doc.get("tools") or {}), f"{path}: tools")
    (first_target, first_changes), (last_target, last_changes) = layers["override"], layers["defaults"]

    target_sql: dict[str, str] = {}
    for field in TARGET_FIELDS:
        per_tool = {}
        for tool, spec in tools.items():
            spec = _check_keys(spec, {"target", "changes", "changes_from_args"}, f"{path}: tools.{tool}")
            target = _check_keys(spec.get("target"), set(TARGET_FIELDS), f"{path}: tools.{tool}.target")
            if target.get(field) is not None:
                own = _sources_for(target, field, f"{path}: tools.{tool}.target", False)
                per_tool[tool] = first_target[field] + own + last_target[field]
        target_sql[field] = _per_tool(first_target[field] + last_target[field], per_tool)

    per_tool_changes = {}
    for tool, spec in tools.items():
        own = _sources_for(spec or {}, "changes", f"{path}: tools.{tool}", True)
        built = []
        if (spec or {}).get("changes_from_args") is not None:
            where = f"{path}: tools.{tool}.changes_from_args"
            built = [_changes_from_args(spec["changes_from_args"], where, target_sql)]
        if own or built:
            per_tool_changes[tool] = first_changes + own + last_changes + built
    changes = _per_tool(first_changes + last_changes, per_tool_changes)
    return ToolMappingSql(
        target_sql["object_type"], target_sql["object_id"], target_sql["account_id"], changes
    )
