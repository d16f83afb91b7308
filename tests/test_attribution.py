"""Attribution, run status and SCD2 on a hand-made raw layer: one case per documented rule.

The raw rows are written the way ingest writes them (crmguard.ingest.schema creates the tables), then
the real dbt project is built on a temporary warehouse and the marts are read back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmguard.ingest.schema import ensure_raw_schema
from crmguard.transform import build, run_dbt
from crmguard.warehouse import connect

S0, S1, S2 = "2026-01-01 00:00:00", "2026-01-02 00:00:00", "2026-01-03 00:00:00"
AGENT, HUMAN, UNKNOWN = "u-agent-dd", "u-human-ops", "u-ghost"

# deal_id -> (account_id, name, pipeline, stage, amount, currency, discount_pct, close_date, owner_id, updated_at, updated_by)
DEALS_S0 = {
    "d1": ("a1", "D1", "new_business", "prospecting", "1000.00", "USD", "0.00", "2026-03-01", HUMAN, S0, HUMAN),
    "d2": ("a1", "D2", "new_business", "discovery", "500.00", "USD", "0.00", "2026-03-01", HUMAN, S0, HUMAN),
    "d3": ("a1", "D3", "new_business", "discovery", "700.00", "USD", "0.00", "2026-03-01", HUMAN, S0, HUMAN),
    "d4": ("a1", "D4", "new_business", "discovery", "800.00", "USD", "0.00", "2026-03-01", HUMAN, S0, HUMAN),
    "d5": ("a1", "D5", "new_business", "proposal", "900.00", "USD", "0.00", "2026-03-01", HUMAN, S0, HUMAN),
    "d7": ("a1", "D7", "new_business", "proposal", "100.00", "USD", "0.00", "2026-03-01", HUMAN, S0, HUMAN),
}


def _changed(row: tuple, **fields: str) -> tuple:
    names = ["account_id", "name", "pipeline", "stage", "amount", "currency", "discount_pct", "close_date",
             "owner_id", "updated_at", "updated_by"]
    values = list(row)
    for key, value in fields.items():
        values[names.index(key)] = value
    return tuple(values)


DEALS_S1 = {
    **DEALS_S0,
    "d1": _changed(DEALS_S0["d1"], stage="qualification", updated_at="2026-01-01 10:00:00", updated_by=AGENT),
    "d2": _changed(DEALS_S0["d2"], amount="600.00", updated_at="2026-01-01 11:00:00", updated_by=AGENT),
    "d4": _changed(DEALS_S0["d4"], stage="proposal", updated_at="2026-01-01 12:00:00", updated_by=HUMAN),
    "d5": _changed(DEALS_S0["d5"], discount_pct="10.00", updated_at="2026-01-01 13:00:00", updated_by=AGENT),
    "d6": ("a1", "D6", "new_business", "prospecting", "2500.00", "USD", "0.00", "2026-04-01", AGENT,
           "2026-01-01 14:00:00", AGENT),
}
del DEALS_S1["d7"]
DEALS_S2 = {**DEALS_S1, "d3": _changed(DEALS_S1["d3"], owner_id=UNKNOWN, updated_by=UNKNOWN)}


def _event(event_id: str, event_type: str, at: str, run_id: str, step: int, **payload: object) -> dict:
    return {
        "event_id": event_id, "event_type": event_type, "occurred_at": at, "agent_id": "deal-desk",
        "agent_version": "1.0", "run_id": run_id, "step": step, "environment": "production",
        "actor_type": "agent", "actor_id": AGENT, "actor_role": "dealdesk_agent", "actor_on_behalf_of": HUMAN,
        "payload": {"event_id": event_id, "event_type": event_type, **payload},
    }


def _call(event_id: str, at: str, run_id: str, step: int, changes: list[dict], status: str = "succeeded",
          dry_run: bool = False, call_id: str | None = None, attempt: int = 1, retry_of: str | None = None) -> dict:
    return _event(
        event_id, "tool_call", at, run_id, step,
        tool={"name": "update_deal", "call_id": call_id or f"c-{event_id}", "credential_scope": "deals:write"},
        target={"object_type": "deal", "object_id": changes[0]["object_id"] if changes else "d0", "account_id": "a1"},
        input={}, changes=changes, context={"model": "m", "prompt_sha256": "x", "retrieved": []},
        outcome={"status": status, "error": None, "attempt": attempt, "retry_of": retry_of}, dry_run=dry_run,
        approval_id=None,
    )


def _claim(deal: str, field: str, old: object, new: object) -> dict:
    return {"object_type": "deal", "object_id": deal, "field": field, "old": old, "new": new}


EVENTS = [
    _event("r1-start", "run_started", "2026-01-01 09:00:00", "r1", 0),
    _call("e1", "2026-01-01 10:00:00", "r1", 1, [_claim("d1", "stage", "prospecting", "qualification")]),
    _call("e3", "2026-01-01 13:00:00", "r1", 2, [_claim("d5", "discount_pct", 0.0, 10.0)], dry_run=True),
    _call("e4", "2026-01-01 14:00:00", "r1", 3, [_claim("d6", "stage", None, "prospecting"),
                                                  _claim("d6", "amount", None, 2500.0)]),
    _call("e2", "2026-01-01 15:00:00", "r1", 4, [_claim("d3", "stage", "discovery", "proposal")]),
    _call("e5", "2026-01-01 16:00:00", "r1", 5, [_claim("d1", "amount", 1000.0, 1100.0)], status="failed"),
    _event("r1-end", "run_finished", "2026-01-01 16:30:00", "r1", 6, outcome={"status": "failed"}),
    _event("r2-start", "run_started", "2026-01-02 09:00:00", "r2", 0),
    _call("e6", "2026-01-02 10:00:00", "r2", 1, [_claim("d4", "amount", 800.0, 850.0)], status="failed", call_id="c6"),
    _call("e7", "2026-01-02 10:05:00", "r2", 1, [_claim("d4", "amount", 800.0, 850.0)], call_id="c6", attempt=2,
          retry_of="e6"),
    _event("r2-end", "run_finished", "2026-01-02 11:00:00", "r2", 2, outcome={"status": "succeeded"}),
    _call("e8", "2026-01-03 10:00:00", "r3", 1, [_claim("d1", "stage", "qualification", "discovery")]),
]

USERS = [(HUMAN, "ops@x.io", "Olga", "ops", "deal_desk", "false"), (AGENT, "dd@x.io", "deal-desk", "agent", "deal_desk", "true")]


def write_hand_world(warehouse: Path, snapshots: int = 3) -> None:
    """Write the hand-made raw layer: users, deals at up to three snapshots, and the events above."""
    deals_by_snapshot = [DEALS_S0, DEALS_S1, DEALS_S2][:snapshots]
    stamps = [S0, S1, S2][:snapshots]
    with connect(warehouse) as con:
        ensure_raw_schema(con)
        for at, deals in zip(stamps, deals_by_snapshot, strict=True):
            sid = at.replace("-", "").replace(":", "").replace(" ", "T") + "Z"
            con.execute("insert into raw.crm_snapshots values (?, ?, 'test', '{}', ?, ?)", [sid, at, sid, f"load-{sid}"])
            for user in USERS:
                con.execute("insert into raw.crm_users values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'users.csv', 1, null)",
                            [*user, sid, at, f"load-{sid}"])
            for deal_id, row in deals.items():
                con.execute("insert into raw.crm_deals values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'deals.csv', 1, null)",
                            [deal_id, *row, sid, at, f"load-{sid}"])
        for line, event in enumerate(EVENTS, start=1):
            con.execute(
                "insert into raw.agent_events values (?, '1', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'native', ?, 'a.jsonl', ?)",
                [event["event_id"], event["event_type"], event["occurred_at"], event["agent_id"], event["agent_version"],
                 event["run_id"], event["step"], event["environment"], event["actor_type"], event["actor_id"],
                 event["actor_role"], event["actor_on_behalf_of"], json.dumps(event["payload"]),
                 "load-actions-" + event["occurred_at"][:10], line],
            )


# The hand world has no policy inputs: build only this capability's nodes (fct_flags unions the policy
# engineers' flag models too, so the hand tests read the attribution and run flag models directly).
OWN_NODES = ("path:models/staging", "path:models/intermediate", "path:models/marts/audit",
             "path:models/marts/crm", "path:snapshots")


@pytest.fixture(scope="module")
def hand_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("hand") / "warehouse.duckdb"
    write_hand_world(warehouse)
    result = build(warehouse, OWN_NODES)
    assert result.success, result.failures
    return warehouse


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    with connect(warehouse, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_observed_changes_get_one_cause_per_rule(hand_warehouse: Path) -> None:
    rows = _rows(hand_warehouse, """
        select object_id, coalesce(field, change_type), cause, rule, event_id
        from fct_change_attribution where record_type = 'observed_change' order by 1, 2""")
    assert rows == [
        ("d1", "stage", "agent", "R2_agent_claim", "e1"),
        ("d2", "amount", "unexplained", "R5_no_cause", None),
        ("d3", "owner_id", "unexplained", "R5_no_cause", None),
        ("d4", "stage", "human", "R4_human_writer", None),
        ("d5", "discount_pct", "agent_dry_run", "R3_dry_run_claim", "e3"),
        ("d6", "create", "agent", "R2_agent_claim", "e4"),
        ("d7", "delete", "unexplained", "R5_no_cause", None),
    ]


def test_claimed_writes_are_verified_against_the_next_snapshot(hand_warehouse: Path) -> None:
    rows = _rows(hand_warehouse, """
        select event_id, object_id, field, verification, observed_value
        from fct_change_attribution where record_type = 'claimed_write' order by 1, 2, 3""")
    assert rows == [
        ("e1", "d1", "stage", "verified", "qualification"),
        ("e2", "d3", "stage", "not_observed", "discovery"),
        ("e3", "d5", "discount_pct", "dry_run_applied", "10"),
        ("e4", "d6", "amount", "verified", "2500"),
        ("e4", "d6", "stage", "verified", "prospecting"),
        ("e7", "d4", "amount", "not_observed", "800"),
        ("e8", "d1", "stage", "pending", None),
    ]


def test_claims_compare_canonical_values() -> None:
    """12000.0 claimed equals 12000.00 exported; flags false/False/0 are one value."""
    from crmguard.warehouse import connect as _connect  # the same UTC-pinned session dbt gets

    with _connect(":memory:") as con:
        got = con.execute("""
            select regexp_replace(cast(try_cast(trim(v) as decimal(38,6)) as varchar), '\\.?0+$', '')
            from (values ('12000.0'), ('12000.00'), ('15.50'), ('0')) t(v)""").fetchall()
    assert [g[0] for g in got] == ["12000", "12000", "15.5", "0"]


def test_runs_status_and_retries_are_not_double_counted(hand_warehouse: Path) -> None:
    runs = _rows(hand_warehouse, """
        select run_id, status, steps, actions_succeeded, actions_failed, failed_after_write_event_id
        from fct_agent_runs order by 1""")
    assert runs == [
        ("r1", "failed_mid_way", 5, 4, 1, "e5"),
        ("r2", "completed", 1, 1, 0, None),
        ("r3", "running", 1, 1, 0, None),
    ]
    retry = _rows(hand_warehouse, "select event_id, logical_call_id, is_final_attempt from fct_agent_actions "
                                  "where run_id = 'r2' order by 1")
    assert retry == [("e6", "e6", False), ("e7", "e6", True)]


def test_flags_of_attribution_and_runs(hand_warehouse: Path) -> None:
    flags = _rows(hand_warehouse, "select kind, event_id, object_id, field from int_flags_attribution union all "
                                  "select kind, event_id, object_id, field from int_flags_runs order by 1, 3, 4")
    assert flags == [
        ("claimed_write_not_observed", "e2", "d3", "stage"),
        ("claimed_write_not_observed", "e7", "d4", "amount"),
        ("dry_run_wrote", "e3", "d5", "discount_pct"),
        ("partial_run_failure", "e5", "r1", None),
        ("unexplained_change", None, "d2", "amount"),
        ("unexplained_change", None, "d3", "owner_id"),
        ("unexplained_change", None, "d7", None),
    ]


def test_scd2_history_and_as_of(hand_warehouse: Path) -> None:
    history = _rows(hand_warehouse, """
        select deal_id, stage, cast(amount as varchar), valid_from, valid_to, is_deleted
        from scd_crm_deals where deal_id in ('d1', 'd7') order by 1, 4""")
    assert [(h[0], h[1], h[2], str(h[3]), str(h[4]), h[5]) for h in history] == [
        ("d1", "prospecting", "1000.00", "2026-01-01 00:00:00", "2026-01-02 00:00:00", False),
        ("d1", "qualification", "1000.00", "2026-01-02 00:00:00", "None", False),
        ("d7", "proposal", "100.00", "2026-01-01 00:00:00", "2026-01-02 00:00:00", False),
        ("d7", "proposal", "100.00", "2026-01-02 00:00:00", "None", True),
    ]
    current = _rows(hand_warehouse, "select deal_id from dim_crm_deals order by 1")
    assert [c[0] for c in current] == ["d1", "d2", "d3", "d4", "d5", "d6"]
    # the reusable "state as of T" macro, as a dbt user calls it: d1 before and after its stage change,
    # d7 there before its delete and gone after
    assert _as_of(hand_warehouse, "2026-01-01 12:00:00") == {"d1": "prospecting", "d7": "proposal"}
    assert _as_of(hand_warehouse, "2026-01-02 12:00:00") == {"d1": "qualification"}


def _as_of(warehouse: Path, at: str) -> dict[str, str]:
    """deal_id -> stage of d1 and d7 through `{{ crm_as_of('deals', T) }}` (`dbt show --inline`)."""
    lines: list[str] = []
    sql = f"select deal_id, stage from {{{{ crm_as_of('deals', \"timestamp '{at}'\") }}}} where deal_id in ('d1', 'd7')"
    run_dbt("show", warehouse, ["--inline", sql, "--output", "json", "--log-format", "json"], on_line=lines.append)
    previews = [json.loads(line)["data"]["preview"] for line in lines
                if line.startswith("{") and "preview" in json.loads(line).get("data", {})]
    return {row["deal_id"]: row["stage"] for row in json.loads(previews[0])}


def test_incremental_build_adds_a_day_and_matches_a_full_refresh(tmp_path: Path) -> None:
    """Build on two snapshots, ingest the third, build again: same marts as one build over all three."""
    incremental = tmp_path / "inc" / "warehouse.duckdb"
    write_hand_world(incremental, snapshots=2)
    assert build(incremental, OWN_NODES).success
    with connect(incremental) as con:  # the third snapshot arrives later, as a new load
        scratch = tmp_path / "full" / "warehouse.duckdb"
        write_hand_world(scratch, snapshots=3)
        con.execute(f"attach '{scratch}' as full_world (read_only)")
        for table in ("crm_snapshots", "crm_users", "crm_deals"):
            column = "captured_at" if table == "crm_snapshots" else "_captured_at"
            con.execute(f"insert into raw.{table} select * from full_world.raw.{table} where {column} = '{S2}'")
        con.execute("detach full_world")
    assert build(incremental, OWN_NODES).success
    assert build(scratch, OWN_NODES).success
    marts = ("fct_change_attribution", "fct_crm_field_changes", "fct_agent_runs", "fct_agent_actions",
             "int_flags_attribution", "scd_crm_deals")
    for mart in marts:
        with connect(incremental, read_only=True) as con:
            left = con.execute(f"select * from {mart} order by all").fetchall()
        with connect(scratch, read_only=True) as con:
            right = con.execute(f"select * from {mart} order by all").fetchall()
        assert left == right, mart
