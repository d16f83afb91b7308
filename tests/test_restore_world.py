"""The correctness bar of issue 6 on a generated world: plan, approve, apply (with faults), verify,
then the restored CRM goes back through ingest and dbt, and attribution calls those writes `restore`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmguard.crm.adapters import HubSpotClient
from crmguard.crm.objects import OBJECTS, canonical_value
from crmguard.crm.server import running_service
from crmguard.crm.store import CrmStore
from crmguard.errors import BadInput
from crmguard.ingest.run import ingest_paths
from crmguard.restore.approve import approve
from crmguard.restore.flow import apply_with_audit, runs_breaking_critical_stops
from crmguard.restore.plan import Scope, create_plan
from crmguard.restore.verify import verify_plan
from crmguard.transform import build
from crmguard.warehouse import connect

# The value each field had before the run, straight from SCD2 (independent of the plan's SQL).
BEFORE_RUN = """
select a.object_type, a.object_id, a.field, {value} as before
from main.fct_change_attribution a
join main.scd_crm_{plural} s on s.{key} = a.object_id
     and s.valid_from <= a.window_start and (s.valid_to is null or s.valid_to > a.window_start)
where a.record_type = 'observed_change' and a.run_id = ? and a.object_type = '{singular}' and a.field = 'owner_id'
qualify row_number() over (partition by a.object_id order by a.window_start) = 1
"""


def incident_runs(world, kind: str) -> set[str]:
    """Runs of the tool calls of every injected incident of a kind (from the ground truth)."""
    events = [e for line in world.ground_truth.read_text().splitlines() if json.loads(line)["kind"] == kind
              for e in json.loads(line)["event_ids"]]
    with connect(world.warehouse, read_only=True) as con:
        return {r[0] for r in con.execute("select distinct run_id from main.fct_agent_actions where event_id in "
                                          "(select unnest(?::varchar[]))", [events]).fetchall()}


def test_a_misbehaving_run_is_undone_verified_and_attributed_as_restore(world_factory, tmp_path: Path) -> None:
    world = world_factory(incidents="mass_reassignment,action_after_stop")
    run_id = sorted(incident_runs(world, "mass_reassignment"))[0]
    with connect(world.warehouse, read_only=True) as con:
        proposals = {run for run, _, _ in runs_breaking_critical_stops(con)}
    # what the sensor would propose: the runs that ran past a stop, not the (high-severity) reassignment
    assert proposals and proposals <= incident_runs(world, "action_after_stop")
    assert not proposals & incident_runs(world, "mass_reassignment")
    with connect(world.warehouse) as con:
        ops = [r[0] for r in con.execute("select user_id from main.dim_users where role = 'ops' order by 1").fetchall()]
        plan = create_plan(con, Scope(run_ids=(run_id,)), ops[0])
        with pytest.raises(BadInput, match="planner cannot approve"):
            approve(con, plan.plan_id, ops[0])
        approve(con, plan.plan_id, ops[1])
        before = {}
        for name in ("accounts", "contacts", "deals"):
            obj = OBJECTS[name]
            sql = BEFORE_RUN.format(value="s.owner_id", plural=name, key=obj.id_column, singular=name[:-1])
            before |= {(name, r[1]): r[3] for r in con.execute(sql, [run_id]).fetchall()}
        items = con.execute("select object_type, object_id, item_class, value_now from restore.items "
                            "where plan_id = ?", [plan.plan_id]).fetchall()
    assert plan.items >= 40 and len(before) == len({(i[0], i[1]) for i in items})
    latest = sorted((world.root / "crm").iterdir())[-1]
    store = CrmStore(tmp_path / "crm")
    store.seed(latest)
    store.close()
    with running_service(tmp_path / "crm", "429=2,retry_after=1,500=4,timeout=6") as svc, \
            connect(world.warehouse) as con:
        client = HubSpotClient(svc.url, "usr_crmguard_restore", name="local", backoff=0.01)
        first = apply_with_audit(con, plan.plan_id, client, tmp_path / "audit", batch_size=10)
        assert first["outcomes"].get("failed") is None
        assert apply_with_audit(con, plan.plan_id, client, tmp_path / "audit")["written_now"] == 0
        assert max(svc.store.write_counts().values()) == 1
        receipt = verify_plan(con, plan.plan_id, client)
        assert receipt.status == "verified" and receipt.counts["items"] == plan.items
        # the same refusal on a generated world: an item edited after approval voids the plan
        altered = create_plan(con, Scope(run_ids=(run_id,)), ops[1])
        approve(con, altered.plan_id, ops[0])
        con.execute("update restore.plan_items set value_restore = 'usr_evil' where item_no = 1 "
                    "and plan_no = (select plan_no from restore.plans where plan_id = ?)", [altered.plan_id])
        with pytest.raises(BadInput, match="altered after planning"):
            apply_with_audit(con, altered.plan_id, client, tmp_path / "audit")
        for object_type, object_id, item_class, value_now in items:
            live = svc.store.read(OBJECTS[object_type], [object_id])[object_id]["owner_id"]
            expected = value_now if item_class == "conflict" else before[(object_type, object_id)]
            assert canonical_value(live) == canonical_value(expected), (object_type, object_id, item_class)
        snapshot = svc.store.export(tmp_path / "landing", datetime.now(UTC) + timedelta(seconds=1))
    ingest_paths(world.warehouse, [snapshot])
    assert build(world.warehouse).success
    with connect(world.warehouse, read_only=True) as con:
        causes = con.execute("select cause, count(*) from main.fct_change_attribution "
                             "where record_type = 'observed_change' and window_end = "
                             "(select max(captured_at) from raw.crm_snapshots) group by 1").fetchall()
        claims = con.execute("select verification, count(*) from main.fct_change_attribution "
                             "where record_type = 'claimed_write' and agent_id = 'crmguard-restore' "
                             "group by 1").fetchall()
    written = first["outcomes"]["written"]
    assert causes == [("restore", written)]
    assert claims == [("verified", written)]
