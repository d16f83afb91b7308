"""CLI commands: violations (stub until issue 4 lands)."""

from __future__ import annotations

from crmguard.cli import app
from crmguard.cli.common import not_available


@app.command("violations")
def violations_command() -> None:
    """Not available yet (issue 4)."""
    not_available("issue 4")


@app.command("halt")
def halt_command() -> None:
    """Not available yet (issue 4)."""
    not_available("issue 4")


@app.command("resume")
def resume_command() -> None:
    """Not available yet (issue 4)."""
    not_available("issue 4")
