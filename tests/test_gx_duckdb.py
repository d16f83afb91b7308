"""The GX-on-DuckDB workaround: why it exists, that it keeps checks in SQL, and that it cleans up."""

from __future__ import annotations

from pathlib import Path

import duckdb
import great_expectations.expectations as gxe
import pytest
from great_expectations.execution_engine import sqlalchemy_execution_engine as gx_sql

from crmguard.quality import gx_duckdb
from crmguard.warehouse import connect


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        con.execute("create table t as select i as id, i % 7 as v from range(1000) r(i)")
    return path


def _validate(path: Path, expectation: gxe.Expectation):
    with gx_duckdb.gx_session(path) as (_context, datasource):
        asset = datasource.add_table_asset(name="t", table_name="t", schema_name="main")
        return asset.add_batch_definition_whole_table("all").get_batch().validate(expectation)


def test_without_the_workaround_gx_metrics_fail_on_duckdb(warehouse: Path, monkeypatch) -> None:
    """If this starts passing, GX fixed DuckDB upstream and the workaround can go."""
    gx_duckdb.install_persisted_connection()
    plain = tuple(d for d in gx_sql._PERSISTED_CONNECTION_DIALECTS if d != gx_duckdb.DUCKDB_DIALECT)
    monkeypatch.setattr(gx_sql, "_PERSISTED_CONNECTION_DIALECTS", plain)
    monkeypatch.setattr(gx_duckdb, "install_persisted_connection", lambda: None)
    result = _validate(warehouse, gxe.ExpectColumnValuesToBeBetween(column="v", min_value=0, max_value=6))
    assert not result.success
    assert "list index out of range" in str(result.exception_info)


def test_with_the_workaround_checks_run_in_sql(warehouse: Path) -> None:
    ok = _validate(warehouse, gxe.ExpectColumnValuesToBeBetween(column="v", min_value=0, max_value=5))
    assert not ok.success and ok.result["unexpected_count"] == 142
    sql_only = _validate(warehouse, gxe.UnexpectedRowsExpectation(
        unexpected_rows_query="select id from {batch} where regexp_matches(cast(v as varchar), '^6$')"))
    assert sql_only.result["observed_value"] == 142


def test_session_closes_so_the_file_reopens_with_another_configuration(warehouse: Path) -> None:
    _validate(warehouse, gxe.ExpectColumnValuesToNotBeNull(column="id"))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from t").fetchone() == (1000,)
    finally:
        con.close()


def test_an_open_gx_connection_would_block_that_reopen(warehouse: Path) -> None:
    """The reason `gx_session` closes the persisted connection and disposes both engines."""
    gx_duckdb.install_persisted_connection()
    with gx_duckdb.gx_session(warehouse) as (_context, datasource):
        asset = datasource.add_table_asset(name="t", table_name="t", schema_name="main")
        asset.add_batch_definition_whole_table("all").get_batch().validate(gxe.ExpectColumnValuesToNotBeNull(column="id"))
        with pytest.raises(duckdb.ConnectionException, match="different configuration"):
            duckdb.connect(str(warehouse), read_only=True)
