"""Chain, export and verification on a real generated world (generate -> ingest -> dbt build)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from crmguard.export.chain import seal_warehouse
from crmguard.export.exporter import OCSF_FILE, ExportRequest, export_audit
from crmguard.export.keys import PUBLIC_KEY
from crmguard.export.tamper import verify
from crmguard.export.verify import verify_exports
from crmguard.warehouse import connect


@pytest.fixture(scope="module")
def sealed_world(built_world, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the session's built world (which is read-only), sealed."""
    copy = tmp_path_factory.mktemp("sealed_world") / "warehouse.duckdb"
    shutil.copyfile(built_world.warehouse, copy)
    sealed = seal_warehouse(copy)
    assert "main.fct_agent_actions" in sealed["tables"]
    return copy


def _window(warehouse: Path) -> tuple[dt.datetime, dt.datetime]:
    with connect(warehouse, read_only=True) as con:
        start, end = con.execute("select min(occurred_at)::date, max(occurred_at)::date + 1 "
                                 "from fct_agent_actions").fetchone()
    return dt.datetime.combine(start, dt.time()), dt.datetime.combine(end, dt.time())


def test_real_marts_export_verify_and_ocsf(sealed_world: Path, tmp_path: Path) -> None:
    with connect(sealed_world, read_only=True) as con:
        assert verify(con)["ok"]
        actions, emails = con.execute("select count(*), count(*) filter (where input->>'to' like '%@%') "
                                      "from fct_agent_actions").fetchone()
    start, end = _window(sealed_world)
    keys = tmp_path / "keys"
    for fmt in ("parquet", "ocsf"):
        with connect(sealed_world, read_only=True) as con:
            result = export_audit(con, ExportRequest(start, end, fmt, tmp_path / fmt, keys))
        assert result["manifest"]["skipped_tables"] == {} or all(
            why == "not built yet" for why in result["manifest"]["skipped_tables"].values())
    assert verify_exports([tmp_path / "parquet", tmp_path / "ocsf"], keys / PUBLIC_KEY)["ok"]
    parquet = json.loads((tmp_path / "parquet" / "manifest.json").read_text())
    assert next(f for f in parquet["files"] if f["table"] == "main.fct_agent_actions")["rows"] == actions
    assert parquet["policy_version"]
    events = [json.loads(line) for line in (tmp_path / "ocsf" / OCSF_FILE).read_text().splitlines()]
    assert sum(e["metadata"]["event_code"] == "tool_call" for e in events) == actions
    assert emails > 0  # the world's send_email calls carry addresses ...
    leaked = duckdb.sql(f"select count(*) from read_parquet('{tmp_path / 'parquet' / 'main.fct_agent_actions.parquet'}')"
                        " where input->>'to' like '%@%'").fetchone()[0]
    assert leaked == 0  # ... and none leaves the warehouse in clear


def test_real_marts_tampering_is_named(sealed_world: Path, tmp_path: Path) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(sealed_world, copy)
    with connect(copy) as con:
        victim = con.execute("select event_id from fct_agent_actions order by occurred_at, event_id "
                             "limit 1 offset 10").fetchone()[0]
        con.execute("update fct_agent_actions set status = 'succeeded', error = null where event_id = ?", [victim])
        con.execute("update fct_agent_actions set agent_version = 'forged' where event_id = ?", [victim])
    with connect(copy, read_only=True) as con:
        result = verify(con)
    assert not result["ok"]
    assert result["findings"][0]["row_key"] == victim and result["findings"][0]["kind"] == "altered"
