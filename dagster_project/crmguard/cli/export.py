"""CLI commands: export (stub until issue 7 lands)."""

from __future__ import annotations

from crmguard.cli import app
from crmguard.cli.common import not_available


@app.command("export")
def export_command() -> None:
    """Not available yet (issue 7)."""
    not_available("issue 7")


@app.command("audit")
def audit_command() -> None:
    """Not available yet (issue 7)."""
    not_available("issue 7")


@app.command("report")
def report_command() -> None:
    """Not available yet (issue 7)."""
    not_available("issue 7")
