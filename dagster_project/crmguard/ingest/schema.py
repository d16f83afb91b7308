"""The raw layer's tables (docs/raw-layer.md), created once before any load.

DDL stays out of the per-file load transactions: open DuckDB bugs make a database fail to reopen after
an unclean shutdown when the WAL holds DDL, so a crash mid-load must only ever leave row inserts behind.
"""

from __future__ import annotations

import duckdb

from crmguard.crm.objects import OBJECTS

_LINEAGE = "_snapshot_id VARCHAR, _captured_at TIMESTAMP, _load_id VARCHAR, _file VARCHAR, _line BIGINT, _extra JSON"

_FIXED_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.agent_events (
    event_id VARCHAR, schema_version VARCHAR, event_type VARCHAR, occurred_at TIMESTAMP,
    agent_id VARCHAR, agent_version VARCHAR, run_id VARCHAR, step INTEGER, environment VARCHAR,
    actor_type VARCHAR, actor_id VARCHAR, actor_role VARCHAR, actor_on_behalf_of VARCHAR,
    payload JSON, _source_format VARCHAR, _load_id VARCHAR, _file VARCHAR, _line BIGINT
);
CREATE TABLE IF NOT EXISTS raw.rejects (
    load_id VARCHAR, file VARCHAR, line BIGINT, reason VARCHAR, raw_text VARCHAR, rejected_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS raw.duplicate_events (
    load_id VARCHAR, file VARCHAR, line BIGINT, event_id VARCHAR, first_load_id VARCHAR
);
CREATE TABLE IF NOT EXISTS raw.load_ledger (
    load_id VARCHAR, kind VARCHAR, path VARCHAR, sha256 VARCHAR, size_bytes BIGINT, lines BIGINT,
    loaded BIGINT, rejected BIGINT, duplicates BIGINT, status VARCHAR, error VARCHAR,
    started_at TIMESTAMP, finished_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS raw.crm_snapshots (
    snapshot_id VARCHAR, captured_at TIMESTAMP, source VARCHAR, manifest JSON, path VARCHAR, _load_id VARCHAR
);
"""


def _object_ddl(name: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(f'"{c}" VARCHAR' for c in columns)
    return f"CREATE TABLE IF NOT EXISTS raw.crm_{name} ({cols}, {_LINEAGE});"


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema and tables if missing (idempotent; never inside a load transaction)."""
    ddl = _FIXED_DDL + "\n".join(_object_ddl(o.name, o.columns) for o in OBJECTS.values())
    con.execute(ddl)
