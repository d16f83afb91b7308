"""CLI commands: `crm serve|seed|export|writes`, the local CRM service (issue 6, docs/restore.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmguard.cli import app
from crmguard.cli.common import JsonOpt, emit

crm_app = typer.Typer(
    help="The local CRM service: a HubSpot CRM v3 API subset on 127.0.0.1 for the demo and the tests.",
    no_args_is_help=True, rich_markup_mode=None,
)
app.add_typer(crm_app, name="crm")

DataOpt = Annotated[Path, typer.Option("--data", help="Directory holding the service's database (crm.sqlite).")]


@crm_app.command("serve")
def serve_command(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0 picks a free one).")] = 8765,
    data: DataOpt = Path("data/crm"),
    faults: Annotated[str | None, typer.Option("--faults", help="Fault spec, e.g. "
                                               "'429=3,retry_after=1,500=5,timeout=7,lock=contacts/c1,rate=20'.")] = None,
    seed: Annotated[Path | None, typer.Option("--seed", help="Load this snapshot dir before serving.")] = None,
) -> None:
    """Serve the local CRM until Ctrl-C (loopback only).

    Fault kinds: 429=N[:M] (answer request N with 429 + Retry-After), retry_after=S, 500=N[:M],
    timeout=N[:M] (commit request N's write, then drop the connection), lock=OBJECT/ID[:...]
    (validation error on writes to that record), rate=R[/W] (at most R requests per W seconds).

    \b
    Examples:
      crmguard crm serve --data data/crm --seed data/demo/crm/20260108T000000Z
      crmguard crm serve --port 0 --data /tmp/crm --faults 429=3,500=5,timeout=7,rate=20
    """
    from crmguard.crm.server import serve_forever
    from crmguard.crm.store import CrmStore

    if seed is not None:
        store = CrmStore(data)
        store.seed(seed)
        store.close()
    serve_forever(data, faults, port)


@crm_app.command("seed")
def seed_command(
    snapshot: Annotated[Path, typer.Argument(help="A canonical snapshot dir crm/<YYYYMMDDTHHMMSSZ>/.")],
    data: DataOpt = Path("data/crm"),
    as_json: JsonOpt = False,
) -> None:
    """Replace the service's records with a canonical snapshot (CONTRACTS.md section 2).

    \b
    Examples:
      crmguard crm seed data/demo/crm/20260108T000000Z --data data/crm
    """
    from crmguard.crm.store import CrmStore

    store = CrmStore(data)
    try:
        counts = store.seed(snapshot)
    finally:
        store.close()
    emit({"data": str(data), "rows": counts}, as_json, lambda r: typer.echo(f"seeded {r['data']}: {r['rows']}"))


@crm_app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="Root to write crm/<YYYYMMDDTHHMMSSZ>/ under.")],
    data: DataOpt = Path("data/crm"),
    as_json: JsonOpt = False,
) -> None:
    """Export the service's live state as a canonical snapshot that `crmguard ingest` accepts.

    \b
    Examples:
      crmguard crm export --data data/crm --out data/landing
      crmguard ingest data/landing
    """
    from crmguard.crm.store import CrmStore

    store = CrmStore(data)
    try:
        path = store.export(out)
    finally:
        store.close()
    emit({"snapshot": str(path)}, as_json, lambda r: typer.echo(f"exported {r['snapshot']}"))


@crm_app.command("writes")
def writes_command(data: DataOpt = Path("data/crm"), as_json: JsonOpt = False) -> None:
    """Applied writes per idempotency key (objectWriteTraceId); any count above 1 is a duplicate write.

    \b
    Examples:
      crmguard crm writes --data data/crm --json
    """
    from crmguard.crm.store import CrmStore

    store = CrmStore(data)
    try:
        counts = store.write_counts()
    finally:
        store.close()
    duplicates = sorted(k for k, n in counts.items() if n > 1)
    emit({"keys": len(counts), "writes": sum(counts.values()), "duplicates": duplicates}, as_json,
         lambda r: typer.echo(f"{r['writes']} writes over {r['keys']} keys; duplicates: {r['duplicates'] or 'none'}"))
