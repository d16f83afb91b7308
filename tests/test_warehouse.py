"""The single-writer discipline: a locked warehouse gives a one-line error, readers use the published copy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from conftest import CRMGUARD
from crmguard.errors import WarehouseLocked
from crmguard.warehouse import connect, publish, published_copy


@contextmanager
def writer_holding(path: Path) -> Iterator[int]:
    """Another process with the warehouse open for writing (as a pipeline run would have)."""
    code = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait(timeout=10)


def make_warehouse(path: Path, marker: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("create or replace table marker as select ? as v", [marker])
    con.close()


def test_writer_lock_is_reported_with_the_holding_process(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    make_warehouse(warehouse, "live")
    with writer_holding(warehouse) as pid:
        with pytest.raises(WarehouseLocked, match=rf"process {pid}"):
            with connect(warehouse):
                pass
        done = subprocess.run([CRMGUARD, "runs", "--failed", "--warehouse", str(warehouse)],
                              capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "being written by" in done.stderr, done.stderr


def test_readers_fall_back_to_the_published_copy_while_a_run_writes(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    make_warehouse(warehouse, "published state")
    copy = publish(warehouse)
    assert copy == published_copy(warehouse) and copy.name == "warehouse.duckdb"
    make_warehouse(warehouse, "newer, unpublished state")
    with writer_holding(warehouse):
        with connect(warehouse, read_only=True) as con:
            assert con.execute("select v from marker").fetchone()[0] == "published state"
        with pytest.raises(WarehouseLocked):  # writers never get the copy
            with connect(warehouse):
                pass
    with connect(warehouse, read_only=True) as con:  # once the writer is gone, the live file again
        assert con.execute("select v from marker").fetchone()[0] == "newer, unpublished state"
