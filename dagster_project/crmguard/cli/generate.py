"""CLI command: generate, a synthetic CRM world with agent activity, human edits and injected incidents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crmguard.cli import app
from crmguard.cli.common import JsonOpt, emit, progress
from crmguard.generate import GenerateConfig, generate_world, parse_incidents


def _human(summary: dict[str, Any]) -> None:
    incidents = summary["incidents"]
    typer.echo(f"wrote {summary['events']} action events in {summary['files']} daily files and "
               f"{summary['snapshots']} CRM snapshots to {summary['out']}")
    if incidents:
        typer.echo(f"injected {sum(incidents.values())} incidents (ground_truth.jsonl):")
        for kind, n in sorted(incidents.items()):
            typer.echo(f"  {kind:32s} {n}")
    else:
        typer.echo("clean world: no incident injected, ground_truth.jsonl is empty")


@app.command("generate")
def generate_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (created; an earlier world there is replaced).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same arguments, byte-identical output.")] = 7,
    accounts: Annotated[int, typer.Option("--accounts", help="Number of CRM accounts (>= 50).")] = 300,
    days: Annotated[int, typer.Option("--days", help="Days of agent activity (>= 3).")] = 14,
    agents: Annotated[int, typer.Option("--agents", help="Agents (>= 3; kinds cycle: outbound-sdr, lead-router, "
                                                         "deal-desk).")] = 3,
    incidents: Annotated[str, typer.Option("--incidents", help="all, none, or a comma list of incident kinds "
                                                               "(docs/incidents.md).")] = "all",
    as_json: JsonOpt = False,
) -> None:
    """Generate a realistic synthetic CRM world: action logs, CRM snapshots and ground_truth.jsonl.

    Writes OUT/actions/YYYY-MM-DD.jsonl (one file per UTC day), OUT/crm/<YYYYMMDDTHHMMSSZ>/ snapshots
    (daily at 00:00Z plus one second after each incident that shows in the CRM) and
    OUT/ground_truth.jsonl (one line per injected incident). Formats: docs/action-log.md,
    docs/snapshots.md; incident kinds: docs/incidents.md.

    Examples:

      crmguard generate --out data/landing/demo

      crmguard generate --out /tmp/clean --incidents none --seed 42

      crmguard generate --out /tmp/big --accounts 50000 --days 30 --json

      crmguard generate --out /tmp/w --incidents self_approval,dry_run_wrote
    """
    cfg = GenerateConfig(out=out.expanduser().resolve(), seed=seed, accounts=accounts, days=days, agents=agents,
                         incidents=parse_incidents(incidents))
    emit(generate_world(cfg, progress), as_json, _human)
