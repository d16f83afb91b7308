"""CLI commands: `export audit|verify`, `audit seal|verify`, `report` (issue 7)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from crmguard.cli import app
from crmguard.cli.common import JsonOpt, WarehouseOpt, emit, progress
from crmguard.errors import BadInput, CheckFailed
from crmguard.warehouse import connect

export_app = typer.Typer(
    help="Compliance export: signed, hash-chained audit exports and their verification.",
    no_args_is_help=True, rich_markup_mode=None,
)
audit_app = typer.Typer(
    help="The tamper-evident hash chain over the audit tables (schema `audit`).",
    no_args_is_help=True, rich_markup_mode=None,
)
app.add_typer(export_app, name="export")
app.add_typer(audit_app, name="audit")

KeyDirOpt = Annotated[
    str | None,
    typer.Option("--key-dir", envvar="CRMGUARD_HOME", show_default=False,
                 help="Key directory (signing and pseudonym keys; default ~/.config/crmguard; env CRMGUARD_HOME)."),
]


def parse_instant(value: str, flag: str) -> dt.datetime:
    """`2026-01-31` or RFC 3339 (`2026-01-31T12:00:00Z`, any offset) -> naive UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{flag} {value!r}: not a date or RFC 3339 time (e.g. 2026-01-31 or 2026-01-31T00:00:00Z)") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def parse_day(value: str | None, flag: str) -> dt.date | None:
    return parse_instant(value, flag).date() if value else None


