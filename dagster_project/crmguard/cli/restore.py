"""CLI commands: restore (stub until issue 6 lands)."""

from __future__ import annotations

from crmguard.cli import app
from crmguard.cli.common import not_available


@app.command("restore")
def restore_command() -> None:
    """Not available yet (issue 6)."""
    not_available("issue 6")
