"""CLI command: ingest (action logs, OTLP traces and CRM snapshots into the raw layer, exactly once)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmguard.cli import app
from crmguard.cli.common import JsonOpt, WarehouseOpt, emit, progress
from crmguard.errors import BadInput
from crmguard.ingest import IngestResult, ingest_paths


@app.command("ingest")
def ingest_command(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="Files or folders to ingest.", show_default=False)],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
    mapping: Annotated[str | None, typer.Option(
        "--mapping", metavar="salesforce|hubspot|FILE", show_default=False,
        help="Snapshot folders hold CRM exports mapped by this mapping (docs/mappings.md).")] = None,
    tool_mapping: Annotated[Path | None, typer.Option(
        "--tool-mapping", metavar="FILE", show_default=False,
        help="Per-tool target/changes mapping for OTLP traces (default: the built-in one, docs/otel.md).")] = None,
) -> None:
    """Load action logs, OTLP traces and CRM snapshots into the warehouse, exactly once.

    Each PATH is an action log (.jsonl, .jsonl.gz), an OTLP trace file (*.otlp.json[l][.gz]), a
    snapshot folder crm/<YYYYMMDDTHHMMSSZ>/ (manifest.json + one file per object), or a folder searched
    for all of these. A file whose bytes were loaded before is skipped; every file loads in one
    transaction. Bad lines are rejected with a reason into raw.rejects and the run still succeeds.

    Exit codes: 0 loaded (rejected lines are data, reported in the counts); 2 a path does not exist, the
    warehouse is locked, or a whole input was refused (broken snapshot, unreadable gzip: the other
    inputs are still loaded).

    \b
    Examples:
      crmguard ingest data/demo                      # a generator output folder
      crmguard ingest logs/2026-01-05.jsonl.gz --json
      crmguard ingest data/demo/crm/20260105T000000Z --warehouse /tmp/w/warehouse.duckdb
      crmguard ingest traces/agents.otlp.jsonl       # OpenTelemetry GenAI traces (docs/otel.md)
      crmguard ingest --mapping salesforce exports/crm/20260105T000000Z   # Account.csv, Contact.csv, ...
      crmguard ingest --mapping my-crm.yml exports/crm                   # your own mapping file
    """
    result = ingest_paths(warehouse, paths, progress=progress, mapping=mapping, tool_mapping=tool_mapping)
    emit(result.to_json(), as_json, lambda _: _print_table(result))
    if result.refused:
        first = result.refused[0]
        more = f" (and {len(result.refused) - 1} more)" if len(result.refused) > 1 else ""
        raise BadInput(f"refused {first.path}: {first.error}{more}")


def _print_table(result: IngestResult) -> None:
    """A compact table: one row per input, then the totals."""
    rows = [(f.status, f.lines, f.loaded, f.rejected, f.duplicates, f.path) for f in result.files]
    header = ("status", "lines", "loaded", "rejected", "duplicates", "path")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        cells = [str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(row, widths, strict=False))]
        typer.echo("  ".join([*cells, str(row[5])]))
    totals = result.to_json()
    typer.echo(f"loaded {totals['loaded']}, rejected {totals['rejected']}, duplicates {totals['duplicates']}, "
               f"skipped files {totals['skipped_files']}")
