"""The restore flows the CLI and Dagster share, so the two front doors can never disagree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import duckdb

from crmguard.crm.adapters import CrmAdapter
from crmguard.errors import BadInput, CheckFailed
from crmguard.restore.apply import apply_plan
from crmguard.restore.audit import ingest_action_log, write_action_log
from crmguard.restore.plan import PlanSummary, Scope, create_plan
from crmguard.warehouse import table_exists

SENSOR_PLANNER = "crmguard-sensor"


MAX_BATCH = 100  # HubSpot's batch limit


def apply_with_audit(con: duckdb.DuckDBPyConnection, plan_id: str, adapter: CrmAdapter, audit_dir: Path, *,
                     batch_size: int = 100, on_batch: Callable[[int, int], None] | None = None) -> dict:
    """Apply a plan, then put the restore job's writes into the audit trail through ingest.
    The CLI and the Dagster job share it, so they refuse the same batch sizes."""
    check_batch_size(batch_size)
    report = apply_plan(con, plan_id, adapter, batch_size=batch_size, on_batch=on_batch)
    log_path = write_action_log(con, plan_id, audit_dir)
    return asdict(report) | {"audit_log": str(log_path), "audit_ingested": ingest_action_log(con, log_path)}


def check_batch_size(batch_size: int) -> None:
    """Refuse a batch size the CRM would refuse (callers check it before opening a target)."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise BadInput(f"--batch-size (batch_size) must be between 1 and {MAX_BATCH} (HubSpot's batch limit)")


def raise_if_items_failed(applied: dict) -> None:
    """An apply that left items failed is not done: say so (exit 1 / a failed step) before any verify,
    which would store a `partial` receipt for a plan that a rerun of apply completes."""
    failed = applied["outcomes"].get("failed")
    if failed:
        raise CheckFailed(f"{failed} item(s) failed; see `crmguard restore show {applied['plan_id']}`, "
                          "then rerun apply to complete them")


def runs_breaking_critical_stops(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(run id, first rule id, violations) of runs with a critical violation of a stop rule.

    A stop rule is one that halts an agent (a rule id in fct_stops) or a call that ran past a stop
    (stop_id set). Empty until the policy marts exist; the restore job's own runs are never candidates.
    """
    if not table_exists(con, "main", "fct_policy_violations"):
        return []
    stop_rules = "or rule_id in (select rule_id from main.fct_stops)" if table_exists(con, "main", "fct_stops") else ""
    return con.execute(
        f"""
        select run_id, min(rule_id), count(*)::integer
        from main.fct_policy_violations
        where severity = 'critical' and run_id is not null and agent_id <> 'crmguard-restore'
          and (stop_id is not null {stop_rules})
        group by run_id order by run_id
        """
    ).fetchall()


def propose_plan(con: duckdb.DuckDBPyConnection, run_id: str) -> PlanSummary:
    """Plan (never apply) the undo of a run; ops review, a second ops user approves."""
    return create_plan(con, Scope(run_ids=(run_id,)), SENSOR_PLANNER, origin="sensor")
