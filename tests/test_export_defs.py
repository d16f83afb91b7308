"""The Dagster assets of export: the chain is sealed and the report's figures are asset metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from crmguard.defs.export import audit_chain, governance_report
from crmguard.export.synthetic import build_audit_tables, build_governance_tables
from crmguard.resources import WarehouseResource
from crmguard.warehouse import connect


def test_assets_seal_and_publish_report_figures(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with connect(warehouse) as con:
        build_audit_tables(con, 600, days=3)
        build_governance_tables(con)
    result = dg.materialize([audit_chain, governance_report],
                            resources={"warehouse": WarehouseResource(path=str(warehouse))})
    assert result.success
    chain_meta = result.asset_materializations_for_node("audit_chain")[0].metadata
    assert chain_meta["main.fct_agent_actions rows"].value == 600
    report_meta = result.asset_materializations_for_node("governance_report")[0].metadata
    with connect(warehouse, read_only=True) as con:
        violations = con.execute("select count(*) from fct_policy_violations").fetchone()[0]
        sealed = con.execute("select count(*) from audit.row_hashes where table_name = 'main.fct_agent_actions'"
                             ).fetchone()[0]
    assert report_meta["actions"].value == 600
    assert report_meta["violations"].value == violations
    assert sealed == 600
    assert (tmp_path / "report.html").is_file()
    # readers fall back to the published copy while a run writes: the chain's step publishes it
    assert chain_meta["published"].value == str(tmp_path / "published" / "warehouse.duckdb")
    with connect(tmp_path / "published" / "warehouse.duckdb", read_only=True) as con:
        assert con.execute("select count(*) from audit.row_hashes where table_name = 'main.fct_agent_actions'"
                           ).fetchone()[0] == 600
