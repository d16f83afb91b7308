"""Run the dbt project against a warehouse: `crmguard build`, the Dagster job and tests share this.

dbt runs as a subprocess (the `dbt` executable of this environment), not in process: dbt-duckdb keeps
its DuckDB handle cached in the process, which breaks the next open of the same file with another
configuration, and a child process also keeps dbt's logging off our stdout. The warehouse folder
reaches dbt's profile through CRMGUARD_WAREHOUSE_DIR (the file name is fixed, STACK.md); each
warehouse folder gets its own dbt target directory so concurrent builds never share a manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from crmguard.errors import BadInput, CrmguardError
from crmguard.paths import DBT_PROJECT_DIR, WAREHOUSE_FILENAME
from crmguard.policy import publish_active_policy
from crmguard.warehouse import connect, copy_atomically, table_exists

WAREHOUSE_DIR_ENV = "CRMGUARD_WAREHOUSE_DIR"


class DbtFailed(CrmguardError):
    """dbt itself could not run (bad project, unreadable warehouse): exit 2 with dbt's own message."""


@dataclass
class BuildResult:
    """What one dbt invocation did, from its run_results.json."""

    command: str
    warehouse: str
    elapsed_seconds: float
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        return {
            "command": self.command,
            "warehouse": self.warehouse,
            "elapsed_seconds": round(self.elapsed_seconds, 2),
            "counts": self.counts,
            "failures": self.failures,
            "success": self.success,
        }


def dbt_executable() -> str:
    """The dbt next to this interpreter, so an unactivated venv still finds it (STACK.md)."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def dbt_env(warehouse: Path) -> dict[str, str]:
    """Environment of a dbt child process pointed at `warehouse` (its folder: the name is fixed)."""
    if warehouse.name != WAREHOUSE_FILENAME:
        raise BadInput(f"warehouse file must be named {WAREHOUSE_FILENAME} (dbt bakes the name in); got {warehouse}")
    return {**os.environ, WAREHOUSE_DIR_ENV: str(warehouse.parent)}


def target_dir(warehouse: Path) -> Path:
    """dbt's target folder for one warehouse: beside it, so builds of different warehouses never collide."""
    return warehouse.parent / "dbt_target"


def dagster_target_dir(warehouse: Path) -> Path:
    """dbt's target folder for the Dagster job's builds of one warehouse: beside it and kept from run to
    run, so dbt reuses its parse. dagster-dbt's default, a new folder per run inside the checkout, cost a
    whole parse and ~5 MB of the checkout every hourly run. Apart from the CLI's folder: dagster-dbt runs
    dbt in the project folder, so its profile names the warehouse by absolute path and parses differ."""
    return warehouse.parent / "dbt_target_dagster"


# dbt parses the whole project (3.5 s here) the first time it runs in a target folder, and reuses the
# parse afterwards (partial parsing). Every warehouse has its own target folder, so every new warehouse
# paid the whole parse. The latest parse of this checkout made by run_dbt is kept here and copied into a
# target folder that has none: dbt checks it as it checks its own (its version, the profile, vars, the
# project's files) and parses again what changed or everything, exactly as on a second build of one
# warehouse. The profile must then be the same for every warehouse: dbt runs in the warehouse's folder
# with CRMGUARD_WAREHOUSE_DIR=".". The Dagster job runs dbt through dagster-dbt and does not use this.
PARSE_FILE = "partial_parse.msgpack"
PARSE_SEED = DBT_PROJECT_DIR / "target" / "crmguard-parse" / PARSE_FILE


def _seed_parse(target: Path) -> None:
    """Give a target folder without a parse the latest one of this checkout (if any)."""
    own = target / PARSE_FILE
    if PARSE_SEED.exists() and not own.exists():
        _copy_atomically(PARSE_SEED, own)


def _keep_parse(target: Path, extra_args: Sequence[str]) -> None:
    """Keep the parse dbt just wrote as the seed of the next new target folder, unless it was made
    with `--vars` (the policy backtest): dbt would refuse it for any invocation without them."""
    own = target / PARSE_FILE
    if own.exists() and not any(arg == "--vars" or arg.startswith("--vars=") for arg in extra_args):
        _copy_atomically(own, PARSE_SEED)


def _copy_atomically(source: Path, destination: Path) -> None:
    """`copy_atomically`, but a read-only checkout just goes without the seed."""
    try:
        copy_atomically(source, destination)
    except OSError:
        pass


