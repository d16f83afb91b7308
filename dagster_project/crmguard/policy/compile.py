"""Compile a validated policy into the parameter tables the dbt policy models read.

The active policy lives in schema `policy` (`rules`: one row per rule with one typed column per
scalar parameter; `rule_lists`: one row per list item or map entry). A backtest compiles a candidate
into its own schema, so the stored verdicts never see it. `policy.versions` keeps every version
ever published, and `policy.kill_switch` the halt/resume decisions (see killswitch.py).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from crmguard.errors import BadInput
from crmguard.policy.library import KINDS, scalar_columns
from crmguard.policy.loader import Policy, Rule
from crmguard.warehouse import quote_ident

ACTIVE_SCHEMA = "policy"

_FLAG_INCIDENTS = {"legal_hold": "legal_hold_contacted", "security_incident_open": "security_incident_contacted"}


def incident_kind(rule: Rule) -> str | None:
    """The incident kind a rule's violations are filed under: explicit, else the kind's default."""
    if rule.incident_kind:
        return rule.incident_kind
    if rule.kind == "account_flag":
        return _FLAG_INCIDENTS[rule.params["flag"]]
    return KINDS[rule.kind].incident_kind


def _list_params(rule: Rule) -> dict[str, Any]:
    """List and map parameters as stored in rule_lists; a permissions role is its applicability list."""
    params = {k: v for k, v in rule.params.items() if isinstance(v, list | dict)}
    if rule.kind == "permissions":
        params["agent_roles"] = [rule.params["role"]]
    return params


def _list_rows(policy: Policy) -> list[tuple]:
    rows: list[tuple] = []
    for rule in policy.rules:
        for param, value in sorted(_list_params(rule).items()):
            if isinstance(value, dict):
                entries = [(key, item) for key, items in value.items() for item in ([items] if isinstance(items, str) else items)]
            else:
                entries = [(None, item) for item in value]
            rows += [(policy.version, rule.rule_id, param, pos, key, item) for pos, (key, item) in enumerate(entries)]
    return rows


def _rule_rows(policy: Policy, columns: list[str]) -> list[tuple]:
    return [
        (
            policy.version, rule.rule_id, rule.kind, incident_kind(rule), rule.severity, rule.enabled,
            rule.description, policy.path, rule.line, json.dumps(rule.params, sort_keys=True),
            *[rule.params.get(col) if not isinstance(rule.params.get(col), list | dict) else None for col in columns],
        )
        for rule in policy.rules
    ]


def _create_tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    """(Re)create the rule tables of `schema`; returns the scalar parameter columns in order."""
    columns = scalar_columns()
    s = quote_ident(schema)
    typed = "".join(f",\n  {quote_ident(name)} {sql}" for name, sql in columns.items())
    con.execute(f"create schema if not exists {s}")
    con.execute(
        f"""create or replace table {s}.rules (
  policy_version varchar not null, rule_id varchar not null, rule_kind varchar not null,
  incident_kind varchar, severity varchar not null, enabled boolean not null, description varchar,
  source_file varchar, source_line integer, params json{typed},
  primary key (policy_version, rule_id))"""
    )
    con.execute(
        f"""create or replace table {s}.rule_lists (
  policy_version varchar not null, rule_id varchar not null, param varchar not null,
  position integer not null, key varchar, value varchar not null)"""
    )
    return list(columns)


def ensure_control_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The tables of schema `policy` that outlive any one policy version."""
    con.execute(f"create schema if not exists {ACTIVE_SCHEMA}")
    con.execute(
        f"""create table if not exists {ACTIVE_SCHEMA}.versions (
  policy_version varchar primary key, name varchar, source_file varchar, sha256 varchar,
  rule_count integer, first_published_at timestamp, last_published_at timestamp)"""
    )
    con.execute(
        f"""create table if not exists {ACTIVE_SCHEMA}.kill_switch (
  decision_id varchar primary key, decision varchar not null, scope varchar not null,
  scope_value varchar not null, reason varchar not null, decided_by varchar not null,
  decided_at timestamp not null)"""
    )


def compile_policy(con: duckdb.DuckDBPyConnection, policy: Policy, schema: str = ACTIVE_SCHEMA) -> None:
    """Replace the rule tables of `schema` with `policy`, in one transaction."""
    con.execute("begin")
    try:
        ensure_control_tables(con)
        columns = _create_tables(con, schema)
        s = quote_ident(schema)
        marks = ", ".join(["?"] * (10 + len(columns)))
        con.executemany(f"insert into {s}.rules values ({marks})", _rule_rows(policy, columns))
        lists = _list_rows(policy)
        if lists:
            con.executemany(f"insert into {s}.rule_lists values (?, ?, ?, ?, ?, ?)", lists)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def publish_policy(con: duckdb.DuckDBPyConnection, policy: Policy) -> None:
    """Make `policy` the active one (what `crmguard build` evaluates) and record its version.

    A version string names one set of rules forever (verdicts record it), so publishing different
    rules under a version already published is refused.
    """
    ensure_control_tables(con)
    row = con.execute(
        f"select sha256, source_file from {ACTIVE_SCHEMA}.versions where policy_version = ?", [policy.version]
    ).fetchone()
    if row and row[0] != policy.sha256:
        raise BadInput(
            f"{policy.path}: policy version '{policy.version}' was already published with different rules "
            f"(from {row[1]}); give the changed policy a new `version:`"
        )
    compile_policy(con, policy, ACTIVE_SCHEMA)
    con.execute(
        f"""insert into {ACTIVE_SCHEMA}.versions values (?, ?, ?, ?, ?, now()::timestamp, now()::timestamp)
        on conflict (policy_version) do update set last_published_at = excluded.last_published_at,
          sha256 = excluded.sha256, source_file = excluded.source_file, rule_count = excluded.rule_count""",
        [policy.version, policy.name, policy.path, policy.sha256, len(policy.rules)],
    )
