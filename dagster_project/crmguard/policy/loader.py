"""Load and validate a policy file, keeping YAML line numbers so every error points at its line.

A policy is refused on the first problem with one line that names the file, the line, the rule id and
what is wrong (typo'd key with a suggestion, unknown kind, bad threshold, duplicate id, ...).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from crmguard.errors import BadInput
from crmguard.policy.library import COMMON_KEYS, KINDS, SHARE_OBJECTS, Param

_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
# stop words become a regex in SQL: only characters that need no escaping, word characters at both ends
_STOP_WORD = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9' -]*[A-Za-z0-9])?$")
_TOP_KEYS = {"version": True, "name": False, "description": False, "rules": True}


@dataclass(frozen=True)
class Rule:
    """A validated rule: common keys plus the kind's parameters with defaults filled in."""

    rule_id: str
    kind: str
    severity: str
    incident_kind: str | None
    description: str
    enabled: bool
    line: int
    params: dict[str, Any]


@dataclass(frozen=True)
class Policy:
    """A validated policy file; `version` is recorded on every verdict."""

    version: str
    name: str
    path: str
    sha256: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class _Node:
    """A YAML value with the 1-based line it starts on (mappings hold _Node values)."""

    value: Any
    line: int
    key_lines: dict[str, int] | None = None  # mappings: the line of each key


class _Fail:
    """Builds the one-line errors of one file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, line: int, problem: str, rule_id: str | None = None) -> BadInput:
        where = f"{self.path}:{line}"
        return BadInput(f"{where}: rule '{rule_id}': {problem}" if rule_id else f"{where}: {problem}")


def _tree(node: yaml.Node, constructor: yaml.SafeLoader, fail: _Fail) -> _Node:
    """Convert a composed YAML node into _Node values; duplicate mapping keys are refused."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, _Node] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise fail(key_node.start_mark.line + 1, f"key {key!r} must be a string")
            if key in out:
                raise fail(key_node.start_mark.line + 1, f"key '{key}' appears twice in the same mapping")
            out[key] = _tree(value_node, constructor, fail)
            key_lines[key] = key_node.start_mark.line + 1
        return _Node(out, line, key_lines)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_tree(item, constructor, fail) for item in node.value], line)
    return _Node(constructor.construct_object(node, deep=True), line)


def _parse(text: str, fail: _Fail) -> _Node:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise fail(mark.line + 1 if mark else 1, f"not valid YAML: {problem}") from None
    if root is None:
        raise fail(1, "the file is empty; a policy needs `version:` and `rules:`")
    return _tree(root, yaml.SafeLoader(""), fail)


def _unknown_key(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(sorted(allowed))})"
    return f"unknown key '{key}'{hint}"


def _check_choices(values: list[str], param: Param, name: str) -> str | None:
    bad = [v for v in values if param.choices and v not in param.choices]
    return f"'{name}' value '{bad[0]}' is not one of {', '.join(param.choices)}" if bad else None


