"""CLI commands: check (the integrity suites, issue 5) and its benchmark, `bench check`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crmguard.cli import app
from crmguard.cli.bench import bench_app
from crmguard.cli.common import JsonOpt, WarehouseOpt, emit, progress
from crmguard.errors import EXIT_CHECK_FAILED

if TYPE_CHECKING:  # Great Expectations takes seconds to import: load it only when a check runs
    from crmguard.quality.runner import CheckReport


@app.command("check")
def check_command(
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", help="Run only this suite (repeatable). Default: every suite in expectations/."),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Sweep every row instead of what changed since the last successful run.")] = False,
    gx_only: Annotated[bool, typer.Option(
        "--gx-only", help="Incremental runs: validate every expectation of a changed suite with GX, "
                          "without the SQL screen that hands GX only the flagged ones.")] = False,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the integrity suites (Great Expectations, in DuckDB SQL) and store the results.

    Incremental by default: each suite validates the rows changed since its last successful run
    (`--full` validates everything). An incremental run first counts every check's offending rows
    in one SQL query over the changed rows; GX validates the checks that query flags (all of them
    with `--gx-only`, every one on a full sweep). Results go to `fct_check_results`. Exit 1 when a critical
    expectation failed; warnings are printed but do not fail the run.

    Examples:

      crmguard check

      crmguard check --suite deals --suite contacts --full

      crmguard check --gx-only

      crmguard check --json --warehouse data/warehouse.duckdb
    """
    from crmguard.quality.runner import run_checks

    progress("crmguard check: validating suites" + (" (full sweep)" if full else ""))
    report = run_checks(warehouse, suite, full=full, progress=progress, prescreen=not gx_only)
    emit(report.to_json(), as_json, lambda _: _print_report(report))
    if not report.success:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _print_report(report: CheckReport) -> None:
    """One line per suite, one indented line per failed expectation with its evidence."""
    for suite in report.suites:
        verdict = "ok" if suite.success else "FAILED"
        typer.echo(f"{suite.name}: {verdict} ({suite.mode}, {suite.rows_checked} rows, "
                   f"{len(suite.outcomes)} expectations)")
        for failed in suite.failed:
            samples = ", ".join(failed.sample_ids) or "-"
            typer.echo(f"  {failed.severity} {failed.expectation}: observed {failed.observed}, "
                       f"{failed.unexpected_count} unexpected, sample: {samples}")
    failed_critical = sum(1 for s in report.suites for o in s.failed if o.severity == "critical")
    typer.echo(f"run {report.run_id}: " + ("all critical expectations passed" if report.success
                                            else f"{failed_critical} critical expectation(s) failed"))


@bench_app.command("check")
def bench_check_command(
    deals: Annotated[int, typer.Option("--deals", min=1, help="Rows in the deals table.")] = 1_000_000,
    accounts: Annotated[int, typer.Option("--accounts", min=1, help="Accounts (2 contacts each).")] = 50_000,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the temporary warehouse is built.")] = Path(
        "data/bench"),
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Runs of each timing; the best is reported.")] = 3,
    as_json: JsonOpt = False,
) -> None:
    """Every integrity suite, full and incremental, against the same checks as plain DuckDB SQL.

    ratio = GX full sweep seconds / plain SQL seconds, lower is better, target <= 3. The metric
    incremental_share_of_full (incremental run after a snapshot re-captured 1 % of the CRM, divided
    by the full sweep) has target < 0.10. Each timing is the best of --repeat runs (all_runs_s lists
    them). The warehouse is built under --data-dir and removed after.

    \b
    Examples:
      crmguard bench check                        # 1M deals on a 50k-account CRM
      crmguard bench check --deals 100000 --accounts 5000 --json
    """
    from crmguard.quality.bench import run

    result = run(deals, accounts, data_dir, progress, repeat)
    emit(result.to_json(), as_json, lambda _: typer.echo(result.render()))
