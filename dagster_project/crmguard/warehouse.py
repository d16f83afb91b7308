"""Access to the DuckDB warehouse and the single-writer discipline.

DuckDB allows one writing process per file; while it writes, nobody else can open the file. Every
connection here pins the session time zone to UTC, so stored and printed times never depend on TZ.
When the file is locked we say which process holds it instead of surfacing a DuckDB traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from crmguard.errors import BadInput, WarehouseLocked
from crmguard.paths import warehouse_path

_LOCK_PID = re.compile(r"PID (\d+)")


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    if read_only and not path.exists():
        raise BadInput(f"warehouse {path} does not exist yet: run `crmguard ingest PATH` or `crmguard run` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            pid = _LOCK_PID.search(text)
            holder = f"process {pid.group(1)}" if pid else "another process"
            raise WarehouseLocked(
                f"warehouse {path} is being written by {holder}; wait for it to finish "
                "(or stop it), then retry"
            ) from None
        raise
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def connect(path: str | Path | None = None, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection to the warehouse, closed on exit."""
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
