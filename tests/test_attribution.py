"""Attribution, run status and SCD2 on a hand-made raw layer: one case per documented rule.

The raw rows are written the way ingest writes them (crmguard.ingest.schema creates the tables), then
the real dbt project is built on a temporary warehouse and the marts are read back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmguard.ingest.schema import ensure_raw_schema
from crmguard.transform import build
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


@pytest.fixture(scope="module")
def hand_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("hand") / "warehouse.duckdb"
    write_hand_world(warehouse)
    result = build(warehouse)
    assert result.success, result.failures
    return warehouse


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    with connect(warehouse, read_only=True) as con:
        return con.execute(sql).fetchall()
