"""`crmguard build` and its Dagster assets on a real warehouse: CLI contract, lineage, idempotence."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from conftest import CRMGUARD
from crmguard.transform import build
from crmguard.warehouse import connect
from test_attribution import OWN_NODES, write_hand_world

MARTS = ("fct_agent_actions", "fct_claimed_changes", "fct_agent_runs", "fct_crm_field_changes",
         "fct_change_attribution", "int_crm_deals_versions", "scd_crm_deals", "dim_crm_deals", "dim_agents")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([CRMGUARD, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})


def _fingerprints(warehouse: Path) -> dict[str, tuple]:
    """Row count and an order-independent hash of every row of each mart."""
    with connect(warehouse, read_only=True) as con:
        return {m: con.execute(f"select count(*), sum(hash(t)) from {m} as t").fetchone() for m in MARTS}


def test_rebuild_on_unchanged_inputs_changes_no_row(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_hand_world(warehouse)
    assert build(warehouse, OWN_NODES).success
    before = _fingerprints(warehouse)
    assert all(count > 0 for count, _ in before.values())
    assert build(warehouse, OWN_NODES).success
    assert _fingerprints(warehouse) == before


def test_build_is_the_same_under_any_time_zone(tmp_path: Path) -> None:
    """Snapshot stamps and window bounds stay UTC when the process runs in Kolkata."""
    warehouse = tmp_path / "warehouse.duckdb"
    write_hand_world(warehouse)
    proc = _cli("build", "--warehouse", str(warehouse), "--json", *sum((["-s", n] for n in OWN_NODES), []),
                env={"TZ": "Asia/Kolkata"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["success"] and summary["counts"]["snapshot"] == {"success": 6}
    assert "unit_test" not in summary["counts"]  # the daily build leaves the SQL's unit tests out
    with connect(warehouse, read_only=True) as con:
        windows = con.execute("select distinct cast(window_end as varchar) from fct_crm_field_changes order by 1").fetchall()
        snap = con.execute("select min(dbt_valid_from) <= now()::timestamp and max(dbt_valid_from) > "
                           "now()::timestamp - interval 1 hour from snap_crm_deals").fetchone()
    assert windows == [("2026-01-02 00:00:00",), ("2026-01-03 00:00:00",)]
    assert snap == (True,)  # stamped in UTC: a Kolkata stamp would be 5.5 hours ahead


def test_build_with_unit_tests_runs_each_outcome_check(tmp_path: Path) -> None:
    """`--unit-tests` adds dbt's unit tests of attribution and runs (the outcomes and mid-way failures)."""
    warehouse = tmp_path / "warehouse.duckdb"
    write_hand_world(warehouse)
    proc = _cli("build", "--warehouse", str(warehouse), "--json", "--unit-tests",
                *sum((["-s", n] for n in OWN_NODES), []))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["counts"]["unit_test"] == {"pass": 2}


def test_build_refuses_a_warehouse_without_raw_layer(tmp_path: Path) -> None:
    proc = _cli("build", "--warehouse", str(tmp_path / "warehouse.duckdb"))
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("crmguard: error:") and "crmguard ingest" in last and "Traceback" not in proc.stderr


def test_build_exits_1_when_a_dbt_test_fails(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_hand_world(warehouse)
    with connect(warehouse) as con:  # a duplicate key inside one snapshot must stop the snapshot
        con.execute("insert into raw.crm_deals select * from raw.crm_deals where deal_id = 'd1' limit 1")
    proc = _cli("build", "--warehouse", str(warehouse), "--json", *sum((["-s", n] for n in OWN_NODES), []))
    assert proc.returncode == 1, proc.stderr[-2000:]
    failures = json.loads(proc.stdout)["failures"]
    assert any("unique_combination" in f["node"] and "crm_deals" in f["node"] for f in failures)


@pytest.mark.parametrize("command", ["build", "changes", "runs", "score"])
def test_every_command_has_help_with_examples(command: str) -> None:
    proc = _cli(command, "--help")
    assert proc.returncode == 0 and "Examples" in proc.stdout


def test_changes_and_runs_list_what_analysts_need(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_hand_world(warehouse)
    assert build(warehouse, OWN_NODES).success
    changes = json.loads(_cli("changes", "--unexplained", "--since", "2026-01-02T05:30:00+05:30", "--json",
                              "--warehouse", str(warehouse)).stdout)
    assert [(c["object_id"], c["field"]) for c in changes["changes"]] == [("d2", "amount"), ("d7", None), ("d3", "owner_id")]
    later = json.loads(_cli("changes", "--unexplained", "--since", "2026-01-02T00:00:01Z", "--json",
                            "--warehouse", str(warehouse)).stdout)
    assert later["count"] == 1
    runs = json.loads(_cli("runs", "--failed", "--json", "--warehouse", str(warehouse)).stdout)
    assert [(r["run_id"], r["status"]) for r in runs["runs"]] == [("r1", "failed_mid_way")]
    bad = _cli("changes", "--since", "yesterday", "--warehouse", str(warehouse))
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_dagster_lineage_and_in_process_materialization(tmp_path: Path, dbt_manifest: Path) -> None:
    from crmguard.defs.transform import crmguard_dbt_assets, dbt_resource
    from crmguard.resources import WarehouseResource

    warehouse = tmp_path / "warehouse.duckdb"
    resources = {"dbt": dbt_resource, "warehouse": WarehouseResource(path=str(warehouse))}
    graph = dg.Definitions(assets=[crmguard_dbt_assets], resources=resources).resolve_asset_graph()
    assert graph.get(dg.AssetKey("stg_raw__agent_events")).parent_keys == {dg.AssetKey(["raw", "agent_events"])}
    assert graph.get(dg.AssetKey("stg_raw__crm_deals")).parent_keys == {dg.AssetKey(["raw", "crm_snapshots"])}
    assert graph.get(dg.AssetKey("fct_change_attribution")).group_name == "audit_marts"

    write_hand_world(warehouse)
    selection = [dg.AssetKey(name) for name in ("stg_raw__agent_events", "fct_agent_actions", "fct_agent_runs")]
    result = dg.materialize([crmguard_dbt_assets], selection=selection, resources=resources)
    assert result.success
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select count(*) from fct_agent_runs").fetchone() == (3,)
        assert con.execute("select count(*) from dbt_state.build_watermark").fetchone() == (0,)  # a subset


def test_build_refuses_a_warehouse_without_raw_layer_before_writing(tmp_path: Path) -> None:
    from crmguard.errors import BadInput

    with pytest.raises(BadInput, match="does not exist"):
        build(tmp_path / "missing" / "warehouse.duckdb")
    warehouse = tmp_path / "warehouse.duckdb"
    with connect(warehouse) as con:
        con.execute("create schema raw; create table raw.agent_events (event_id varchar)")
    with pytest.raises(BadInput, match="no raw layer"):
        build(warehouse)
    with connect(warehouse, read_only=True) as con:  # the policy is published only for a build that runs
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
    assert "policy" not in schemas, schemas