def _value(node: _Node, name: str, param: Param) -> tuple[Any, str | None]:
    """Type-check one parameter; returns (normalized value, problem or None)."""
    v = node.value
    if param.type == "str":
        if not isinstance(v, str) or not v.strip():
            return None, f"'{name}' must be a non-empty string"
        return v, _check_choices([v], param, name)
    if param.type == "bool":
        return v, None if isinstance(v, bool) else f"'{name}' must be true or false"
    if param.type in ("int", "number", "pct"):
        if isinstance(v, bool) or not isinstance(v, int | float) or (param.type == "int" and not isinstance(v, int)):
            kind = "a whole number" if param.type == "int" else "a number"
            return None, f"'{name}' must be {kind}, got {v!r}"
        if v < 0 or (param.type == "pct" and v > 100):
            span = "between 0 and 100" if param.type == "pct" else "0 or more"
            return None, f"'{name}' must be {span}, got {v!r}"
        return v, None
    if param.type == "list":
        if not isinstance(v, list) or not v or not all(isinstance(i.value, str) and i.value for i in v):
            return None, f"'{name}' must be a non-empty list of names"
        items = [i.value for i in v]
        if len(set(items)) != len(items):
            return None, f"'{name}' lists a value twice"
        return items, _check_choices(items, param, name)
    if param.type == "map":
        if not isinstance(v, dict) or not v:
            return None, f"'{name}' must map object types to lists of fields"
        out: dict[str, list[str]] = {}
        for key, item in v.items():
            fields, problem = _value(item, f"{name}.{key}", Param("list", ""))
            if problem:
                return None, problem
            out[key] = fields
        return out, None
    if param.type == "pairs":
        if not isinstance(v, dict) or not v or not all(isinstance(i.value, str) for i in v.values()):
            return None, f"'{name}' must map names to names"
        return {k: i.value for k, i in v.items()}, None
    raise AssertionError(f"unknown parameter type {param.type}")


def _rule(node: _Node, fail: _Fail) -> Rule:
    if not isinstance(node.value, dict):
        raise fail(node.line, "each rule must be a mapping with at least `id` and `kind`")
    raw: dict[str, _Node] = node.value
    rule_id = raw["id"].value if "id" in raw else None
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise fail(raw["id"].line if "id" in raw else node.line, "`id` must be 1-80 letters, digits, - _ . (required)")
    if "kind" not in raw:
        raise fail(node.line, f"missing `kind` (one of: {', '.join(KINDS)})", rule_id)
    kind_name = raw["kind"].value
    if kind_name not in KINDS:
        close = difflib.get_close_matches(str(kind_name), list(KINDS), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(KINDS)}"
        raise fail(raw["kind"].line, f"unknown rule kind '{kind_name}' ({hint})", rule_id)
    kind = KINDS[kind_name]
    specs = {**COMMON_KEYS, **kind.params}
    values: dict[str, Any] = {}
    for key, item in raw.items():
        if key not in specs:
            raise fail(node.key_lines[key], _unknown_key(key, list(specs)) + f" for kind {kind_name}", rule_id)
        value, problem = _value(item, key, specs[key])
        if problem:
            raise fail(item.line, problem, rule_id)
        values[key] = value
    for key, spec in specs.items():
        if key not in values:
            if spec.required:
                raise fail(node.line, f"missing required parameter '{key}' for kind {kind_name}", rule_id)
            values[key] = spec.default
    _check_kind(kind_name, values, fail, raw, node.line)
    return Rule(
        rule_id=rule_id,
        kind=kind_name,
        severity=values.pop("severity"),
        incident_kind=values.pop("incident_kind"),
        description=values.pop("description") or "",
        enabled=values.pop("enabled"),
        line=node.line,
        params={k: v for k, v in values.items() if k not in ("id", "kind")},
    )


def _check_kind(kind: str, values: dict[str, Any], fail: _Fail, raw: dict[str, _Node], line: int) -> None:
    """Cross-parameter checks a type cannot express."""
    rule_id = values["id"]

    def at(key: str) -> int:
        return raw[key].line if key in raw else line

    if kind == "icp" and not any(values[k] is not None for k in ("industries", "employees_min", "employees_max", "titles")):
        raise fail(line, "an icp rule needs at least one of industries, employees_min, employees_max, titles", rule_id)
    if kind == "icp" and None not in (values["employees_min"], values["employees_max"]):
        if values["employees_min"] > values["employees_max"]:
            raise fail(at("employees_min"), "employees_min is greater than employees_max", rule_id)
    if kind == "bounce_rate_stop" and values["window_sends"] < 1:
        raise fail(at("window_sends"), "'window_sends' must be at least 1", rule_id)
    if kind == "bounce_rate_stop" and values["threshold_pct"] <= 0:
        raise fail(at("threshold_pct"), "'threshold_pct' must be greater than 0 (0 would stop every agent)", rule_id)
    if kind == "negative_reply_stop":
        bad = [w for w in values["stop_words"] if not _STOP_WORD.match(w)]
        if bad:
            raise fail(at("stop_words"), f"stop word '{bad[0]}' must be letters, digits, spaces, ' and -, starting and ending with a letter or digit", rule_id)
    if kind == "blast_radius":
        _check_blast_radius(values, fail, at, rule_id)
    if kind == "approval_gate" and (values["amount_field"] is None) != (values["above"] is None):
        raise fail(line, "'amount_field' and 'above' go together (give both or neither)", rule_id)
    if kind == "stage_transitions":
        known = set(values["stages"]) | set(values["exits"] or [])
        for target, source in (values["min_from"] or {}).items():
            for stage in (target, source):
                if stage not in known:
                    raise fail(at("min_from"), f"'min_from' names stage '{stage}' not listed in stages/exits", rule_id)


