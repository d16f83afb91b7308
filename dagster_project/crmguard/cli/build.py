"""CLI commands: build (stub until issue 3 lands)."""

from __future__ import annotations

from crmguard.cli import app
from crmguard.cli.common import not_available


@app.command("build")
def build_command() -> None:
    """Not available yet (issue 3)."""
    not_available("issue 3")


@app.command("changes")
def changes_command() -> None:
    """Not available yet (issue 3)."""
    not_available("issue 3")


@app.command("runs")
def runs_command() -> None:
    """Not available yet (issue 3)."""
    not_available("issue 3")


@app.command("score")
def score_command() -> None:
    """Not available yet (issue 3)."""
    not_available("issue 3")
