"""`crmguard restore verify`: read every item back from the CRM and store a receipt.

Expected per item: the value to restore for items that were (or already were) restored, the value
left in place for conflicts (a conflict is never clobbered), the whole record for a recreate. A conflict
that someone changed again after apply still matches unless it now shows the value crmguard would have
written (that would be a clobber); the receipt counts them as `conflict_changed_since_apply`. The plan
ends `verified` when every item matches, `partial` when some do, `failed` when none do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from crmguard.crm.adapters import CrmAdapter
from crmguard.crm.objects import CRM_OBJECTS, canonical_value
from crmguard.errors import BadInput
from crmguard.restore.approve import require_unaltered, utc_naive


@dataclass
class Receipt:
    """A stored verification of a plan against the CRM."""

    receipt_id: str
    plan_id: str
    plan_hash: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    mismatches: list[dict] = field(default_factory=list)


def _items_with_outcomes(con: duckdb.DuckDBPyConnection, plan_id: str) -> list[tuple]:
    return con.execute(
        """
        with last as (
            select item_no, arg_max(outcome, logged_at) as outcome, arg_max(live_value, logged_at) as live_value
            from restore.apply_log where plan_id = ? and outcome <> 'attempted' group by item_no
        )
        select i.item_no, i.object_type, i.object_id, i.field, i.item_class, i.value_now, i.value_restore,
               i.restore_row, coalesce(l.outcome, 'not_applied'), l.live_value
        from restore.items i left join last l using (item_no)
        where i.plan_id = ? order by i.item_no
        """,
        [plan_id, plan_id],
    ).fetchall()


def expected_value(outcome: str, value_restore: str | None, live_at_apply: str | None) -> str | None:
    """What the CRM should show for a field item once apply is done: a conflict stays as apply found it."""
    return live_at_apply if outcome == "conflict" else value_restore


def verify_plan(con: duckdb.DuckDBPyConnection, plan_id: str, adapter: CrmAdapter,
                now: datetime | None = None) -> Receipt:
    """Compare the CRM with the plan item by item, store the receipt, set the plan's status."""
    if not adapter.reads_live:
        raise BadInput("a file target cannot be verified: import the files, then verify against the CRM")
    plan_hash = require_unaltered(con, plan_id)
    rows = _items_with_outcomes(con, plan_id)
    live: dict[tuple[str, str], dict] = {}
    for object_type in sorted({r[1] for r in rows}):
        obj = CRM_OBJECTS[object_type]
        for recreated in (False, True):  # a recreated record is found by the record id it carries
            ids = sorted({r[2] for r in rows if r[1] == object_type and (r[4] == "recreate") == recreated})
            if ids:
                found = adapter.read(obj, ids, list(obj.writable), by_record_id=recreated)
                live |= {(object_type, i): v for i, v in found.items()}
    checks = [_check(r, live.get((r[1], r[2]))) for r in rows]
    matched = sum(c["matches"] for c in checks)
    status = "verified" if matched == len(checks) else "partial" if matched else "failed"
    counts = {"items": len(checks), "matched": matched, "mismatched": len(checks) - matched}
    for c in checks:
        counts[c["outcome"]] = counts.get(c["outcome"], 0) + 1
    if any(c["changed_since_apply"] for c in checks):
        counts["conflict_changed_since_apply"] = sum(c["changed_since_apply"] for c in checks)
    at = utc_naive(now)
    receipt_id = "rr_" + hashlib.sha256(f"{plan_id}|{plan_hash}|{at}".encode()).hexdigest()[:16]
    _store(con, receipt_id, plan_id, plan_hash, adapter.name, at, status, counts, checks)
    return Receipt(receipt_id, plan_id, plan_hash, status, counts, [c for c in checks if not c["matches"]])


def _check(row: tuple, record: dict | None) -> dict:
    """Expected vs actual for one item (a recreate compares every restored column, an archive whether the
    record is gone)."""
    item_no, object_type, object_id, field_name, item_class, _, value_restore, restore_row, outcome, live_at_apply = row
    changed_by_others = False
    if item_class == "recreate":
        wanted = {k: v for k, v in json.loads(restore_row).items() if k in CRM_OBJECTS[object_type].writable}
        expected = json.dumps(wanted, sort_keys=True)
        actual = None if record is None else json.dumps({k: record.get(k) for k in wanted}, sort_keys=True)
        matches = record is not None and all(canonical_value(record.get(k)) == canonical_value(v)
                                             for k, v in wanted.items())
    elif field_name is None and value_restore == "archived":  # a created deal: archived, or left if a conflict
        expected = "exists" if outcome == "conflict" else "archived"
        actual = "archived" if record is None else "exists"
        matches = expected == actual
    else:
        expected = expected_value(outcome, value_restore, live_at_apply)
        actual = None if record is None else record.get(field_name)
        # A conflict on a record someone deleted is "left as it was" when it is still gone.
        unchanged = (record is None and outcome == "conflict" and expected is None) or (
            record is not None and canonical_value(actual) == canonical_value(expected))
        # A conflict is someone else's value: they may change it again after apply. Only the value crmguard
        # would have written means it was clobbered; any other change is theirs and is counted, not failed.
        changed_by_others = outcome == "conflict" and not unchanged and \
            canonical_value(actual) != canonical_value(value_restore)
        matches = unchanged or changed_by_others
    return {"item_no": item_no, "object_type": object_type, "object_id": object_id, "field": field_name,
            "expected": expected, "actual": actual, "matches": bool(matches), "outcome": outcome,
            "changed_since_apply": changed_by_others}


def _store(con: duckdb.DuckDBPyConnection, receipt_id: str, plan_id: str, plan_hash: str, adapter: str,
           at: datetime, status: str, counts: dict, checks: list[dict]) -> None:
    con.execute("begin")
    con.execute("insert into restore.receipts values (?, ?, ?, ?, ?, ?, ?)",
                [receipt_id, plan_id, plan_hash, adapter, at, status, json.dumps(counts, sort_keys=True)])
    rows = pa.table({  # noqa: F841 (read by DuckDB)
        "receipt_id": [receipt_id] * len(checks), "item_no": [c["item_no"] for c in checks],
        "expected": pa.array([c["expected"] for c in checks], pa.string()),
        "actual": pa.array([c["actual"] for c in checks], pa.string()),
        "matches": [c["matches"] for c in checks], "outcome": [c["outcome"] for c in checks],
    })
    if checks:
        con.execute("insert into restore.receipt_items by name select * from rows")
    con.execute("update restore.plans set status = ? where plan_id = ?", [status, plan_id])
    con.execute("commit")
