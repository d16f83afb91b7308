"""CLI commands: bench (stub until issue 2 lands)."""

from __future__ import annotations

from crmguard.cli import app
from crmguard.cli.common import not_available


@app.command("bench")
def bench_command() -> None:
    """Not available yet (issue 2)."""
    not_available("issue 2")
