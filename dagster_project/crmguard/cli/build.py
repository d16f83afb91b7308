"""CLI commands of the audit warehouse: build, changes, runs, score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmguard import transform
from crmguard.cli import app
from crmguard.cli.common import JsonOpt, WarehouseOpt, emit, parse_since, progress, query_mart
from crmguard.export.chain import seal_warehouse
from crmguard.paths import warehouse_path
from crmguard.score import score


def _print_build(result: dict) -> None:
    counts = result["counts"]
    parts = [f"{sum(v.values())} {kind}s ({', '.join(f'{n} {s}' for s, n in sorted(v.items()))})"
             for kind, v in sorted(counts.items())]
    typer.echo(f"dbt build of {result['warehouse']} in {result['elapsed_seconds']}s: " + "; ".join(parts))
    for failure in result["failures"]:
        typer.echo(f"  {failure['status']}: {failure['node']}: {failure['message']}")


@app.command("build")
def build_command(
    warehouse: WarehouseOpt = None,
    select: Annotated[list[str] | None, typer.Option("--select", "-s", help="dbt selector (repeatable).")] = None,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Rebuild incremental facts from scratch.")] = False,
    unit_tests: Annotated[bool, typer.Option(
        "--unit-tests", help="Also run the dbt unit tests (the SQL against fixed inputs; for changes to the models).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run dbt build on the warehouse: staging, audit facts, SCD2 history, snapshots, flags, tests.

    The dbt unit tests check the models' SQL, not the data, so they run only with --unit-tests (and in
    the test suite). Exit 1 when a dbt test fails or a model errors, 2 when dbt cannot run.

    Examples:

      crmguard build

      crmguard build --warehouse data/warehouse.duckdb --json

      crmguard build --select fct_change_attribution+ --full-refresh

      crmguard build --unit-tests
    """
    path = warehouse_path(warehouse)
    progress(f"building {path} with dbt ...")
    result = transform.build(path, select or (), full_refresh, on_line=progress, unit_tests=unit_tests)
    summary = result.as_dict()
    if result.success:  # the tamper-evident chain covers what this build produced (docs/export.md)
        summary["audit_seal"] = seal_warehouse(path)
    for failure in summary["failures"]:
        failure["message"] = failure["message"].strip().splitlines()[0] if failure["message"].strip() else ""
    emit(summary, as_json, _print_build)
    if not result.success:
        raise typer.Exit(1)


def _print_rows(key: str, columns: list[str]):
    def render(result: dict) -> None:
        typer.echo(f"{result['count']} {key}")
        for row in result[key]:
            typer.echo("  " + "  ".join(f"{c}={row[c]}" for c in columns))
    return render


@app.command("changes")
def changes_command(
    unexplained: Annotated[bool, typer.Option("--unexplained", help="Only changes no call, human or restore explains.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Only windows ending at or after this UTC time.")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List observed CRM changes with their attributed cause (fct_change_attribution).

    Examples:

      crmguard changes --unexplained

      crmguard changes --unexplained --since 2026-01-05 --json
    """
    at = parse_since(since)
    sql = """
        select object_type, object_id, field, change_type, old_value, new_value, window_start, window_end,
               updated_by, cause, rule, event_id, agent_id, run_id
        from main.fct_change_attribution
        where record_type = 'observed_change'
          and (not ? or cause = 'unexplained')
          and (cast(? as timestamp) is null or window_end >= cast(? as timestamp))
        order by window_end, object_type, object_id, field nulls first
    """
    rows = query_mart(warehouse, "fct_change_attribution", sql, [unexplained, at, at])
    emit({"changes": rows, "count": len(rows)}, as_json,
         _print_rows("changes", ["window_end", "object_type", "object_id", "field", "old_value", "new_value",
                                 "updated_by", "cause"]))


@app.command("runs")
def runs_command(
    failed: Annotated[bool, typer.Option("--failed", help="Only runs that failed (failed or failed_mid_way).")] = False,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List agent runs with their status and actions by outcome (fct_agent_runs).

    Examples:

      crmguard runs --failed

      crmguard runs --json
    """
    sql = """
        select run_id, agent_id, agent_version, started_at, finished_at, status, steps, actions_succeeded,
               actions_failed, actions_blocked, actions_skipped, first_failed_event_id, failed_after_write_event_id
        from main.fct_agent_runs
        where not ? or status in ('failed', 'failed_mid_way')
        order by started_at, run_id
    """
    rows = query_mart(warehouse, "fct_agent_runs", sql, [failed])
    emit({"runs": rows, "count": len(rows)}, as_json,
         _print_rows("runs", ["run_id", "agent_id", "status", "started_at", "actions_failed", "first_failed_event_id"]))


def _print_score(result: dict) -> None:
    typer.echo(f"{'kind':34} {'expected':>8} {'found':>6} {'missed':>6} {'false+':>6} {'prec':>6} {'recall':>6}")
    for kind, k in sorted(result["kinds"].items()):
        typer.echo(f"{kind:34} {k['expected']:>8} {k['found']:>6} {k['missed']:>6} {k['false_positives']:>6} "
                   f"{k['precision']:>6.2f} {k['recall']:>6.2f}")
    typer.echo(f"overall precision {result['precision']:.2f} recall {result['recall']:.2f}")


@app.command("score")
def score_command(
    ground_truth: Annotated[Path, typer.Argument(help="ground_truth.jsonl written by `crmguard generate`.")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare what the warehouse flagged (fct_flags) with a generator's ground truth.

    Per incident kind: expected, found, missed, false positives, precision, recall; then overall.
    A flag matches an incident of its kind by event id or by object reference.

    Examples:

      crmguard score data/demo/ground_truth.jsonl

      crmguard score world/ground_truth.jsonl --warehouse world/warehouse.duckdb --json
    """
    emit(score(ground_truth, warehouse), as_json, _print_score)

