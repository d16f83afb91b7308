"""The governance report's figures, each one SQL query over the marts (no Python loops over events).

Every figure tolerates a missing table (the capability that builds it may not have run): it comes
back empty and the page says "not built yet". The same figures feed the HTML page and the Dagster
asset metadata, so the two can never disagree.

Definitions:
- violations: rows of `fct_policy_violations` (one per tool call x violated rule).
- gated actions: tool calls with an `approval_gate` verdict other than `not_applicable`; covered = the
  verdict is `pass` (approved, by the right role, by someone else, before expiry).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from crmguard.warehouse import table_exists


@dataclass
class Figures:
    """Everything the report shows; `headline` holds the key numbers (also Dagster metadata)."""

    headline: dict[str, int | float | None] = field(default_factory=dict)
    actions_by_day: list[dict] = field(default_factory=list)
    actions_by_agent: list[dict] = field(default_factory=list)
    violations_by_day: list[dict] = field(default_factory=list)
    violations_by_rule_agent: list[dict] = field(default_factory=list)
    approval_coverage: list[dict] = field(default_factory=list)
    unexplained_by_day: list[dict] = field(default_factory=list)
    unexplained_sample: list[dict] = field(default_factory=list)
    check_history: list[dict] = field(default_factory=list)
    restores: list[dict] = field(default_factory=list)
    top_runs: list[dict] = field(default_factory=list)
    run_evidence: dict[str, list[dict]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _has(con: duckdb.DuckDBPyConnection, name: str, figures: Figures) -> bool:
    schema, table = name.split(".")
    if table_exists(con, schema, table):
        return True
    figures.missing.append(name)
    return False


_VIOLATIONS = """
    select rule_id as rule, agent_id, run_id, event_id, occurred_at, tool_name, object_type, object_id,
           cast(occurred_at as date) as day
    from main.fct_policy_violations
"""


def collect(con: duckdb.DuckDBPyConnection, top_runs: int = 10) -> Figures:
    """Compute every figure of the report from the warehouse."""
    figures = Figures()
    if _has(con, "main.fct_agent_actions", figures):
        _actions(con, figures)
    if _has(con, "main.fct_policy_violations", figures):
        _violations(con, figures, top_runs)
    if _has(con, "main.fct_policy_verdicts", figures):
        _approvals(con, figures)
    if _has(con, "main.fct_change_attribution", figures):
        _unexplained(con, figures)
    if _has(con, "main.fct_check_results", figures):
        _checks(con, figures)
    if _has(con, "restore.plans", figures) and _has(con, "restore.receipts", figures):
        _restores(con, figures)
    return figures


def _actions(con: duckdb.DuckDBPyConnection, figures: Figures) -> None:
    figures.actions_by_day = _rows(con, """
        select cast(occurred_at as date) as day, agent_id, status, count(*) as actions
        from main.fct_agent_actions group by all order by day, agent_id, status""")
    figures.actions_by_agent = _rows(con, """
        select agent_id, count(*) as actions, count(*) filter (where status = 'succeeded') as succeeded,
               count(*) filter (where status = 'failed') as failed,
               count(*) filter (where status not in ('succeeded', 'failed')) as other,
               count(distinct run_id) as runs
        from main.fct_agent_actions group by agent_id order by agent_id""")
    figures.headline["actions"] = sum(r["actions"] for r in figures.actions_by_agent)
    figures.headline["agents"] = len(figures.actions_by_agent)


def _violations(con: duckdb.DuckDBPyConnection, figures: Figures, top_runs: int) -> None:
    figures.violations_by_day = _rows(con, f"""
        select day, rule, count(*) as violations from ({_VIOLATIONS}) where day is not null
        group by all order by day, rule""")
    figures.violations_by_rule_agent = _rows(con, f"""
        select rule, coalesce(agent_id, '(no agent action)') as agent_id, count(*) as violations
        from ({_VIOLATIONS}) group by all order by violations desc, rule, agent_id""")
    figures.top_runs = _rows(con, f"""
        select run_id, any_value(agent_id) as agent_id, count(*) as violations,
               count(distinct rule) as rules, string_agg(distinct rule, ', ' order by rule) as rule_list
        from ({_VIOLATIONS}) where run_id is not null group by run_id
        order by violations desc, run_id limit ?""", [top_runs])
    runs = [r["run_id"] for r in figures.top_runs]
    evidence = _rows(con, f"""
        select run_id, event_id, occurred_at, tool_name, rule, object_type, object_id
        from ({_VIOLATIONS}) where list_contains(?, run_id) order by run_id, occurred_at, event_id""", [runs])
    for row in evidence:
        figures.run_evidence.setdefault(row.pop("run_id"), []).append(row)
    figures.headline["violations"] = con.execute("select count(*) from main.fct_policy_violations").fetchone()[0]


def _approvals(con: duckdb.DuckDBPyConnection, figures: Figures) -> None:
    figures.approval_coverage = _rows(con, """
        select a.tool_name, count(*) as gated, count(*) filter (where v.verdict = 'pass') as covered,
               round(100.0 * count(*) filter (where v.verdict = 'pass') / count(*), 1) as coverage_pct
        from main.fct_policy_verdicts v
        join policy.rules r on r.policy_version = v.policy_version and r.rule_id = v.rule_id
        join main.fct_agent_actions a on a.event_id = v.event_id
        where r.rule_kind = 'approval_gate' and v.verdict <> 'not_applicable'
        group by a.tool_name order by a.tool_name""")
    gated = sum(r["gated"] for r in figures.approval_coverage)
    covered = sum(r["covered"] for r in figures.approval_coverage)
    figures.headline["gated_actions"] = gated
    figures.headline["approval_coverage_pct"] = round(100.0 * covered / gated, 1) if gated else None


def _unexplained(con: duckdb.DuckDBPyConnection, figures: Figures) -> None:
    base = "from main.fct_change_attribution where record_type = 'observed_change' and cause = 'unexplained'"
    figures.unexplained_by_day = _rows(con, f"""
        select cast(window_end as date) as day, count(*) as changes {base} group by all order by day""")
    figures.unexplained_sample = _rows(con, f"""
        select object_type, object_id, field, old_value, new_value, updated_by, window_end {base}
        order by window_end, object_type, object_id, field limit 25""")
    figures.headline["unexplained_changes"] = con.execute(f"select count(*) {base}").fetchone()[0]


def _checks(con: duckdb.DuckDBPyConnection, figures: Figures) -> None:
    figures.check_history = _rows(con, """
        select run_id, min(checked_at) as checked_at, count(*) as expectations,
               count(*) filter (where not success) as failed,
               count(*) filter (where not success and severity = 'critical') as failed_critical,
               string_agg(distinct suite, ', ' order by suite) as suites
        from main.fct_check_results group by run_id order by checked_at, run_id""")
    latest = figures.check_history[-1] if figures.check_history else None
    figures.headline["checks_failed_last_run"] = latest["failed"] if latest else None
    figures.headline["check_runs"] = len(figures.check_history)


def _restores(con: duckdb.DuckDBPyConnection, figures: Figures) -> None:
    figures.restores = _rows(con, """
        select p.plan_id, p.created_at, p.status as plan_status, p.item_count, r.receipt_id, r.verified_at,
               r.status as receipt_status, r.counts::varchar as counts
        from restore.plans p left join restore.receipts r using (plan_id)
        order by p.created_at, p.plan_id, r.verified_at""")
    figures.headline["restores"] = len({r["plan_id"] for r in figures.restores})
