"""Shared fixtures: a small generated world, ingested and built into a temporary warehouse.

The world is made through the public command line (`crmguard generate`, `crmguard ingest`) and the
real dbt build, exactly as a user would, so every test that reads the marts reads real output.
`built_world` is built once per session and must be treated as read-only; a test that writes uses
`world_factory` to get its own.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from crmguard.transform import build

CRMGUARD = str(Path(sys.executable).parent / "crmguard")
# dagster-dbt looks for `dbt` on PATH (STACK.md): put this environment's first, even when unactivated.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

# Small enough for 2 shared cores, big enough for the generator to place every incident kind.
WORLD_ACCOUNTS = 300
WORLD_DAYS = 5


@dataclass(frozen=True)
class World:
    """A generated world: its input folder, its ground truth and a warehouse built from it."""

    root: Path
    ground_truth: Path
    warehouse: Path


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `crmguard ARGS`; fail the test with its stderr when it does not exit 0."""
    proc = subprocess.run([CRMGUARD, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"crmguard {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


def make_world(folder: Path, seed: int = 7, incidents: str = "all", accounts: int = WORLD_ACCOUNTS,
               days: int = WORLD_DAYS) -> World:
    """Generate, ingest and build a world under `folder` (warehouse at folder/wh/warehouse.duckdb)."""
    root = folder / "world"
    warehouse = folder / "wh" / "warehouse.duckdb"
    run_cli("generate", "--out", str(root), "--seed", str(seed), "--accounts", str(accounts),
            "--days", str(days), "--incidents", incidents)
    run_cli("ingest", str(root), "--warehouse", str(warehouse))
    result = build(warehouse)
    assert result.success, result.failures
    return World(root=root, ground_truth=root / "ground_truth.jsonl", warehouse=warehouse)


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """Parse the dbt project once per test run (prepare_if_dev does nothing under pytest, STACK.md).

    `make test` runs two pytest-xdist workers: the first to get here writes dbt_project/target under a
    file lock and leaves a marker for this run, so the other never rewrites the manifest while the
    first one's Dagster definitions read it.
    """
    from crmguard.project import dbt_project

    target = Path(dbt_project.project_dir) / "target"
    target.mkdir(parents=True, exist_ok=True)
    marker = target / f".prepared-{os.environ.get('PYTEST_XDIST_TESTRUNUID', f'serial-{os.getpid()}')}"
    with open(target / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            for old in target.glob(".prepared-*"):
                old.unlink()
            dbt_project.preparer.prepare(dbt_project)
            marker.touch()
    return dbt_project.manifest_path


@pytest.fixture(scope="session")
def built_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """One small world with every incident kind, built once per session (read-only for tests)."""
    return make_world(tmp_path_factory.mktemp("built_world"))


@pytest.fixture
def world_factory(tmp_path: Path):
    """Make a private world: world_factory(seed=..., incidents=...)."""
    def factory(**kwargs) -> World:
        return make_world(tmp_path / f"world-{len(list(tmp_path.iterdir()))}", **kwargs)
    return factory