def prepare_for_build(warehouse: Path) -> None:
    """Refuse early, in one line, when there is nothing to build from (and say when the file is locked);
    then write the active policy's rule tables, which the verdicts read. One connection for both:
    opening the 50k-account warehouse twice cost 0.1-0.5 s of every build."""
    if not warehouse.exists():
        raise BadInput(f"warehouse {warehouse} does not exist: run `crmguard ingest PATH` first")
    with connect(warehouse) as con:
        if not table_exists(con, "raw", "agent_events") or not table_exists(con, "raw", "crm_snapshots"):
            raise BadInput(f"warehouse {warehouse} has no raw layer: run `crmguard ingest PATH` first")
        publish_active_policy(con)


def run_dbt(
    command: str,
    warehouse: Path,
    extra_args: Sequence[str] = (),
    on_line: Callable[[str], None] | None = None,
) -> BuildResult:
    """Run `dbt COMMAND` on the warehouse; stream dbt's log lines to `on_line`; summarise the results."""
    warehouse = warehouse.resolve()  # dbt runs in another folder: a relative path would name another file
    target = target_dir(warehouse)
    args = [
        dbt_executable(), command,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target),
        "--log-path", str(target / "logs"),
        "--no-use-colors",
        *extra_args,
    ]
    (target / "run_results.json").unlink(missing_ok=True)
    _seed_parse(target)
    proc = subprocess.Popen(  # in the warehouse's folder, so the profile's path is the same for all (PARSE_SEED)
        args, env={**dbt_env(warehouse), WAREHOUSE_DIR_ENV: "."}, cwd=warehouse.parent,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        if on_line:
            on_line(line)
    returncode = proc.wait()
    results_file = target / "run_results.json"
    if returncode in (0, 1):
        _keep_parse(target, extra_args)
    if returncode not in (0, 1) or not results_file.exists():
        reason = next((t for t in reversed(tail) if "error" in t.lower()), tail[-1] if tail else "no output")
        raise DbtFailed(f"dbt {command} could not run (exit {returncode}): {reason.strip()}")
    return summarise(command, warehouse, json.loads(results_file.read_text()))


def summarise(command: str, warehouse: Path, run_results: dict) -> BuildResult:
    """Counts per resource type and status, and every node that failed or errored."""
    result = BuildResult(command, str(warehouse), float(run_results.get("elapsed_time", 0.0)))
    for node in run_results.get("results", []):
        resource = node["unique_id"].split(".", 1)[0]
        status = str(node["status"])
        per_type = result.counts.setdefault(resource, {})
        per_type[status] = per_type.get(status, 0) + 1
        if status in ("error", "fail", "runtime error"):
            result.failures.append({"node": node["unique_id"], "status": status, "message": str(node.get("message") or "")})
    result.failures.sort(key=lambda f: f["node"])
    return result


# dbt unit tests check the models' SQL against fixed inputs, not the warehouse's data: the answer changes
# only when the code does, so the daily build leaves them out (dbt recommends running them in development
# and CI); `crmguard build --unit-tests` and the test suite run them.
NO_UNIT_TESTS = ("--exclude-resource-type", "unit_test")


def build(
    warehouse: Path,
    select: Sequence[str] = (),
    full_refresh: bool = False,
    on_line: Callable[[str], None] | None = None,
    unit_tests: bool = False,
) -> BuildResult:
    """`dbt build` (models, snapshots, tests) on the warehouse: what `crmguard build` and the job run.
    The dbt unit tests run only with `unit_tests` (see NO_UNIT_TESTS)."""
    prepare_for_build(warehouse)
    extra: list[str] = [] if unit_tests else list(NO_UNIT_TESTS)
    if select:
        extra += ["--select", *select]
    if full_refresh:
        extra.append("--full-refresh")
    return run_dbt("build", warehouse, extra, on_line)


@contextmanager
def warehouse_env(warehouse: Path) -> Iterator[None]:
    """Point dbt children started by this process (dagster-dbt copies os.environ) at `warehouse`."""
    previous = os.environ.get(WAREHOUSE_DIR_ENV)
    os.environ[WAREHOUSE_DIR_ENV] = dbt_env(warehouse)[WAREHOUSE_DIR_ENV]
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(WAREHOUSE_DIR_ENV, None)
        else:
            os.environ[WAREHOUSE_DIR_ENV] = previous
