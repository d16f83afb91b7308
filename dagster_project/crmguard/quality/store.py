"""The results store: every check run and every expectation result, kept in the warehouse.

`quality.check_runs` holds one row per suite per run (mode, rows checked, the watermark range it
covered); the next incremental run starts from the last successful run's upper watermark.
`quality.check_results` holds one row per expectation per run; dbt exposes it as `fct_check_results`.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from crmguard.warehouse import quote_ident

BATCH_PREFIX = "_batch_"

_DDL = """
create schema if not exists quality;
create table if not exists quality.check_runs (
    run_id varchar not null,
    suite varchar not null,
    mode varchar not null,
    started_at timestamp not null,
    finished_at timestamp not null,
    success boolean not null,
    rows_checked bigint,
    watermark_from timestamp,
    watermark_to timestamp
);
create table if not exists quality.check_results (
    run_id varchar not null,
    suite varchar not null,
    expectation varchar not null,
    expectation_type varchar not null,
    category varchar not null,
    severity varchar not null,
    success boolean not null,
    observed json,
    unexpected_count bigint,
    sample_ids json,
    checked_at timestamp not null
);
"""

RUN_COLUMNS = ("run_id", "suite", "mode", "started_at", "finished_at", "success", "rows_checked",
               "watermark_from", "watermark_to")
RESULT_COLUMNS = ("run_id", "suite", "expectation", "expectation_type", "category", "severity", "success",
                  "observed", "unexpected_count", "sample_ids", "checked_at")


def ensure_store(con: duckdb.DuckDBPyConnection, present: set[str] | None = None) -> None:
    """Create the store's tables when missing (idempotent, so any writer may call it first).

    `present`: the warehouse's tables as `schema.name`, when the caller has read them already.
    """
    tables = existing_tables(con) if present is None else present
    if not {"quality.check_runs", "quality.check_results"} <= tables:
        con.execute(_DDL)


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every table and view of the warehouse as `schema.name`, from one catalog read."""
    return {f"{schema}.{name}" for schema, name in
            con.execute("select table_schema, table_name from information_schema.tables").fetchall()}


def batch_table(suite: str) -> str:
    """Where an incremental run materializes a suite's changed rows for the duration of the run."""
    return f"quality.{quote_ident(BATCH_PREFIX + suite)}"


def persist_batch(con: duckdb.DuckDBPyConnection, suite: str, rows_sql: str) -> None:
    """Write a suite's changed rows (`rows_sql`) into the warehouse, where GX's own connection can read them."""
    con.execute(f"create or replace table {batch_table(suite)} as {rows_sql}")


def drop_batches(con: duckdb.DuckDBPyConnection, present: set[str] | None = None) -> None:
    """Drop the run's batch tables and checkpoint, so no DDL lingers in the WAL (STACK.md)."""
    tables = existing_tables(con) if present is None else present
    names = sorted(t.split(".", 1)[1] for t in tables if t.startswith(f"quality.{BATCH_PREFIX}"))
    for name in names:
        con.execute(f"drop table quality.{quote_ident(name)}")
    if names:
        con.execute("checkpoint")


def last_success_watermarks(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, datetime]]:
    """Per suite, what its last successful run had seen: the upper watermark of every suite validated
    in that run, its own included under its own name.

    Its own watermark is where the next incremental run starts. The others bound its `also_recheck`
    predicates (`{seen[other_suite]}`): only rows the other table gained since then can change its
    verdicts. Ties (unchanged runs keep their watermark) go to the latest run, which saw the most.
    """
    rows = con.execute(
        "with last as (select suite, run_id from quality.check_runs where success and watermark_to is not null"
        "  qualify row_number() over (partition by suite order by watermark_to desc, finished_at desc, run_id desc) = 1)"
        " select last.suite, seen.suite, seen.watermark_to from last join quality.check_runs seen using (run_id)"
        " where seen.watermark_to is not null"
    ).fetchall()
    seen: dict[str, dict[str, datetime]] = {}
    for suite, other, watermark in rows:
        seen.setdefault(suite, {})[other] = watermark
    return seen


def save_run(con: duckdb.DuckDBPyConnection, runs: list[dict], results: list[dict]) -> None:
    """Append one run's suite rows and expectation rows in one transaction (Arrow, not row inserts)."""
    run_table = pa.Table.from_pylist(runs, schema=_schema(RUN_COLUMNS, _RUN_TYPES))
    result_table = pa.Table.from_pylist(results, schema=_schema(RESULT_COLUMNS, _RESULT_TYPES))
    con.execute("begin")
    try:
        con.register("_check_runs_in", run_table)
        con.register("_check_results_in", result_table)
        con.execute(f"insert into quality.check_runs ({', '.join(RUN_COLUMNS)}) select * from _check_runs_in")
        con.execute(
            f"insert into quality.check_results ({', '.join(RESULT_COLUMNS)}) select * from _check_results_in"
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_check_runs_in")
        con.unregister("_check_results_in")


_RUN_TYPES = {
    "run_id": pa.string(), "suite": pa.string(), "mode": pa.string(), "started_at": pa.timestamp("us"),
    "finished_at": pa.timestamp("us"), "success": pa.bool_(), "rows_checked": pa.int64(),
    "watermark_from": pa.timestamp("us"), "watermark_to": pa.timestamp("us"),
}
_RESULT_TYPES = {
    "run_id": pa.string(), "suite": pa.string(), "expectation": pa.string(), "expectation_type": pa.string(),
    "category": pa.string(), "severity": pa.string(), "success": pa.bool_(), "observed": pa.string(),
    "unexpected_count": pa.int64(), "sample_ids": pa.string(), "checked_at": pa.timestamp("us"),
}


def _schema(columns: tuple[str, ...], types: dict[str, pa.DataType]) -> pa.Schema:
    return pa.schema([(c, types[c]) for c in columns])
