"""The tamper-evident hash chain over the audit tables (schema `audit`).

Per table and per UTC day, rows are ordered by (time, key). Each row's content hash is the SHA-256 of a
canonical JSON string of all its columns (sorted by name), computed in bulk in DuckDB. Each row's
chain hash is SHA-256(previous chain hash || content hash); the first row of a day starts from
SHA-256(previous day's head || day), so every day's head depends on every earlier day. The chain pass
is one loop over the 32-byte hash arrays (hashing is sequential by definition; the row work is in SQL).

`seal` records the chain after each build; `verify` recomputes it from the live tables and names the
first row that was altered, inserted or deleted since the seal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from crmguard.export.registry import REGISTRY, AuditTable, present_tables
from crmguard.warehouse import connect, quote_ident, table_exists

GENESIS_LABEL = b"crmguard-audit-chain-v1:"

_DDL = """
create schema if not exists audit;
create table if not exists audit.seals (
    seal_id bigint, sealed_at timestamp, table_name varchar, columns json, row_count bigint,
    day_count bigint, head_hash varchar, primary key (seal_id, table_name));
create table if not exists audit.day_heads (
    seal_id bigint, table_name varchar, day date, row_count bigint, head_hash varchar,
    primary key (seal_id, table_name, day));
create table if not exists audit.row_hashes (
    table_name varchar, row_key varchar, occurrence bigint, day date, seq bigint,
    content_hash blob, chain_hash blob);
"""


def genesis(table_name: str) -> bytes:
    """The chain's anchor for a table: fixed, so an empty warehouse has a known head."""
    return hashlib.sha256(GENESIS_LABEL + table_name.encode()).digest()


def row_key_sql(table: AuditTable) -> str:
    parts = [f"cast({quote_ident(c)} as varchar)" for c in table.key_columns]
    return parts[0] if len(parts) == 1 else f"concat_ws('|', {', '.join(parts)})"


def content_hash_sql(columns: list[str]) -> str:
    """SQL for the row's content hash: SHA-256 of its canonical JSON (columns sorted by name)."""
    pairs = ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}': {quote_ident(c)}" for c in sorted(columns))
    return f"unhex(sha256(to_json({{{pairs}}})))"


def day_sql(table: AuditTable) -> str:
    return f"coalesce(cast({quote_ident(table.time_column)} as date), date '1970-01-01')"


def hashed_rows_sql(table: AuditTable, columns: list[str], since: dt.date | None = None) -> str:
    """One row per table row: key, occurrence (for duplicated keys), day, seq in day, content hash, time."""
    where = f"where {day_sql(table)} >= date '{since.isoformat()}'" if since else ""
    order = f"{quote_ident(table.time_column)} nulls first, row_key, content_hash"
    return f"""
        with hashed as (
            select {row_key_sql(table)} as row_key, {day_sql(table)} as day, {quote_ident(table.time_column)},
                   {content_hash_sql(columns)} as content_hash
            from {table.relation} {where}
        )
        select row_key,
               row_number() over (partition by row_key order by content_hash) as occurrence,
               day,
               row_number() over (partition by day order by {order}) - 1 as seq,
               content_hash,
               {quote_ident(table.time_column)} as row_time
        from hashed
    """


@dataclass
class ChainPass:
    """Chain hashes per row (in the given order) and the head of every day."""

    chain_hashes: list[bytes]
    day_heads: list[tuple[dt.date, int, str]]  # (day, rows, head hex)


def chain(table_name: str, days: list[dt.date], hashes: list[bytes], start: bytes | None = None) -> ChainPass:
    """One pass over rows sorted by (day, seq): the chain hash of each row and each day's head."""
    previous_head = start if start is not None else genesis(table_name)
    out: list[bytes] = []
    heads: list[tuple[dt.date, int, str]] = []
    current_day: dt.date | None = None
    running = previous_head
    rows_in_day = 0
    sha = hashlib.sha256
    for day, content in zip(days, hashes, strict=True):
        if day != current_day:
            if current_day is not None:
                heads.append((current_day, rows_in_day, running.hex()))
                previous_head = running
            current_day, rows_in_day = day, 0
            running = sha(previous_head + day.isoformat().encode()).digest()
        running = sha(running + content).digest()
        rows_in_day += 1
        out.append(running)
    if current_day is not None:
        heads.append((current_day, rows_in_day, running.hex()))
    return ChainPass(out, heads)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_DDL)


@dataclass
class SealResult:
    seal_id: int
    tables: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def seal(con: duckdb.DuckDBPyConnection, registry: tuple[AuditTable, ...] = REGISTRY) -> SealResult:
    """Recompute and store the chain of every present audit table (run after each build)."""
    ensure_schema(con)
    present, skipped = present_tables(con, registry)
    seal_id = con.execute("select coalesce(max(seal_id), 0) + 1 from audit.seals").fetchone()[0]
    result = SealResult(seal_id=seal_id, skipped=skipped)
    con.execute("begin transaction")
    try:
        for table, columns in present:
            result.tables[table.name] = _seal_table(con, seal_id, table, columns)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return result


def fetch_arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pa.Table:
    """A query's result as one Arrow table (hash arrays stay in Arrow until the chain pass)."""
    result = con.execute(sql, params or []).arrow()
    return result.read_all() if isinstance(result, pa.RecordBatchReader) else result


def _seal_table(con: duckdb.DuckDBPyConnection, seal_id: int, table: AuditTable, columns: list[str]) -> dict:
    rows = fetch_arrow(con, f"select * from ({hashed_rows_sql(table, columns)}) order by day, seq")
    passed = chain(table.name, rows.column("day").to_pylist(), rows.column("content_hash").to_pylist())
    stored = rows.append_column("chain_hash", pa.array(passed.chain_hashes, pa.binary()))
    con.execute("delete from audit.row_hashes where table_name = ?", [table.name])
    con.register("_chain_rows", stored)
    try:
        con.execute(
            "insert into audit.row_hashes select ?, row_key, occurrence, day, seq, content_hash, chain_hash "
            "from _chain_rows",
            [table.name],
        )
    finally:
        con.unregister("_chain_rows")
    heads = pa.table(
        {
            "day": pa.array([d for d, _, _ in passed.day_heads], pa.date32()),
            "row_count": pa.array([n for _, n, _ in passed.day_heads], pa.int64()),
            "head_hash": pa.array([h for _, _, h in passed.day_heads], pa.string()),
        }
    )
    con.register("_chain_heads", heads)
    try:
        con.execute(
            "insert into audit.day_heads select ?, ?, day, row_count, head_hash from _chain_heads",
            [seal_id, table.name],
        )
    finally:
        con.unregister("_chain_heads")
    head = passed.day_heads[-1][2] if passed.day_heads else genesis(table.name).hex()
    con.execute(
        "insert into audit.seals values (?, now()::timestamp, ?, ?, ?, ?, ?)",
        [seal_id, table.name, json.dumps(sorted(columns)), rows.num_rows, len(passed.day_heads), head],
    )
    return {"rows": rows.num_rows, "days": len(passed.day_heads), "head": head}


def latest_seal(con: duckdb.DuckDBPyConnection) -> int | None:
    """The id of the last seal, or None before the first one."""
    if not table_exists(con, "audit", "seals"):
        return None
    return con.execute("select max(seal_id) from audit.seals").fetchone()[0]


def seal_warehouse(path: str | Path | None = None) -> dict:
    """Open the warehouse for writing and seal it: what `crmguard build` runs after a successful build."""
    with connect(path) as con:
        result = seal(con)
    return {"seal_id": result.seal_id, "tables": result.tables, "skipped": result.skipped}
