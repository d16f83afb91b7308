"""Approve, apply and verify against the local CRM service (real HTTP, real SQLite, real warehouse)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from crmguard.crm.adapters import FileTarget, HubSpotClient
from crmguard.crm.objects import CRM_OBJECTS
from crmguard.crm.server import running_service
from crmguard.errors import BadInput, CheckFailed
from crmguard.restore.apply import apply_plan
from crmguard.restore.approve import approve, force_items
from crmguard.restore.audit import write_action_log
from crmguard.restore.plan import Scope, create_plan
from crmguard.restore.verify import verify_plan
from crmguard.warehouse import connect
from test_restore_plan import build_world


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    warehouse, crm = tmp_path / "wh" / "warehouse.duckdb", tmp_path / "crm"
    build_world(warehouse, crm)
    return warehouse, crm


def planned(warehouse: Path, approver: str | None = "u_ops2") -> str:
    with connect(warehouse) as con:
        plan_id = create_plan(con, Scope(run_ids=("R1",)), "u_ops1").plan_id
        if approver:
            approve(con, plan_id, approver)
    return plan_id


def local(url: str) -> HubSpotClient:
    return HubSpotClient(url, "usr_crmguard_restore", name="local", backoff=0.01)


def field(svc, object_type: str, record_id: str, column: str) -> str | None:
    return svc.store.read(CRM_OBJECTS[object_type], [record_id]).get(record_id, {}).get(column)


def test_apply_restores_every_reverted_field_leaves_conflicts_and_verifies(world: tuple[Path, Path]) -> None:
    warehouse, crm = world
    plan_id = planned(warehouse)
    with running_service(crm) as svc, connect(warehouse) as con:
        report = apply_plan(con, plan_id, local(svc.url), batch_size=2)
        assert report.outcomes == {"conflict": 1, "written": 10}
        assert field(svc, "accounts", "a1", "owner_id") == "u_ae1"
        assert field(svc, "accounts", "a1", "industry") == "fintech"  # run R2's change is not R1's to undo
        assert field(svc, "contacts", "c1", "owner_id") == "u_ae3"  # the human's later change survives
        assert (field(svc, "deals", "d1", "stage"), field(svc, "deals", "d1", "amount")) == ("discovery", "1000.00")
        assert field(svc, "deals", "d1", "updated_by") == "usr_crmguard_restore"
        assert field(svc, "contacts", "c3", "email_bounced") == "true" and field(svc, "deals", "d2", "account_id") == "a2"
        assert field(svc, "sequence_enrollments", "n1", "status") == "paused"
        assert field(svc, "meetings", "m1", "status") == "cancelled"
        assert field(svc, "emails", "call_e7", "status") == "cancelled"
        receipt = verify_plan(con, plan_id, local(svc.url))
        assert receipt.status == "verified" and receipt.counts["matched"] == 11
        again = apply_plan(con, plan_id, local(svc.url))
        assert again.written_now == 0 and again.outcomes == report.outcomes
        assert set(svc.store.write_counts().values()) == {1} and len(svc.store.write_counts()) == 10
        log = con.execute("select count(*), count(distinct plan_hash), min(approver), min(adapter) from restore.apply_log "
                          "where plan_id = ? and outcome = 'written'", [plan_id]).fetchone()
        assert log == (10, 1, "u_ops2", "local")


def test_recreate_runs_parent_first(world: tuple[Path, Path]) -> None:
    warehouse, crm = world
    plan_id = planned(warehouse)
    with running_service(crm) as svc, connect(warehouse) as con:
        apply_plan(con, plan_id, local(svc.url))
        with svc.store._lock:
            order = [r[0] for r in svc.store._db.execute(
                "select record_id from write_log where operation = 'create' order by seq").fetchall()]
    assert order == ["a2", "c2", "c3", "d2"]


def test_unapproved_self_approved_expired_and_altered_plans_are_refused(world: tuple[Path, Path]) -> None:
    warehouse, crm = world
    plan_id = planned(warehouse, approver=None)
    with running_service(crm) as svc, connect(warehouse) as con:
        adapter = local(svc.url)
        with pytest.raises(BadInput, match="not approved"):
            apply_plan(con, plan_id, adapter)
        with pytest.raises(BadInput, match="planner cannot approve"):
            approve(con, plan_id, "u_ops1")
        with pytest.raises(BadInput, match="role 'ae' cannot approve"):
            approve(con, plan_id, "u_ae1")
        approve(con, plan_id, "u_ops2", now=datetime.now(UTC) - timedelta(hours=25))
        with pytest.raises(BadInput, match="approval expired"):
            apply_plan(con, plan_id, adapter)
        approve(con, plan_id, "u_ops2")
        con.execute("update restore.plan_items set value_restore = 'u_evil' where field = 'owner_id' "
                    "and plan_no = (select plan_no from restore.plans where plan_id = ?)", [plan_id])
        with pytest.raises(BadInput, match="altered after planning"):
            apply_plan(con, plan_id, adapter)
        assert svc.store.write_counts() == {}


def test_forcing_a_conflict_voids_the_approval_then_overwrites(world: tuple[Path, Path]) -> None:
    warehouse, crm = world
    plan_id = planned(warehouse)
    with running_service(crm) as svc, connect(warehouse) as con:
        conflict = con.execute("select item_no from restore.items where plan_id = ? and item_class = 'conflict'",
                               [plan_id]).fetchone()[0]
        force_items(con, plan_id, [conflict])
        with pytest.raises(BadInput, match="changed after it was approved"):
            apply_plan(con, plan_id, local(svc.url))
        approve(con, plan_id, "u_ops2")
        assert apply_plan(con, plan_id, local(svc.url)).outcomes == {"written": 11}
        assert field(svc, "contacts", "c1", "owner_id") == "u_ae1"


def test_drift_after_planning_becomes_a_conflict_not_a_write(world: tuple[Path, Path]) -> None:
    warehouse, crm = world
    plan_id = planned(warehouse)
    with running_service(crm) as svc, connect(warehouse) as con:
        svc.store.write(CRM_OBJECTS["deals"], "update", [("d1", {"stage": "negotiation"}, None)], "u_ae1")
        report = apply_plan(con, plan_id, local(svc.url))
        assert report.outcomes == {"conflict": 2, "written": 9}
        assert field(svc, "deals", "d1", "stage") == "negotiation"
        assert verify_plan(con, plan_id, local(svc.url)).status == "verified"


def test_the_service_refuses_a_canonical_value_hubspot_spells_otherwise(world: tuple[Path, Path]) -> None:
    _, crm = world
    with running_service(crm) as svc:
        def update(stage: str) -> requests.Response:
            return requests.post(f"{svc.url}/crm/v3/objects/deals/batch/update",
                                 json={"inputs": [{"id": "d1", "properties": {"dealstage": stage}}]},
                                 headers={"Authorization": "Bearer u_ae1"}, timeout=5)
        refused = update("closed_won")  # canonical: HubSpot's own stage id is closedwon
        assert refused.status_code == 400 and "'closedwon'" in refused.json()["message"]
        assert update("closedwon").status_code == 200 and field(svc, "deals", "d1", "stage") == "closed_won"
        assert update("renewal_review").status_code == 200  # a portal's own stage is not ours to refuse
        assert field(svc, "deals", "d1", "stage") == "renewal_review"


def test_a_conflict_changed_again_after_apply_is_theirs_unless_it_shows_our_value(world: tuple[Path, Path]) -> None:
    warehouse, crm = world
    plan_id = planned(warehouse)
    with running_service(crm) as svc, connect(warehouse) as con:
        assert apply_plan(con, plan_id, local(svc.url)).outcomes == {"conflict": 1, "written": 10}
        object_type, object_id, column, ours = con.execute(
            "select object_type, object_id, field, value_restore from restore.items "
            "where plan_id = ? and item_class = 'conflict'", [plan_id]).fetchone()
        # the person whose change made it a conflict edits it again: not a failure of the restore
        svc.store.write(CRM_OBJECTS[object_type], "update", [(object_id, {column: "u_ae9"}, None)], "u_ae1")
        receipt = verify_plan(con, plan_id, local(svc.url))
        assert receipt.status == "verified" and receipt.counts["conflict_changed_since_apply"] == 1
        # the value crmguard would have written is what a clobber looks like: the receipt says so
        svc.store.write(CRM_OBJECTS[object_type], "update", [(object_id, {column: ours}, None)], "u_ae1")
        receipt = verify_plan(con, plan_id, local(svc.url))
        assert receipt.status == "partial" and [m["field"] for m in receipt.mismatches] == [column]
        assert "conflict_changed_since_apply" not in receipt.counts


def test_faults_are_survived_and_the_receipt_accounts_for_every_item(world: tuple[Path, Path]) -> None:
    warehouse, crm = world
    plan_id = planned(warehouse)
    # request 2 is the first write (after one read): it commits, then the answer is lost
    with running_service(crm, "timeout=2,429=3,retry_after=1,500=5,lock=deals/d1") as svc, connect(warehouse) as con:
        report = apply_plan(con, plan_id, local(svc.url), batch_size=2)
        assert report.outcomes == {"conflict": 1, "failed": 2, "written": 8}
        assert max(svc.store.write_counts().values()) == 1  # the lost answer did not cause a second write
        errors = con.execute("select distinct error from restore.apply_log where plan_id = ? and outcome = 'failed'",
                             [plan_id]).fetchall()
        assert len(errors) == 1 and "locked" in errors[0][0]
        receipt = verify_plan(con, plan_id, local(svc.url))
        assert receipt.status == "partial"
        assert receipt.counts == {"conflict": 1, "failed": 2, "items": 11, "matched": 9, "mismatched": 2,
                                  "written": 8}


def test_file_target_exports_each_item_once_even_when_rerun(world: tuple[Path, Path], tmp_path: Path) -> None:
    warehouse, _ = world
    plan_id = planned(warehouse)
    target = FileTarget(tmp_path / "files")
    with connect(warehouse) as con:
        first = apply_plan(con, plan_id, target, batch_size=3)
        con.execute("delete from restore.apply_log where plan_id = ? and outcome <> 'attempted'", [plan_id])
        again = apply_plan(con, plan_id, target)  # as after a crash that lost every outcome
        with pytest.raises(BadInput, match="file target cannot be verified"):
            verify_plan(con, plan_id, target)
    assert first.outcomes == {"conflict": 1, "written": 10} and again.outcomes == first.outcomes
    assert again.written_now == 0
    keys = [entry["objectWriteTraceId"] for path in sorted((tmp_path / "files" / "hubspot").glob("*.json"))
            for entry in json.loads(path.read_text())["inputs"]]
    assert len(keys) == len(set(keys)) == 10
    deals = sorted((tmp_path / "files" / "salesforce").glob("*-Opportunity-update.csv"))
    # each file speaks its CRM's own values: Salesforce's stage picklist, HubSpot's internal stage id
    assert sorted(p.read_text() for p in deals) == ["Id,Amount\nd1,1000.00\n", "Id,StageName\nd1,Needs Analysis\n"]
    stages = [entry["properties"]["dealstage"] for path in sorted((tmp_path / "files" / "hubspot").glob("*-deals-*.json"))
              for entry in json.loads(path.read_text())["inputs"] if "dealstage" in entry.get("properties", {})]
    assert "presentationscheduled" in stages and not set(stages) - {  # HubSpot's default-pipeline stage ids
        "appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent",
        "closedwon", "closedlost"}


def test_a_file_export_is_audited_without_claiming_crm_changes(world: tuple[Path, Path], tmp_path: Path) -> None:
    warehouse, crm = world
    exported, applied = planned(warehouse), None
    with connect(warehouse) as con:
        apply_plan(con, exported, FileTarget(tmp_path / "files"))
        calls = [e for e in map(json.loads, write_action_log(con, exported, tmp_path / "audit").read_text().splitlines())
                 if e["event_type"] == "tool_call"]
        # the import is someone's edit when it happens: the export itself changes nothing in the CRM
        assert len(calls) == 10 and {c["tool"]["name"] for c in calls} == {"export_restore_file"}
        assert all(c["changes"] == [] and c["tool"]["credential_scope"] == "file" for c in calls)
        applied = create_plan(con, Scope(run_ids=("R1",)), "u_ops2").plan_id  # the same plan, to the CRM
        approve(con, applied, "u_ops1")
    with running_service(crm) as svc, connect(warehouse) as con:
        apply_plan(con, applied, local(svc.url))
        calls = [e for e in map(json.loads, write_action_log(con, applied, tmp_path / "audit").read_text().splitlines())
                 if e["event_type"] == "tool_call"]
        assert len(calls) == 10 and all(c["changes"] for c in calls)  # a CRM write claims its change


def test_an_unreachable_crm_stops_apply_and_leaves_items_pending(world: tuple[Path, Path]) -> None:
    warehouse, crm = world
    plan_id = planned(warehouse)
    with running_service(crm) as svc:
        url = svc.url  # a port nobody listens on once the service has stopped
    with connect(warehouse) as con:
        with pytest.raises(CheckFailed, match="did not answer a read"):
            apply_plan(con, plan_id, HubSpotClient(url, "usr_crmguard_restore", backoff=0.01, max_attempts=2))
        logged = dict(con.execute("select outcome, count(*) from restore.apply_log where plan_id = ? group by 1",
                                  [plan_id]).fetchall())
    assert logged == {"conflict": 1}  # only the planned conflict; the ten actionable items are still pending