def _check_blast_radius(values: dict[str, Any], fail: _Fail, at: Callable[[str], int], rule_id: str) -> None:
    """A share limit needs a percentage of a countable object; the count measures need a count."""
    if values["measure"] == "share":
        if values["max_pct"] is None or values["max_count"] is not None:
            raise fail(at("measure"), "measure 'share' takes 'max_pct' (not 'max_count')", rule_id)
        if values["object_type"] not in SHARE_OBJECTS:
            raise fail(at("object_type"), f"measure 'share' needs 'object_type' one of {', '.join(SHARE_OBJECTS)}", rule_id)
    elif values["max_count"] is None or values["max_pct"] is not None or values["min_records"] is not None:
        raise fail(at("measure"), f"measure '{values['measure']}' takes 'max_count' (not 'max_pct' / 'min_records')", rule_id)


def _header(root: _Node, fail: _Fail) -> tuple[str, str, list[_Node]]:
    if not isinstance(root.value, dict):
        raise fail(root.line, "a policy file is a mapping with `version:` and `rules:`")
    top: dict[str, _Node] = root.value
    for key in top:
        if key not in _TOP_KEYS:
            raise fail(root.key_lines[key], _unknown_key(key, list(_TOP_KEYS)) + " at the top level")
    for key, required in _TOP_KEYS.items():
        if required and key not in top:
            raise fail(root.line, f"missing top-level `{key}:`")
    version = top["version"].value
    if isinstance(version, bool) or not isinstance(version, str | int | float) or not str(version).strip():
        raise fail(top["version"].line, "`version` must be a non-empty string, e.g. \"2026.11.1\"")
    rules = top["rules"].value
    if not isinstance(rules, list) or not rules:
        raise fail(top["rules"].line, "`rules` must be a non-empty list")
    name = top["name"].value if "name" in top else ""
    return str(version), str(name or ""), rules


def _rules_digest(version: str, rules: list[Rule]) -> str:
    """SHA-256 of the rules' meaning (not the text), so comments and layout do not make a new policy."""
    canonical = json.dumps([version, [asdict(r) | {"line": 0} for r in rules]], sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_policy(text: str, path: str) -> Policy:
    """Validate policy text; `path` is only used in error messages and provenance."""
    fail = _Fail(path)
    version, name, rule_nodes = _header(_parse(text, fail), fail)
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for node in rule_nodes:
        rule = _rule(node, fail)
        if rule.rule_id in seen:
            raise fail(rule.line, f"duplicate rule id (first defined on line {seen[rule.rule_id]})", rule.rule_id)
        seen[rule.rule_id] = rule.line
        rules.append(rule)
    sha = _rules_digest(version, rules)
    return Policy(version=version, name=name or Path(path).stem, path=path, sha256=sha, rules=tuple(rules))


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{file}: policy file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{file}: cannot read the policy file: {exc}") from None
    return parse_policy(text, str(path))
