"""CLI commands: run (stub until issue 5 lands)."""

from __future__ import annotations

from crmguard.cli import app
from crmguard.cli.common import not_available


@app.command("run")
def run_command() -> None:
    """Not available yet (issue 5)."""
    not_available("issue 5")
