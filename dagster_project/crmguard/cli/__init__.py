"""The `crmguard` command line. Each capability registers its commands from its own module."""

from __future__ import annotations

import sys

import typer

from crmguard import __version__
from crmguard.errors import CrmguardError

app = typer.Typer(
    name="crmguard",
    help=(
        "Governance warehouse for autonomous CRM agents: what the agents did, who authorized it, "
        "which rules it broke, whether the CRM is intact, and how to undo it.\n\n"
        "Exit codes: 0 success, 1 a check or verification failed, 2 bad usage or bad input."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crmguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """crmguard command line."""


def _register() -> None:
    from crmguard.cli import (  # noqa: F401  (each module adds its commands to `app`)
        bench,
        build,
        check,
        crm,
        demo,
        export,
        generate,
        ingest,
        policy,
        restore,
        run,
    )


_register()


def main() -> None:
    """Entry point: one-line errors on stderr with the contract's exit codes."""
    try:
        rc = app(standalone_mode=False)
    except CrmguardError as exc:
        sys.stderr.write(f"crmguard: error: {exc}\n")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("crmguard: aborted\n")
        sys.exit(2)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            sys.stderr.write(f"crmguard: error: {exc.format_message()}\n")
            sys.exit(2)
        raise
    sys.exit(rc if isinstance(rc, int) else 0)
