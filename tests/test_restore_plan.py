"""Restore plans on a hand-made history (stand-in marts shaped as docs/marts.md promises).

The story: run R1 of agent lead-router moves owners, rewrites a deal, deletes account a2 (its contacts
and deal go with it), enrolls a contact and books a meeting. Later a human moves c1's owner again
(a conflict) and another run changes a1's industry (out of scope).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest

from crmguard.crm.objects import CRM_OBJECTS, OBJECTS
from crmguard.crm.store import CrmStore
from crmguard.errors import BadInput
from crmguard.restore.approve import approve, force_items, require_unaltered
from crmguard.restore.bench import build_history
from crmguard.restore.plan import ITEM_ORDER, Scope, create_plan, current_hash
from crmguard.restore.schema import ensure_restore_schema
from crmguard.restore.standin import create_standin_marts, insert_rows
from crmguard.warehouse import connect

S0, S1, S2 = datetime(2026, 1, 1), datetime(2026, 1, 2), datetime(2026, 1, 3)
AGENT, AGENT_USER = "lead-router", "usr_agent_router"

# The CRM before the run (S0).
ACCOUNTS0 = {
    "a1": dict(name="Acme", domain="acme.test", industry="software", employees="120", lifecycle="prospect",
               owner_id="u_ae1", legal_hold="false", security_incident_open="false"),
    "a2": dict(name="Beta", domain="beta.test", industry="retail", employees="80", lifecycle="customer",
               owner_id="u_ae1", legal_hold="false", security_incident_open="false"),
}
CONTACTS0 = {
    "c1": dict(account_id="a1", email="c1@acme.test", first_name="Ann", last_name="Lee", title="CTO",
               owner_id="u_ae1", email_opt_out="false", email_bounced="false", do_not_contact="false"),
    "c2": dict(account_id="a2", email="c2@beta.test", first_name="Bob", last_name="Ray", title="CFO",
               owner_id="u_ae1", email_opt_out="false", email_bounced="false", do_not_contact="false"),
    "c3": dict(account_id="a2", email="c3@beta.test", first_name="Cy", last_name="Fox", title="VP",
               owner_id="u_ae1", email_opt_out="false", email_bounced="true", do_not_contact="false"),
}
DEALS0 = {
    "d1": dict(account_id="a1", name="Acme expansion", pipeline="new_business", stage="discovery",
               amount="1000.00", currency="USD", discount_pct="0.00", close_date="2026-03-01", owner_id="u_ae1"),
    "d2": dict(account_id="a2", name="Beta renewal", pipeline="new_business", stage="proposal",
               amount="2500.00", currency="USD", discount_pct="5.00", close_date="2026-02-01", owner_id="u_ae1"),
}
# (change id, object, id, field, type, old, new, window, event, cause, run)
CHANGES = [
    ("ch1", "account", "a1", "owner_id", "update", "u_ae1", "u_ae2", (S0, S1), "e1", "agent", "R1"),
    ("ch2", "contact", "c1", "owner_id", "update", "u_ae1", "u_ae2", (S0, S1), "e2", "agent", "R1"),
    ("ch3", "deal", "d1", "stage", "update", "discovery", "closed_won", (S0, S1), "e3", "agent", "R1"),
    ("ch4", "deal", "d1", "amount", "update", "1000.00", "5000.00", (S0, S1), "e3", "agent", "R1"),
    ("ch5", "account", "a2", None, "delete", None, None, (S0, S1), "e4", "agent", "R1"),
    ("ch6", "contact", "c2", None, "delete", None, None, (S0, S1), None, "unexplained", None),
    ("ch7", "contact", "c3", None, "delete", None, None, (S0, S1), None, "unexplained", None),
    ("ch8", "deal", "d2", None, "delete", None, None, (S0, S1), None, "unexplained", None),
    ("ch9", "contact", "c1", "owner_id", "update", "u_ae2", "u_ae3", (S1, S2), None, "human", None),
    ("ch10", "account", "a1", "industry", "update", "software", "fintech", (S1, S2), "e9", "agent", "R2"),
]
USERS = [("u_ops1", "ops"), ("u_ops2", "ops"), ("u_ae1", "ae"), ("u_ae2", "ae"), ("u_ae3", "ae")]


def live_state() -> dict[str, dict[str, dict]]:
    """The CRM now (S2): what the service is seeded with and dim_crm_* show."""
    accounts = {"a1": {**ACCOUNTS0["a1"], "owner_id": "u_ae2", "industry": "fintech"}}
    contacts = {"c1": {**CONTACTS0["c1"], "owner_id": "u_ae3"}}
    deals = {"d1": {**DEALS0["d1"], "stage": "closed_won", "amount": "5000.00"}}
    enrollments = {"n1": dict(contact_id="c1", sequence_id="seq1", status="active", step="1", enrolled_by=AGENT_USER)}
    meetings = {"m1": dict(contact_id="c1", deal_id="d1", owner_id="u_ae1", starts_at="2026-01-10T15:00:00Z",
                           status="scheduled", booked_by=AGENT_USER)}
    emails = {"call_e7": dict(contact_id="c1", send_at="2099-01-01T09:00:00Z", status="scheduled", sent_by=AGENT_USER)}
    return {"accounts": accounts, "contacts": contacts, "deals": deals, "sequence_enrollments": enrollments,
            "meetings": meetings, "emails": emails}


def _records(name: str, rows: dict[str, dict], **extra) -> list[dict]:
    obj = OBJECTS[name]
    return [{obj.id_column: k, **v, "updated_at": None, **extra} for k, v in rows.items()]


def build_world(warehouse: Path, crm_data: Path | None = None) -> None:
    """Stand-in marts for the story in `warehouse`; the live CRM in `crm_data` when given."""
    with connect(warehouse) as con:
        create_standin_marts(con)
        insert_rows(con, "dim_users", [{"user_id": u, "role": r, "is_agent": False} for u, r in USERS])
        insert_rows(con, "fct_crm_field_changes", [
            {"change_id": c[0], "object_type": c[1], "object_id": c[2], "field": c[3], "change_type": c[4],
             "old_value": c[5], "new_value": c[6], "window_start": c[7][0], "window_end": c[7][1]}
            for c in CHANGES])
        insert_rows(con, "fct_change_attribution", [
            {"attribution_id": f"at_{c[0]}", "record_type": "observed_change", "change_id": c[0], "event_id": c[8],
             "object_type": c[1], "object_id": c[2], "field": c[3], "old_value": c[5], "new_value": c[6],
             "window_start": c[7][0], "window_end": c[7][1], "cause": c[9], "run_id": c[10],
             "agent_id": AGENT if c[10] else None} for c in CHANGES])
        actions = [("e1", "assign_owner"), ("e2", "assign_owner"), ("e3", "update_deal"), ("e4", "update_account"),
                   ("e5", "enroll_in_sequence"), ("e6", "book_meeting")]
        insert_rows(con, "fct_agent_actions", [
            {"event_id": e, "occurred_at": datetime(2026, 1, 1, 10, n), "agent_id": AGENT, "run_id": "R1",
             "tool_name": t, "status": "succeeded", "dry_run": False, "actor_id": AGENT_USER}
            for n, (e, t) in enumerate(actions)] + [
            {"event_id": "e9", "occurred_at": datetime(2026, 1, 2, 9), "agent_id": AGENT, "run_id": "R2",
             "tool_name": "update_account", "status": "succeeded", "dry_run": False}] + [
            # e7 queued an email for later (to be cancelled); e8's went out long ago (nothing to cancel)
            {"event_id": e, "occurred_at": datetime(2026, 1, 1, 11), "agent_id": AGENT, "run_id": "R1",
             "tool_name": "send_email", "status": "succeeded", "dry_run": False, "call_id": f"call_{e}",
             "target_object_type": "contact", "target_object_id": "c1", "input": json.dumps({"send_at": at})}
            for e, at in (("e7", "2099-01-01T09:00:00Z"), ("e8", "2026-01-01T11:00:00+00:00"))])
        insert_rows(con, "fct_claimed_changes", [
            {"claim_id": "e5:0", "event_id": "e5", "object_type": "sequence_enrollment", "object_id": "n1",
             "field": "status", "new_value": "active", "run_id": "R1", "agent_id": AGENT},
            {"claim_id": "e6:0", "event_id": "e6", "object_type": "meeting", "object_id": "m1",
             "field": "status", "new_value": "scheduled", "run_id": "R1", "agent_id": AGENT}])
        for name, rows in (("accounts", ACCOUNTS0), ("contacts", CONTACTS0), ("deals", DEALS0)):
            gone = {k: v for k, v in rows.items() if k in ("a2", "c2", "c3", "d2")}
            live = live_state()[name]  # simplified history of the survivors: one version since S0
            insert_rows(con, f"scd_crm_{name}",
                        _records(name, gone, valid_from=S0, valid_to=S1, is_deleted=False)
                        + _records(name, gone, valid_from=S1, valid_to=None, is_deleted=True)
                        + _records(name, live, valid_from=S0, valid_to=None, is_deleted=False))
        for name, rows in live_state().items():
            if name in OBJECTS:  # scheduled emails are no snapshot object: no dim
                insert_rows(con, f"dim_crm_{name}", _records(name, rows))
    if crm_data is not None:
        store = CrmStore(crm_data)
        for name, rows in live_state().items():
            obj = CRM_OBJECTS[name]
            store.replace_rows(obj, [tuple({obj.id_column: k, **v, "updated_by": "u_x"}.get(c) for c in obj.columns)
                                     for k, v in rows.items()])
        store.close()


def items_of(warehouse: Path, plan_id: str) -> list[tuple]:
    with connect(warehouse, read_only=True) as con:
        return con.execute(
            "select item_no, object_type, object_id, field, item_class, value_now, value_restore, undoes "
            "from restore.items where plan_id = ? order by item_no", [plan_id]).fetchall()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "wh" / "warehouse.duckdb"
    build_world(path)
    return path


def test_run_scope_plans_reverts_conflicts_recreates_and_compensations(warehouse: Path) -> None:
    with connect(warehouse) as con:
        summary = create_plan(con, Scope(run_ids=("R1",)), "u_ops1")
    rows = items_of(warehouse, summary.plan_id)
    assert [(r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows] == [
        ("accounts", "a2", None, "recreate", None, None),
        ("contacts", "c2", None, "recreate", None, None),
        ("contacts", "c3", None, "recreate", None, None),
        ("deals", "d2", None, "recreate", None, None),
        ("accounts", "a1", "owner_id", "revert", "u_ae2", "u_ae1"),
        ("contacts", "c1", "owner_id", "conflict", "u_ae3", "u_ae1"),
        ("deals", "d1", "amount", "revert", "5000.00", "1000.00"),
        ("deals", "d1", "stage", "revert", "closed_won", "discovery"),
        ("sequence_enrollments", "n1", "status", "pause_enrollment", "active", "paused"),
        ("meetings", "m1", "status", "cancel_meeting", "scheduled", "cancelled"),
        ("emails", "call_e7", "status", "cancel_scheduled_email", "scheduled", "cancelled"),
    ]
    assert rows[4][7] == ["e1"] and rows[0][7] == ["e4"]
    assert summary.by_class == {"cancel_meeting": 1, "cancel_scheduled_email": 1, "conflict": 1,
                                "pause_enrollment": 1, "recreate": 4, "revert": 3}
    with connect(warehouse, read_only=True) as con:
        row = con.execute("select restore_row from restore.items where plan_id = ? and object_id = 'c3'",
                          [summary.plan_id]).fetchone()[0]
    assert '"email_bounced":"true"' in row and '"account_id":"a2"' in row


def test_action_scope_undoes_exactly_those_actions(warehouse: Path) -> None:
    with connect(warehouse) as con:
        summary = create_plan(con, Scope(event_ids=("e3",)), "u_ops1")
    assert [(r[2], r[3], r[4]) for r in items_of(warehouse, summary.plan_id)] == [
        ("d1", "amount", "revert"), ("d1", "stage", "revert")]


def test_agent_scope_respects_the_time_range(warehouse: Path) -> None:
    with connect(warehouse) as con:
        late = create_plan(con, Scope(agent=AGENT, since=datetime(2026, 1, 2)), "u_ops1")
        everything = create_plan(con, Scope(agent=AGENT), "u_ops1", now=datetime(2026, 2, 1))
    assert [(r[2], r[3], r[4]) for r in items_of(warehouse, late.plan_id)] == [("a1", "industry", "revert")]
    assert everything.items == 12  # R1's eleven items plus R2's industry change


def test_as_of_restores_chosen_records_to_a_point_in_time(warehouse: Path) -> None:
    with connect(warehouse) as con:
        summary = create_plan(con, Scope(as_of=S0, object_type="contacts", ids=("c1",)), "u_ops1")
    assert [(r[3], r[4], r[5], r[6]) for r in items_of(warehouse, summary.plan_id)] == [
        ("owner_id", "revert", "u_ae3", "u_ae1")]


def test_plan_hash_is_content_hash_and_detects_edits(warehouse: Path) -> None:
    with connect(warehouse) as con:
        one = create_plan(con, Scope(run_ids=("R1",)), "u_ops1", now=datetime(2026, 2, 1))
        two = create_plan(con, Scope(run_ids=("R1",)), "u_ops2", now=datetime(2026, 2, 2))
        assert one.plan_hash == two.plan_hash and one.plan_id != two.plan_id
        con.execute("update restore.plan_items set value_restore = 'u_evil' where item_no = 5 "
                    "and plan_no = (select plan_no from restore.plans where plan_id = ?)", [one.plan_id])
        assert current_hash(con, one.plan_id) != one.plan_hash


def test_every_crm_object_fits_the_item_enum() -> None:
    """plan_items stores the object as an ENUM of WRITE_ORDER: a CRM object missing from it would make every
    plan that touches it fail with a conversion error (and it would have no place in the parent-first order)."""
    from crmguard.crm.objects import WRITE_ORDER
    assert set(CRM_OBJECTS) <= set(WRITE_ORDER)


def test_a_large_plan_is_numbered_in_item_order(tmp_path: Path) -> None:
    """100k items, enough for DuckDB to sort them on two threads: the numbers follow ITEM_ORDER exactly."""
    with connect(tmp_path / "warehouse.duckdb") as con:
        build_history(con, 100_000)
        con.execute("update main.fct_crm_field_changes set object_type = 'contact' where object_id like '%7'")
        con.execute("update main.fct_change_attribution set object_type = 'contact' where object_id like '%7'")
        plan = create_plan(con, Scope(run_ids=("bench_run",)), "u_ops1")
        types, misnumbered = con.execute(
            f"select count(distinct object_type), count(*) filter (where item_no <> expected) from (select item_no, "
            f"object_type, row_number() over (order by {ITEM_ORDER}) as expected from restore.items "
            "where plan_id = ?)", [plan.plan_id]).fetchone()
    assert plan.items == 100_000 and types == 2 and misnumbered == 0


def _to_the_layout_before_plan_numbers(con) -> None:
    """Rewrite the restore schema as warehouses stored it before restore.plan_items: an items table with the
    plan id and idempotency key on every row, and plans without a number."""
    con.execute("create table restore.items_then as select * from restore.items")
    con.execute("drop view restore.items")
    con.execute("drop table restore.plan_items")
    con.execute("alter table restore.items_then rename to items")
    con.execute("drop index restore.plans_plan_no")
    con.execute("alter table restore.plans drop column plan_no")
    con.execute("checkpoint")


def test_a_warehouse_from_before_plan_numbers_is_migrated_without_voiding_its_approvals(warehouse: Path) -> None:
    with connect(warehouse) as con:
        later = create_plan(con, Scope(run_ids=("R1",)), "u_ops1", now=datetime(2026, 2, 2))
        first = create_plan(con, Scope(event_ids=("e3",)), "u_ops1", now=datetime(2026, 2, 1))
        approve(con, later.plan_id, "u_ops2")
        before = con.execute("select * from restore.items order by plan_id, item_no").fetchall()
        _to_the_layout_before_plan_numbers(con)
        assert con.execute("select table_type from information_schema.tables where table_schema = 'restore' "
                           "and table_name = 'items'").fetchone() == ("BASE TABLE",)

        ensure_restore_schema(con)
        assert con.execute("select * from restore.items order by plan_id, item_no").fetchall() == before
        # numbered in the order they were made; the approval still binds: the hash did not move
        assert con.execute("select plan_id from restore.plans order by plan_no").fetchall() == [
            (first.plan_id,), (later.plan_id,)]
        assert require_unaltered(con, later.plan_id) == later.plan_hash
        conflict = con.execute("select item_no from restore.items where plan_id = ? and item_class = 'conflict'",
                               [later.plan_id]).fetchone()[0]
        assert force_items(con, later.plan_id, [conflict]) != later.plan_hash
        assert create_plan(con, Scope(run_ids=("R1",)), "u_ops2", now=datetime(2026, 2, 3)).plan_hash == later.plan_hash


def test_a_migration_that_would_lose_items_changes_nothing(warehouse: Path) -> None:
    with connect(warehouse) as con:
        plan = create_plan(con, Scope(run_ids=("R1",)), "u_ops1", now=datetime(2026, 2, 1))
        _to_the_layout_before_plan_numbers(con)
        con.execute("delete from restore.plans where plan_id = ?", [plan.plan_id])
        with pytest.raises(BadInput, match=r"restore.items holds \d+ items of plans missing from restore.plans"):
            ensure_restore_schema(con)
        assert con.execute("select count(*) from restore.items").fetchone()[0] == plan.items
        assert con.execute("select count(*) from information_schema.tables where table_schema = 'restore' "
                           "and table_name = 'plan_items'").fetchone()[0] == 0


def test_bad_scopes_are_one_line_errors(warehouse: Path, tmp_path: Path) -> None:
    with connect(warehouse) as con:
        with pytest.raises(BadInput, match="exactly one scope"):
            create_plan(con, Scope(run_ids=("R1",), agent=AGENT), "u_ops1")
        with pytest.raises(BadInput, match="--as-of needs --object-type"):
            create_plan(con, Scope(as_of=S0), "u_ops1")
        # narrowing options of a point-in-time restore are refused elsewhere, not silently ignored
        for narrowed in (Scope(run_ids=("R1",), object_type="deals"), Scope(agent=AGENT, ids=("d1",)),
                         Scope(event_ids=("e3",), account="a1")):
            with pytest.raises(BadInput, match="only apply to --as-of"):
                create_plan(con, narrowed, "u_ops1")
        with pytest.raises(BadInput, match="--object-type 'users'"):  # the CRM API cannot write users
            create_plan(con, Scope(as_of=S0, object_type="users"), "u_ops1")
    with connect(tmp_path / "empty" / "warehouse.duckdb") as con:
        with pytest.raises(BadInput, match="run `crmguard build`"):
            create_plan(con, Scope(run_ids=("R1",)), "u_ops1")


def test_plan_hash_is_sha256_of_documented_canonical_lines(warehouse: Path) -> None:
    """docs/restore.md: one JSON array per item in field order, joined by newlines, in item order."""
    with connect(warehouse) as con:
        summary = create_plan(con, Scope(run_ids=("R1",)), "u_ops1")
        rows = con.execute("select item_no, object_type, object_id, field, item_class, value_now, value_restore, "
                           "restore_row, undoes, forced from restore.items where plan_id = ? order by item_no",
                           [summary.plan_id]).fetchall()
    lines = [json.dumps([*r[:7], json.loads(r[7]) if r[7] else None, r[8], r[9]], separators=(",", ":"))
             for r in rows]
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == summary.plan_hash


def test_plan_hash_is_the_documented_digest_for_every_item_kind_and_odd_text(warehouse: Path) -> None:
    """The stored hash equals SHA-256 of the documented text (DuckDB's ordered string_agg of the lines) and
    the recomputed one, for every item kind, quotes, newlines, non-ASCII text, a field changed several times
    (its sorted events) and an empty plan."""
    with connect(warehouse) as con:
        later = {"window_start": S1, "window_end": S2, "cause": "agent", "run_id": "R1", "agent_id": AGENT}
        extra = [("ch11", "deal", "d1", "amount", "5000.00", "7000.00", "e10"),
                 ("ch12", "deal", "d1", "amount", "7000.00", "9000.00", "e3"),
                 ("ch13", "contact", "c1", "title", 'CTO "Ann"\nZoë — ü', "CEO", "e2")]
        insert_rows(con, "fct_crm_field_changes", [
            {"change_id": c, "object_type": o, "object_id": i, "field": f, "change_type": "update", "old_value": old,
             "new_value": new, "window_start": S1, "window_end": S2} for c, o, i, f, old, new, _ in extra])
        insert_rows(con, "fct_change_attribution", [
            {"attribution_id": f"at_{c}", "record_type": "observed_change", "change_id": c, "event_id": e,
             "object_type": o, "object_id": i, "field": f, **later} for c, o, i, f, _, _, e in extra])
        plans = [create_plan(con, scope, "u_ops1", now=datetime(2026, 2, 1)) for scope in (
            Scope(run_ids=("R1",)), Scope(agent=AGENT), Scope(as_of=S0, object_type="accounts"),
            Scope(event_ids=("nothing",)))]
        for plan in plans:
            text = con.execute(
                "select coalesce(string_agg(json_array(item_no, object_type, object_id, field, item_class, value_now, "
                "value_restore, restore_row, undoes, forced)::varchar, chr(10) order by item_no), '') "
                "from restore.items where plan_id = ?", [plan.plan_id]).fetchone()[0]
            assert hashlib.sha256(text.encode()).hexdigest() == plan.plan_hash == current_hash(con, plan.plan_id)
        title, amount = con.execute(
            "select (select value_restore from restore.items where plan_id = $p and field = 'title'), "
            "(select undoes from restore.items where plan_id = $p and object_id = 'd1' and field = 'amount')",
            {"p": plans[0].plan_id}).fetchone()
    assert title == 'CTO "Ann"\nZoë — ü' and amount == ["e10", "e3"]
    assert plans[3].items == 0 and plans[3].plan_hash == hashlib.sha256(b"").hexdigest()


def test_as_of_an_account_restores_its_fields_and_brings_back_its_deleted_family(warehouse: Path) -> None:
    with connect(warehouse) as con:
        by_account = create_plan(con, Scope(as_of=S0, object_type="contacts", account="a1"), "u_ops1")
        accounts = create_plan(con, Scope(as_of=S0, object_type="accounts"), "u_ops1")
    assert [(r[2], r[3], r[4]) for r in items_of(warehouse, by_account.plan_id)] == [("c1", "owner_id", "revert")]
    assert [(r[1], r[2], r[3], r[4], r[6]) for r in items_of(warehouse, accounts.plan_id)] == [
        ("accounts", "a2", None, "recreate", None),
        ("contacts", "c2", None, "recreate", None),
        ("contacts", "c3", None, "recreate", None),
        ("deals", "d2", None, "recreate", None),
        ("accounts", "a1", "industry", "revert", "software"),
        ("accounts", "a1", "owner_id", "revert", "u_ae1"),
    ]


def test_undoes_lists_each_scoped_event_once_sorted_without_nulls(warehouse: Path) -> None:
    """A field changed several times in scope undoes every event once; changes without an event add none."""
    extra = [("ch11", "e9", S1), ("ch12", "e3", S1), ("ch13", None, S2)]  # d1 amount again: e9, e3 again, no event
    with connect(warehouse) as con:
        insert_rows(con, "fct_crm_field_changes", [
            {"change_id": c, "object_type": "deal", "object_id": "d1", "field": "amount", "change_type": "update",
             "old_value": "5000.00", "new_value": "5000.00", "window_start": S0, "window_end": end}
            for c, _, end in extra])
        insert_rows(con, "fct_change_attribution", [
            {"attribution_id": f"at_{c}", "record_type": "observed_change", "change_id": c, "event_id": e,
             "cause": "agent", "run_id": "R1", "agent_id": AGENT} for c, e, _ in extra])
        summary = create_plan(con, Scope(run_ids=("R1",)), "u_ops1")
    undoes = {(r[2], r[3]): r[7] for r in items_of(warehouse, summary.plan_id)}
    assert undoes[("d1", "amount")] == ["e3", "e9"]
    assert undoes[("d1", "stage")] == ["e3"] and undoes[("c1", "owner_id")] == ["e2"]