@export_app.command("audit")
def export_audit_command(
    start: Annotated[str, typer.Option("--from", help="Window start, inclusive (date or RFC 3339, UTC).")],
    end: Annotated[str, typer.Option("--to", help="Window end, exclusive (date or RFC 3339, UTC).")],
    out: Annotated[Path, typer.Option("--out", help="New or empty directory to write the export into.")],
    file_format: Annotated[str, typer.Option("--format", help="parquet, csv, jsonl or ocsf.")] = "parquet",
    include_pii: Annotated[bool, typer.Option("--include-pii", help="Export emails and names in clear.")] = False,
    as_user: Annotated[str | None, typer.Option("--as", help="A `compliance` user (id or email) of dim_users; "
                                                "required with --include-pii, and logged.")] = None,
    key_dir: KeyDirOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export the audit tables of a window with a signed manifest (emails and names pseudonymized).

    \b
    Examples:
      crmguard export audit --from 2026-01-01 --to 2026-02-01 --out exports/2026-01
      crmguard export audit --from 2026-01-01 --to 2026-01-08 --format ocsf --out exports/siem-w1
      crmguard export audit --from 2026-01-01 --to 2026-01-02 --include-pii --as u-comp-1 --out exports/case-17
    """
    from crmguard.export.exporter import ExportRequest, export_audit
    from crmguard.export.keys import key_dir as resolve_key_dir

    if include_pii != (as_user is not None):
        raise BadInput("--include-pii and --as USER go together: personal data needs a named compliance user")
    request = ExportRequest(parse_instant(start, "--from"), parse_instant(end, "--to"), file_format,
                            out.resolve(), resolve_key_dir(key_dir), as_user)
    progress(f"exporting {request.start.isoformat()} .. {request.end.isoformat()} as {file_format} to {out}")
    with connect(warehouse, read_only=not include_pii) as con:
        result = export_audit(con, request)
    emit(result, as_json, _print_export)


def _print_export(result: dict) -> None:
    body = result["manifest"]
    for entry in body["files"]:
        typer.echo(f"{entry['path']}: {entry['rows']} rows, sha256 {entry['sha256']}")
    typer.echo(f"manifest {result['out']}/manifest.json (sequence {body['sequence']}, sha256 "
               f"{result['manifest_sha256']}), signed with key {body['signing_key']['fingerprint'][:16]}")


@export_app.command("verify")
def export_verify_command(
    dirs: Annotated[list[Path], typer.Argument(help="Export directories, oldest first (links are checked in order).")],
    public_key: Annotated[Path | None, typer.Option("--public-key", help="Pinned public key PEM "
                                                    "(default: signing_key.pub.pem in the key directory).")] = None,
    key_dir: KeyDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check signature, file hashes and row counts, and the chain of exports. Exit 1 on any finding.

    \b
    Examples:
      crmguard export verify exports/2026-01
      crmguard export verify exports/2026-01 exports/2026-02 --public-key auditor/crmguard.pub.pem
    """
    from crmguard.export.keys import PUBLIC_KEY
    from crmguard.export.keys import key_dir as resolve_key_dir
    from crmguard.export.verify import verify_exports

    key_path = public_key or resolve_key_dir(key_dir) / PUBLIC_KEY
    result = verify_exports([d.resolve() for d in dirs], key_path)
    emit(result, as_json, _print_verify)
    if not result["ok"]:
        raise CheckFailed("export verification failed: " + "; ".join(
            f"{r['dir']}: {r['findings'][0]}" for r in result["exports"] if r["findings"]))


def _print_verify(result: dict) -> None:
    for r in result["exports"]:
        status = "OK" if r["ok"] else "FAILED"
        typer.echo(f"{r['dir']}: {status} ({r.get('files', 0)} files, {r.get('rows', 0)} rows)")
        for finding in r["findings"]:
            typer.echo(f"  - {finding}")


@audit_app.command("seal")
def audit_seal_command(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """Compute and store the hash chain of every audit table (run after each build).

    \b
    Examples:
      crmguard audit seal
      crmguard audit seal --warehouse data/warehouse.duckdb --json
    """
    from crmguard.export.chain import seal

    with connect(warehouse) as con:
        result = seal(con)
    emit({"seal_id": result.seal_id, "tables": result.tables, "skipped": result.skipped}, as_json, _print_seal)


def _print_seal(result: dict) -> None:
    for name, t in sorted(result["tables"].items()):
        typer.echo(f"{name}: {t['rows']} rows over {t['days']} days, head {t['head']}")
    for name, why in sorted(result["skipped"].items()):
        typer.echo(f"{name}: skipped ({why})")
    typer.echo(f"seal {result['seal_id']} stored in schema audit")


@audit_app.command("verify")
def audit_verify_command(
    since: Annotated[str | None, typer.Option("--since", help="Only days from this date on (UTC).")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the hash chain and name the first altered, inserted or deleted row (exit 1).

    \b
    Examples:
      crmguard audit verify
      crmguard audit verify --since 2026-01-15 --json
    """
    from crmguard.export.tamper import verify

    with connect(warehouse, read_only=True) as con:
        result = verify(con, parse_day(since, "--since"))
    emit(result, as_json, _print_audit_verify)
    if not result["ok"]:
        raise CheckFailed(f"audit chain broken: {result['first']}")


def _print_audit_verify(result: dict) -> None:
    for name, rows in sorted(result["rows_checked"].items()):
        newer = result["rows_newer_than_seal"].get(name)
        typer.echo(f"{name}: {rows} rows checked" + (f" ({newer} newer than the seal, not yet sealed)" if newer else ""))
    typer.echo("chain intact" if result["ok"] else f"{len(result['findings'])} finding(s); first: {result['first']}")


@app.command("report")
def report_command(
    out: Annotated[Path, typer.Option("--out", help="HTML file to write (self-contained, no network).")] = Path(
        "report.html"),
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the governance report: activity, violations, approvals, changes, checks, restores, runs.

    \b
    Examples:
      crmguard report --out report.html
      crmguard report --out /tmp/governance.html --warehouse data/warehouse.duckdb --json
    """
    from crmguard.report.page import write_report

    with connect(warehouse, read_only=True) as con:
        result = write_report(con, out.resolve())
    emit(result, as_json, lambda r: typer.echo(f"report written to {r['out']} ({r['bytes']} bytes)"))
