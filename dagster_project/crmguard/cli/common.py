"""Options and output shared by every command: --warehouse, --json, one-line errors, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from crmguard.errors import BadInput, NotAvailableYet
from crmguard.warehouse import connect, table_exists

WarehouseOpt = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        envvar="CRMGUARD_WAREHOUSE",
        help="Warehouse file (default ./data/warehouse.duckdb; env CRMGUARD_WAREHOUSE).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def emit(result: Any, as_json: bool, human: Callable[[Any], None] | None = None) -> None:
    """Print a result as canonical JSON (sorted keys, stable) or through the human renderer."""
    if as_json or human is None:
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    else:
        human(result)


def progress(message: str) -> None:
    """Progress for long work goes to stderr so --json output stays clean."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def parse_since(since: str | None) -> datetime | None:
    """--since as a naive UTC datetime (the warehouse stores UTC); a time without offset is UTC."""
    if since is None:
        return None
    try:
        at = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"--since {since!r} is not an ISO 8601 time (e.g. 2026-01-05 or 2026-01-05T12:00:00Z)") from None
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def query_mart(warehouse: str | None, table: str, sql: str, params: list) -> list[dict]:
    """Rows of a read-only query on a mart as dicts; a clear error when the mart is not built yet."""
    with connect(warehouse, read_only=True) as con:
        if not table_exists(con, "main", table):
            raise BadInput(f"the warehouse has no {table} yet: run `crmguard build` first")
        cursor = con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def not_available(issue: str) -> None:
    raise NotAvailableYet(f"this command is not available yet (planned in {issue})")
