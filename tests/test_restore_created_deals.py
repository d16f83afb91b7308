"""A deal an agent created is undone by archiving it (issue 6): on a generated world, plan, approve, apply
to the local CRM service (with a lost answer on the archive) with the restore job's audit trail, verify;
and the same item as import files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import run_cli
from crmguard.crm.adapters import FileTarget, HubSpotClient
from crmguard.crm.objects import OBJECTS
from crmguard.crm.server import running_service
from crmguard.crm.store import CrmStore
from crmguard.ingest.run import ingest_paths
from crmguard.restore.apply import apply_plan
from crmguard.restore.approve import approve
from crmguard.restore.flow import apply_with_audit
from crmguard.restore.plan import Scope, create_plan
from crmguard.restore.verify import verify_plan
from crmguard.transform import build
from crmguard.warehouse import connect


def test_a_deal_created_by_the_run_is_archived_and_verified(world_factory, tmp_path: Path) -> None:
    world = world_factory(incidents="mass_reassignment")
    with connect(world.warehouse) as con:
        run_id, deal_id, event_id = con.execute(
            "select run_id, target_object_id, event_id from main.fct_agent_actions "
            "where tool_name = 'create_deal' and status = 'succeeded' and not dry_run order by event_id limit 1"
        ).fetchone()
        ops = [r[0] for r in con.execute("select user_id from main.dim_users where role = 'ops' order by 1").fetchall()]
        stamp = con.execute("select strftime(updated_at, '%Y-%m-%dT%H:%M:%SZ') from main.dim_crm_deals "
                            "where deal_id = ?", [deal_id]).fetchone()[0]
        plan = create_plan(con, Scope(run_ids=(run_id,)), ops[0])
        on_deal = con.execute("select field, item_class, value_now, value_restore, undoes from restore.items "
                              "where plan_id = ? and object_id = ?", [plan.plan_id, deal_id]).fetchall()
        approve(con, plan.plan_id, ops[1])
    # one whole-record item for the created deal, no field reverts of it (they would be archived anyway);
    # its value now is the deal's last-modified time in the latest snapshot
    assert stamp is not None and on_deal == [(None, "archive_deal", stamp, "archived", [event_id])]

    store = CrmStore(tmp_path / "crm")
    store.seed(sorted((world.root / "crm").iterdir())[-1])
    assert deal_id in store.read(OBJECTS["deals"], [deal_id])
    store.close()
    with running_service(tmp_path / "crm", "timeout=2") as svc, connect(world.warehouse) as con:
        client = HubSpotClient(svc.url, "usr_crmguard_restore", name="local", backoff=0.01)
        first = apply_with_audit(con, plan.plan_id, client, tmp_path / "audit")
        assert first["outcomes"].get("failed") is None and first["outcomes"]["written"] == plan.items
        assert first["audit_ingested"]["rejected"] == 0
        assert apply_plan(con, plan.plan_id, client).written_now == 0
        audited = con.execute(
            "select json_extract_string(payload, '$.target.object_id') from raw.agent_events "
            "where agent_id = 'crmguard-restore' and json_extract_string(payload, '$.tool.name') = 'archive_deal' "
            "and json_extract_string(payload, '$.outcome.status') = 'succeeded'").fetchall()
        assert audited == [(deal_id,)]
        assert max(svc.store.write_counts().values()) == 1
        assert svc.store.read(OBJECTS["deals"], [deal_id]) == {}
        receipt = verify_plan(con, plan.plan_id, client)
        archived = con.execute("select expected, actual, matches from restore.receipt_items r join restore.items i "
                               "on i.plan_id = ? and i.item_no = r.item_no where r.receipt_id = ? "
                               "and i.object_id = ?", [plan.plan_id, receipt.receipt_id, deal_id]).fetchall()
        client.close()
        snapshot = svc.store.export(tmp_path / "landing", datetime.now(UTC) + timedelta(seconds=1))
    assert receipt.status == "verified" and archived == [("archived", "archived", True)]

    # The same undo as import files: a HubSpot batch archive and a Salesforce Bulk API delete job, once.
    with connect(world.warehouse) as con:
        again = create_plan(con, Scope(event_ids=(event_id,)), ops[0])
        approve(con, again.plan_id, ops[1])
        files = FileTarget(tmp_path / "files")
        assert apply_plan(con, again.plan_id, files).outcomes == {"written": 1}
        assert apply_plan(con, again.plan_id, files).written_now == 0
    [hubspot] = (tmp_path / "files" / "hubspot").glob("*-deals-archive.json")
    [job] = (tmp_path / "files" / "salesforce").glob("*-archive.job.json")
    [rows] = (tmp_path / "files" / "salesforce").glob("*-archive.csv")
    assert [i["id"] for i in json.loads(hubspot.read_text())["inputs"]] == [deal_id]
    assert json.loads(job.read_text())["operation"] == "delete"
    assert rows.read_text().splitlines() == ["Id", deal_id]

    # The next snapshot shows the deal gone; the restore job's archive call is the cause, not "unexplained".
    ingest_paths(world.warehouse, [snapshot])
    assert build(world.warehouse).success
    with connect(world.warehouse, read_only=True) as con:
        deleted = con.execute(
            "select change_type, cause, rule from main.fct_change_attribution where record_type = 'observed_change'"
            " and object_id = ? and window_end = (select max(captured_at) from raw.crm_snapshots)", [deal_id]).fetchall()
    assert deleted == [("delete", "restore", "R1_restore")]


def test_a_created_deal_someone_edited_after_the_plan_is_a_conflict_not_archived(world_factory, tmp_path: Path) -> None:
    """Between plan and apply a person works on the deal the agent created: apply re-reads its last-modified
    time, logs a conflict and leaves the deal (and their edit) alone, as a drifted field revert is."""
    world = world_factory(incidents="mass_reassignment")
    with connect(world.warehouse) as con:
        deal_id, event_id = con.execute(
            "select target_object_id, event_id from main.fct_agent_actions "
            "where tool_name = 'create_deal' and status = 'succeeded' and not dry_run order by event_id limit 1"
        ).fetchone()
        ops = [r[0] for r in con.execute("select user_id from main.dim_users where role = 'ops' order by 1").fetchall()]
        plan = create_plan(con, Scope(event_ids=(event_id,)), ops[0])
        approve(con, plan.plan_id, ops[1])
    deals = OBJECTS["deals"]
    store = CrmStore(tmp_path / "crm")
    store.seed(sorted((world.root / "crm").iterdir())[-1])
    store.write(deals, "update", [(deal_id, {"name": "Renamed by its account executive"}, None)], user="usr_human")
    store.close()
    with running_service(tmp_path / "crm") as svc, connect(world.warehouse) as con:
        client = HubSpotClient(svc.url, "usr_crmguard_restore", name="local", backoff=0.01)
        report = apply_plan(con, plan.plan_id, client)
        logged = con.execute("select outcome, live_value, error from restore.apply_log where plan_id = ?",
                             [plan.plan_id]).fetchall()
        live = svc.store.read(deals, [deal_id])
        receipt = verify_plan(con, plan.plan_id, client)
        client.close()
    assert report.outcomes == {"conflict": 1} and report.written_now == 0
    assert [(outcome, error) for outcome, _, error in logged] == [("conflict", "live value drifted from the plan")]
    assert live[deal_id]["name"] == "Renamed by its account executive"
    assert receipt.status == "verified"  # a conflict is left as it was, and verify expects exactly that


def test_a_deal_created_after_the_latest_snapshot_is_archived_from_the_live_crm(tmp_path: Path) -> None:
    """The run created the deal after the latest ingested snapshot: no snapshot shows it, so the plan cannot
    say it is gone. The item is an `archive_deal` without a value now, and apply archives it from the CRM."""
    root, warehouse = tmp_path / "world", tmp_path / "wh" / "warehouse.duckdb"
    run_cli("generate", "--out", str(root), "--seed", "7", "--accounts", "300", "--days", "5",
            "--incidents", "mass_reassignment")
    snapshots = sorted((root / "crm").iterdir())
    ingest_paths(warehouse, sorted((root / "actions").glob("*.jsonl")) + snapshots[:-1])  # not the last one
    assert build(warehouse).success
    with connect(warehouse) as con:
        found = con.execute(
            "select target_object_id, event_id from main.fct_agent_actions where tool_name = 'create_deal'"
            " and status = 'succeeded' and not dry_run"
            " and target_object_id not in (select deal_id from main.scd_crm_deals) order by event_id limit 1"
        ).fetchone()
        assert found is not None, "the last day of the generated world creates deals"
        deal_id, event_id = found
        ops = [r[0] for r in con.execute("select user_id from main.dim_users where role = 'ops' order by 1").fetchall()]
        plan = create_plan(con, Scope(event_ids=(event_id,)), ops[0])
        items = con.execute("select field, item_class, value_now from restore.items where plan_id = ?",
                            [plan.plan_id]).fetchall()
        approve(con, plan.plan_id, ops[1])
    assert items == [(None, "archive_deal", None)]
    store = CrmStore(tmp_path / "crm")
    store.seed(snapshots[-1])  # the CRM as it is now: the deal exists
    store.close()
    with running_service(tmp_path / "crm") as svc, connect(warehouse) as con:
        client = HubSpotClient(svc.url, "usr_crmguard_restore", name="local", backoff=0.01)
        report = apply_plan(con, plan.plan_id, client)
        gone = svc.store.read(OBJECTS["deals"], [deal_id]) == {}
        client.close()
    assert report.outcomes == {"written": 1} and gone
