"""Restore in Dagster: the sensor proposes (never applies) and the job applies + verifies a plan."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from crmguard.crm.server import running_service
from crmguard.defs.restore import critical_stop_restore_sensor, propose_restore, restore_crm_state
from crmguard.resources import WarehouseResource
from crmguard.restore.approve import approve
from crmguard.restore.plan import Scope, create_plan
from crmguard.restore.standin import insert_rows
from crmguard.warehouse import connect
from test_restore_plan import build_world


def add_violations(warehouse: Path) -> None:
    """R1 ran past a stop (critical); R2 only broke a low-severity rule."""
    with connect(warehouse) as con:
        con.execute("create or replace table main.fct_policy_violations (violation_id varchar, rule_id varchar, "
                    "severity varchar, event_id varchar, agent_id varchar, run_id varchar, stop_id varchar)")
        insert_rows(con, "fct_policy_violations", [
            {"violation_id": "v1", "rule_id": "honor_stops", "severity": "critical", "event_id": "e3",
             "agent_id": "lead-router", "run_id": "R1", "stop_id": "s1"},
            {"violation_id": "v2", "rule_id": "icp", "severity": "low", "event_id": "e9",
             "agent_id": "lead-router", "run_id": "R2", "stop_id": None}])


def test_sensor_proposes_once_per_run_and_the_job_applies_and_verifies(tmp_path: Path) -> None:
    warehouse, crm = tmp_path / "wh" / "warehouse.duckdb", tmp_path / "crm"
    build_world(warehouse, crm)
    resource = WarehouseResource(path=str(warehouse))
    context = dg.build_sensor_context(resources={"warehouse": resource})
    assert isinstance(critical_stop_restore_sensor(context), dg.SkipReason)  # no policy marts yet
    add_violations(warehouse)
    requests = critical_stop_restore_sensor(dg.build_sensor_context(resources={"warehouse": resource}))
    assert [r.run_key for r in requests] == ["restore-proposal:R1"]
    proposed = propose_restore.execute_in_process(run_config=requests[0].run_config,
                                                  resources={"warehouse": resource})
    assert proposed.success
    with connect(warehouse) as con:
        plan_id, planner, origin, status = con.execute(
            "select plan_id, planner, origin, status from restore.plans").fetchone()
        assert (planner, origin, status) == ("crmguard-sensor", "sensor", "planned")
        assert con.execute("select count(*) from restore.apply_log").fetchone()[0] == 0  # proposed, never applied
        approve(con, plan_id, "u_ops1")
    with running_service(crm) as svc:
        config = {"plan_id": plan_id, "crm_url": svc.url}
        result = restore_crm_state.execute_in_process(
            run_config={"ops": {"apply_restore_plan": {"config": config}}},  # the plan id, once
            resources={"warehouse": resource})
        assert result.success
        assert len(svc.store.write_counts()) == 10
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select status from restore.plans where plan_id = ?", [plan_id]).fetchone()[0] == "verified"


def test_the_job_refuses_an_unapproved_plan(tmp_path: Path) -> None:
    warehouse, crm = tmp_path / "wh" / "warehouse.duckdb", tmp_path / "crm"
    build_world(warehouse, crm)
    resource = WarehouseResource(path=str(warehouse))
    add_violations(warehouse)
    propose_restore.execute_in_process(run_config={"ops": {"propose_restore_plan": {"config": {"run_id": "R1"}}}},
                                       resources={"warehouse": resource})
    with connect(warehouse, read_only=True) as con:
        plan_id = con.execute("select plan_id from restore.plans").fetchone()[0]
    with running_service(crm) as svc:
        config = {"plan_id": plan_id, "crm_url": svc.url}
        result = restore_crm_state.execute_in_process(
            run_config={"ops": {"apply_restore_plan": {"config": config}}},  # the plan id, once
            resources={"warehouse": resource}, raise_on_error=False)
        assert not result.success and svc.store.write_counts() == {}


def _approved_plan(tmp_path: Path) -> tuple[Path, Path, WarehouseResource, str]:
    """(warehouse, CRM data, resource, plan id): run R1's undo, planned by one ops user, approved by another."""
    warehouse, crm = tmp_path / "wh" / "warehouse.duckdb", tmp_path / "crm"
    build_world(warehouse, crm)
    with connect(warehouse) as con:
        plan_id = create_plan(con, Scope(run_ids=("R1",)), "u_ops1").plan_id
        approve(con, plan_id, "u_ops2")
    return warehouse, crm, WarehouseResource(path=str(warehouse)), plan_id


def test_the_job_exports_to_a_file_target_and_leaves_verify_to_after_the_import(tmp_path: Path) -> None:
    warehouse, _, resource, plan_id = _approved_plan(tmp_path)
    files = tmp_path / "import"
    result = restore_crm_state.execute_in_process(
        run_config={"ops": {"apply_restore_plan": {"config": {"plan_id": plan_id, "target": f"file:{files}"}}}},
        resources={"warehouse": resource})
    assert result.success  # an export is not a failed restore
    assert sorted(p.name for p in (files / "hubspot").glob("*.json"))  # the import files are there
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select status from restore.plans where plan_id = ?", [plan_id]).fetchone()[0] == "applied"
        assert con.execute("select count(*) from restore.receipts").fetchone()[0] == 0  # nothing verified yet


def test_the_job_stops_before_verify_when_items_failed_and_refuses_bad_batch_sizes(tmp_path: Path) -> None:
    """As `crmguard restore apply`: an apply that left failed items fails the step (rerun the job to
    complete the plan) instead of verifying into a `partial` receipt; batch_size is checked the same."""
    warehouse, crm, resource, plan_id = _approved_plan(tmp_path)
    with connect(warehouse, read_only=True) as con:
        object_type, object_id = con.execute("select object_type, object_id from restore.items where plan_id = ? "
                                             "and item_class = 'revert' order by item_no limit 1", [plan_id]).fetchone()

    def run(config: dict) -> dg.ExecuteInProcessResult:
        return restore_crm_state.execute_in_process(run_config={"ops": {"apply_restore_plan": {"config": config}}},
                                                    resources={"warehouse": resource}, raise_on_error=False)

    with running_service(crm, f"lock={object_type}/{object_id}") as svc:
        assert not run({"plan_id": plan_id, "crm_url": svc.url, "batch_size": 0}).success
        assert svc.store.write_counts() == {}
        result = run({"plan_id": plan_id, "crm_url": svc.url})
        assert not result.success and svc.store.write_counts()  # written, but one item failed
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert failure.step_key == "apply_restore_plan" and "rerun apply" in str(failure.event_specific_data.error)
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select count(*) from restore.receipts").fetchone()[0] == 0  # never verified
