"""Backtest a candidate policy over the stored history without touching the stored verdicts.

The candidate is compiled into schema `policy_backtest` and the policy models are run by dbt with the
vars that point them at it and write into schema `policy_backtest_out`; the stored marts in `main`
are never written. The two violation sets are compared per rule, then both schemas are dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from crmguard import transform
from crmguard.errors import BadInput
from crmguard.policy.compile import compile_policy
from crmguard.policy.loader import Policy
from crmguard.warehouse import connect, table_exists

CANDIDATE_SCHEMA = "policy_backtest"
OUTPUT_SCHEMA = "policy_backtest_out"
SAMPLE = 5


@dataclass
class RuleDiff:
    """What one rule id would flag under the candidate that the current policy did not, and vice versa."""

    rule_id: str
    current: int = 0
    candidate: int = 0
    only_candidate: int = 0
    only_current: int = 0
    sample_only_candidate: list[str] = field(default_factory=list)
    sample_only_current: list[str] = field(default_factory=list)


_DIFF_SQL = """
with current_v as (
    select rule_id, event_id from main.fct_policy_violations where occurred_at >= ?
),
candidate_v as (
    select rule_id, event_id from {out}.fct_policy_violations where occurred_at >= ?
),
sides as (
    select coalesce(c.rule_id, n.rule_id) as rule_id, coalesce(c.event_id, n.event_id) as event_id,
           c.event_id is not null as in_current, n.event_id is not null as in_candidate
    from current_v as c
    full outer join candidate_v as n on n.rule_id = c.rule_id and n.event_id = c.event_id
)
select
    rule_id,
    count(*) filter (where in_current) as current,
    count(*) filter (where in_candidate) as candidate,
    count(*) filter (where in_candidate and not in_current) as only_candidate,
    count(*) filter (where in_current and not in_candidate) as only_current,
    list(event_id order by event_id) filter (where in_candidate and not in_current)[1:{n}] as sample_new,
    list(event_id order by event_id) filter (where in_current and not in_candidate)[1:{n}] as sample_gone
from sides
group by rule_id
order by rule_id
"""


def _require_current_verdicts(con: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    if not table_exists(con, "main", "fct_policy_violations"):
        raise BadInput(f"warehouse {warehouse} has no policy verdicts yet: run `crmguard build` first")


def _drop(con: duckdb.DuckDBPyConnection) -> None:
    for schema in (CANDIDATE_SCHEMA, OUTPUT_SCHEMA):
        con.execute(f"drop schema if exists {schema} cascade")


def _evaluate_candidate(warehouse: Path, candidate: Policy) -> None:
    """Compile the candidate into its own schema and build the policy models from it into another."""
    with connect(warehouse) as con:
        _require_current_verdicts(con, warehouse)
        _drop(con)
        compile_policy(con, candidate, CANDIDATE_SCHEMA)
    variables = {"crmguard_policy_schema": CANDIDATE_SCHEMA, "crmguard_policy_output_schema": OUTPUT_SCHEMA}
    result = transform.run_dbt(
        "run", warehouse, ["--select", "path:models/policy", "--vars", json.dumps(variables)]
    )
    if not result.success:
        first = result.failures[0]
        raise BadInput(f"backtest of {candidate.path} failed in {first['node']}: {first['message'].strip()[:300]}")


def backtest(warehouse: Path, candidate: Policy, since: datetime | None = None) -> dict:
    """Evaluate `candidate` over the stored history and compare its violations with the stored ones."""
    try:
        _evaluate_candidate(warehouse, candidate)
        with connect(warehouse) as con:
            floor = since or datetime(1970, 1, 1)
            rows = con.execute(_DIFF_SQL.format(out=OUTPUT_SCHEMA, n=SAMPLE), [floor, floor]).fetchall()
            current_version = con.execute("select max(policy_version) from main.fct_policy_verdicts").fetchone()[0]
    finally:
        with connect(warehouse) as con:
            _drop(con)
    diffs = {r[0]: RuleDiff(r[0], r[1], r[2], r[3], r[4], list(r[5] or []), list(r[6] or [])) for r in rows}
    for rule in candidate.rules:  # a candidate rule that flags nothing either way still gets its line
        diffs.setdefault(rule.rule_id, RuleDiff(rule.rule_id))
    rules = [diffs[k] for k in sorted(diffs)]
    return {
        "candidate": {"path": candidate.path, "version": candidate.version, "rules": len(candidate.rules)},
        "current_version": current_version,
        "since": since.isoformat() if since else None,
        "rules": [vars(r) for r in rules],
        "only_candidate": sum(r.only_candidate for r in rules),
        "only_current": sum(r.only_current for r in rules),
    }
