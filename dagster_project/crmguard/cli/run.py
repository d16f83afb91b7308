"""CLI command: run (the scheduled job in one call: ingest the landing folder, build, check)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmguard.cli import app
from crmguard.cli.common import JsonOpt, WarehouseOpt, emit, progress
from crmguard.errors import EXIT_CHECK_FAILED
from crmguard.export.chain import seal_warehouse
from crmguard.ingest import ingest_paths
from crmguard.paths import landing_dir, warehouse_path
from crmguard.transform import build
from crmguard.warehouse import publish


@app.command("run")
def run_command(
    landing: Annotated[
        Path | None,
        typer.Option("--landing", envvar="CRMGUARD_LANDING", show_default=False,
                     help="Landing folder (default ./data/landing; env CRMGUARD_LANDING)."),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Full sweep of the integrity suites.")] = False,
    mapping: Annotated[str | None, typer.Option(
        "--mapping", envvar="CRMGUARD_MAPPING", metavar="salesforce|hubspot|FILE", show_default=False,
        help="Landed snapshot folders are CRM exports mapped by this mapping (docs/mappings.md; "
             "env CRMGUARD_MAPPING, which the Dagster job reads too).")] = None,
    tool_mapping: Annotated[Path | None, typer.Option(
        "--tool-mapping", envvar="CRMGUARD_TOOL_MAPPING", metavar="FILE", show_default=False,
        help="Per-tool mapping for OTLP traces (docs/otel.md; env CRMGUARD_TOOL_MAPPING).")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The scheduled job in one call: ingest the landing folder, dbt build, integrity checks.

    The same steps the Dagster schedule and sensor run (job `crmguard_run`). Files already loaded
    are skipped, so running it again is cheap. At the end it publishes a read-only copy of the
    warehouse (published/warehouse.duckdb beside it) that read commands use while a run is writing. Exit 1 when a dbt test or a critical expectation
    failed, 2 on bad input.

    \b
    Examples:
      crmguard run
      CRMGUARD_LANDING=/srv/agent-logs crmguard run --json
      crmguard run --landing data/demo/world --warehouse data/demo/warehouse.duckdb
      CRMGUARD_MAPPING=salesforce crmguard run --landing /srv/sfdc-exports
    """
    from crmguard.quality.runner import run_checks  # Great Expectations is slow to import

    target = warehouse_path(warehouse)
    folder = landing_dir(landing)
    folder.mkdir(parents=True, exist_ok=True)
    progress(f"crmguard run: ingesting {folder}")
    ingested = ingest_paths(target, [folder], progress=progress, mapping=mapping, tool_mapping=tool_mapping)
    progress("crmguard run: dbt build")
    built = build(target, on_line=None)
    progress("crmguard run: integrity checks" + (" (full sweep)" if full else ""))
    checked = run_checks(target, None, full=full)
    sealed = seal_warehouse(target) if built.success else None  # chain covers facts and check results
    result = {
        "warehouse": str(target),
        "ingest": {k: v for k, v in ingested.to_json().items() if k != "files"},
        "build": built.as_dict(),
        "check": checked.to_json(),
        "audit_seal": sealed,
        "published": str(publish(target)),
        "success": built.success and checked.success,
    }
    emit(result, as_json, _print_summary)
    if not result["success"]:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _print_summary(result: dict) -> None:
    ingest, build_, check = result["ingest"], result["build"], result["check"]
    typer.echo(f"ingest: loaded {ingest['loaded']}, rejected {ingest['rejected']}, "
               f"duplicates {ingest['duplicates']}, skipped files {ingest['skipped_files']}")
    typer.echo(f"build:  {'ok' if build_['success'] else 'FAILED'} ({len(build_['failures'])} failures, "
               f"{build_['elapsed_seconds']} s)")
    failed = [f"{s['name']}: {f['expectation']}" for s in check["suites"] for f in s["failed"]]
    typer.echo(f"check:  {'ok' if check['success'] else 'FAILED'}" + (f" ({'; '.join(failed)})" if failed else ""))
