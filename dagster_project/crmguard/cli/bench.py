"""CLI commands: bench (benchmarks printing figures and ratios against the raw engine).

Each benchmark is a subcommand of the `bench` group; `bench all` runs every one in
crmguard.bench.REGISTRY with its defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmguard.bench import REGISTRY
from crmguard.bench.timing import BenchResult, registered
from crmguard.cli import app
from crmguard.cli.common import JsonOpt, emit, progress

bench_app = typer.Typer(
    help="Benchmarks: figures and a headline ratio against the raw engine.\n\n"
         "`--json` prints {benchmark, metrics, ratio, target}; each subcommand's help says whether a higher "
         "or a lower ratio is better.\n\n"
         "\b\nExamples:\n  crmguard bench ingest --events 100000\n  crmguard bench all --json",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")


def _show(result: BenchResult, as_json: bool) -> None:
    emit(result.to_json(), as_json, lambda _: typer.echo(result.render()))


@bench_app.command("ingest")
def bench_ingest(
    events: Annotated[int, typer.Option("--events", min=1, help="Events in the generated log.")] = 1_000_000,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the log is generated and reused.")] = Path(
        "data/bench"),
    as_json: JsonOpt = False,
) -> None:
    """Ingest throughput against a bare DuckDB read_json of the same file.

    ratio = ingest events/s / read_json events/s, higher is better, target >= 0.5. Also reports the
    re-ingest of the same file (skipped by SHA-256) as a share of the first load (target < 0.10) and a
    redelivery of the same events under other bytes (all duplicates). The log is generated once under
    --data-dir and reused; each run uses a fresh temporary warehouse there.

    \b
    Examples:
      crmguard bench ingest                      # 1M events (about 0.7 GB)
      crmguard bench ingest --events 100000 --json
    """
    from crmguard.bench.ingest import run

    _show(run(events, data_dir, progress), as_json)


@bench_app.command("export")
def bench_export(
    actions: Annotated[int, typer.Option("--actions", min=1, help="Synthetic actions to export.")] = 1_000_000,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the temporary warehouse goes.")] = Path(
        "data/bench"),
    as_json: JsonOpt = False,
) -> None:
    """Export to Parquet and OCSF, then verify, against a bare DuckDB COPY of the same rows.

    ratio = Parquet export time (pseudonyms, file hashes, signed manifest) / bare COPY time, lower is
    better, target <= 2. Also prints seal, OCSF export, export verify and audit verify throughput.

    \b
    Examples:
      crmguard bench export                      # 1M actions
      crmguard bench export --actions 100000 --json
    """
    from crmguard.export.bench import run

    _show(run(actions, data_dir, progress), as_json)


@bench_app.command("policy")
def bench_policy(
    actions: Annotated[int, typer.Option("--actions", min=1, help="Actions to evaluate (a generated world, replicated).")] = 1_000_000,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the temporary warehouse goes.")] = Path(
        "data/bench"),
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Runs of each side; the best is compared.")] = 2,
    as_json: JsonOpt = False,
) -> None:
    """The default policy over --actions actions against the slowest single rule as a bare DuckDB query.

    ratio = policy models' execution time in dbt / slowest bare single-rule query, lower is better,
    target <= 3 (the rules share one point-in-time scan of the actions).

    \b
    Examples:
      crmguard bench policy                      # 1M actions
      crmguard bench policy --actions 200000 --json
    """
    from crmguard.policy.bench import run

    _show(run(actions, data_dir, progress, repeat), as_json)


@bench_app.command("build")
def bench_build(
    accounts: Annotated[int, typer.Option("--accounts", min=300, help="Accounts in the generated CRM.")] = 50_000,
    days: Annotated[int, typer.Option("--days", min=5, help="Days (daily snapshots) in the full build.")] = 30,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the world is generated and reused.")] = Path(
        "data/bench"),
    as_json: JsonOpt = False,
) -> None:
    """Full dbt build of --days days against an incremental build after one more day.

    ratio = incremental build time / full build time, lower is better, target < 0.15. Also prints
    "state of every deal as of T" through the SCD2 history against a bare DuckDB query over the raw
    snapshot files.

    \b
    Examples:
      crmguard bench build                       # 50k accounts, 30 days: 1M+ events
      crmguard bench build --accounts 300 --days 5 --json
    """
    from crmguard.transform.bench import run

    _show(run(accounts, days, data_dir, progress), as_json)


@bench_app.command("all")
def bench_all(as_json: JsonOpt = False) -> None:
    """Run every registered benchmark with its defaults, one result each (a JSON list with --json).

    \b
    Examples:
      crmguard bench all
      crmguard bench all --json
    """
    results = []
    for name in sorted(REGISTRY):
        progress(f"benchmark {name}")
        results.append(registered(name, REGISTRY)())
    emit([r.to_json() for r in results], as_json, lambda _: typer.echo("\n".join(r.render() for r in results)))
