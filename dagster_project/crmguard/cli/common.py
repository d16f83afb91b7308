"""Options and output shared by every command: --warehouse, --json, one-line errors, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from crmguard.errors import NotAvailableYet

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


def not_available(issue: str) -> None:
    raise NotAvailableYet(f"this command is not available yet (planned in {issue})")
