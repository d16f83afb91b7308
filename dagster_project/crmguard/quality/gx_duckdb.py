"""Great Expectations on DuckDB, in SQL: the persisted-connection workaround, in one place.

GX 1.24 has no DuckDB support. Through SQLAlchemy every metric fails with `IndexError`, because GX
fetches a result after it has closed the connection and DuckDB drops the result set then
(great_expectations#10738, #11579). GX already keeps one persisted connection for sqlite and a few
other dialects (`_PERSISTED_CONNECTION_DIALECTS`, a private name: hence the exact pin of GX); adding
`duckdb` there keeps every metric a DuckDB query instead of a pandas round trip.

The persisted connection and both SQLAlchemy engines (the datasource's and the execution engine's)
must be closed when a validation ends: DuckDB refuses a second open of the same file in the same
process with a different configuration while they live. `gx_session` guarantees that.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import great_expectations as gx
from great_expectations.data_context import AbstractDataContext
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import sqlalchemy_execution_engine as _gx_sql

DUCKDB_DIALECT = "duckdb"
# GX warns on every type check that it has no DuckDB dialect module; the generic types it falls back
# to are what `spec.of_type` documents, so the warning is noise.
logging.getLogger("great_expectations.expectations.type_comparison").setLevel(logging.ERROR)


class _DialectName(str):
    """A dialect name as GX's helper expects one (it reads `.value` of each persisted dialect)."""

    @property
    def value(self) -> str:
        return str(self)


def install_persisted_connection() -> None:
    """Make GX keep one connection per execution engine for DuckDB, as it does for sqlite (idempotent)."""
    if not requires_persisted_connection():
        _gx_sql._PERSISTED_CONNECTION_DIALECTS = (
            *_gx_sql._PERSISTED_CONNECTION_DIALECTS,
            _DialectName(DUCKDB_DIALECT),
        )


def requires_persisted_connection() -> bool:
    """Whether GX currently treats DuckDB as a persisted-connection dialect."""
    return DUCKDB_DIALECT in _gx_sql._PERSISTED_CONNECTION_DIALECTS


def connection_string(path: Path) -> str:
    """The SQLAlchemy URL of a DuckDB file for the duckdb-sqlalchemy dialect."""
    return f"duckdb:///{path}"


@contextmanager
def gx_session(path: Path, name: str = "warehouse") -> Iterator[tuple[AbstractDataContext, SQLDatasource]]:
    """An ephemeral GX context with one SQL datasource on the DuckDB file; everything closed on exit.

    Suite queries compare naive UTC `TIMESTAMP`s only (no `now()`, no TIMESTAMPTZ), so results never
    depend on the session time zone (setting it at connect time needs the ICU extension preloaded).
    """
    install_persisted_connection()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    skip_config_saves(context)
    datasource = context.data_sources.add_sql(
        name=name,
        connection_string=connection_string(path),
    )
    try:
        yield context, datasource
    finally:
        close_datasource(datasource)


def skip_config_saves(context: AbstractDataContext) -> None:
    """Stop this ephemeral context from re-serializing its whole config as YAML on every change.

    GX "saves" an ephemeral project's config into an in-memory store each time a datasource, asset
    or batch definition is added (`_save_project_config`, private, hence the exact pin): nothing
    reads it back, and at ~10 ms a save it was a tenth of an incremental run (two saves per suite).
    """
    context._save_project_config = lambda: None  # type: ignore[method-assign]


def close_datasource(datasource: SQLDatasource) -> None:
    """Close GX's persisted DuckDB connection and dispose both engines it created."""
    execution_engine = datasource._execution_engine
    if execution_engine is not None:
        if execution_engine._connection is not None:
            execution_engine._connection.close()
            execution_engine._connection = None
        execution_engine.engine.dispose()
        datasource._execution_engine = None
    if datasource._engine is not None:
        datasource._engine.dispose()
        datasource._engine = None
