"""Access to the DuckDB warehouse and the single-writer discipline.

DuckDB allows one writing process per file; while it writes, nobody else can open the file. Every
connection here pins the session time zone to UTC, so stored and printed times never depend on TZ.
When the file is locked we say which process holds it instead of surfacing a DuckDB traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from crmguard.errors import BadInput, WarehouseLocked
from crmguard.paths import WAREHOUSE_FILENAME, warehouse_path

_LOCK_PID = re.compile(r"PID (\d+)")


def published_copy(path: Path) -> Path:
    """Where the read-only copy for readers lives: beside the warehouse, same file name (dbt needs it)."""
    return path.parent / "published" / WAREHOUSE_FILENAME


def _locked(path: Path, exc: duckdb.IOException) -> WarehouseLocked:
    pid = _LOCK_PID.search(str(exc))
    holder = f"process {pid.group(1)}" if pid else "another process"
    return WarehouseLocked(
        f"warehouse {path} is being written by {holder}; wait for it to finish (or stop it), then retry"
    )


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    if read_only and not path.exists():
        raise BadInput(f"warehouse {path} does not exist yet: run `crmguard ingest PATH` or `crmguard run` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        copy = published_copy(path)
        if not (read_only and copy.exists()):
            raise _locked(path, exc) from None
        # A reader must not fail because a scheduled run is writing: read the last published state.
        sys.stderr.write(f"crmguard: note: {path} is being written; reading the copy published by the last run ({copy})\n")
        con = duckdb.connect(str(copy), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con


def publish(path: str | Path | None = None) -> Path:
    """Publish a read-only copy of the warehouse for readers: checkpoint, copy, then atomic rename.

    Call it with no connection open (the end of a pipeline run). Readers that find the warehouse locked
    by a writer fall back to this copy (see `connect`), so analysts never wait for the pipeline.
    """
    source = warehouse_path(path)
    target = published_copy(source)
    with connect(source) as con:  # held through the copy: no other process can write the file meanwhile
        con.execute("CHECKPOINT")
        copy_atomically(source, target)
    return target


def copy_atomically(source: Path, destination: Path) -> None:
    """Copy beside the destination under a name of its own, then rename over it: a concurrent reader
    sees the old file or the new one, never half of one, and two copiers never share a staging file."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    os.close(handle)
    try:
        shutil.copyfile(source, staging)
        os.replace(staging, destination)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


@contextmanager
def connect(path: str | Path | None = None, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection to the warehouse, closed on exit (":memory:" for a scratch database)."""
    if str(path) == ":memory:":
        con = duckdb.connect(":memory:")
        con.execute("SET TimeZone = 'UTC'")
    else:
        con = _open(warehouse_path(path), read_only)
    try:
        yield con
    finally:
        con.close()


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB (identifiers cannot be bound as parameters)."""
    return '"' + name.replace('"', '""') + '"'


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])
