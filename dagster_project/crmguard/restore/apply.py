"""`crmguard restore apply`: write an approved plan to a CRM, exactly once per item, audited.

Exactly-once without a CRM that supports it: before a batch is sent its items are logged `attempted`
(committed), and before every batch the live values are re-read. An item whose live value already
equals the value to restore is not written again: `written` when an earlier attempt of ours landed
(a crash or a lost answer after the CRM committed), `skipped` when it was already there. An item
whose live value drifted from the plan's "value now" becomes a `conflict` unless forced. Every
outcome is appended to `restore.apply_log` with plan id, plan hash, approver and adapter.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from crmguard.crm.adapters import CrmAdapter, CrmUnavailable, ItemWrite, OutcomeUnknown
from crmguard.crm.objects import CRM_OBJECTS, canonical_value
from crmguard.errors import CheckFailed
from crmguard.restore.approve import require_approval, utc_naive

ACTIONABLE = ("revert", "recreate", "archive_deal", "pause_enrollment", "cancel_meeting", "cancel_scheduled_email")
FINAL = ("written", "skipped", "conflict")  # outcomes a rerun never revisits (`failed` is retried)
UNKNOWN_OUTCOME_ROUNDS = 3


@dataclass(frozen=True)
class Item:
    """One plan item as apply needs it."""

    item_no: int
    object_type: str
    object_id: str
    field: str | None
    item_class: str
    value_now: str | None
    value_restore: str | None
    restore_row: dict | None
    forced: bool
    key: str
    attempted_before: bool

    @property
    def archives(self) -> bool:
        """A whole-record item without a row to restore: the record goes (`archive_deal`, or a forced conflict
        of one)."""
        return self.field is None and self.restore_row is None and self.item_class != "recreate"

    @property
    def operation(self) -> str:
        return "create" if self.item_class == "recreate" else "archive" if self.archives else "update"

    def properties(self) -> dict[str, str | None]:
        if self.archives:
            return {}
        if self.restore_row is not None:
            obj = CRM_OBJECTS[self.object_type]
            return {c: v for c, v in self.restore_row.items() if c in obj.writable}
        return {self.field or "": self.value_restore}


@dataclass
class ApplyReport:
    """What apply did, counted over every item's latest outcome (this run and earlier ones)."""

    plan_id: str
    apply_id: str
    adapter: str
    approver: str
    items: int
    outcomes: dict[str, int] = field(default_factory=dict)
    written_now: int = 0
    requests: dict[str, int] = field(default_factory=dict)


class ApplyRun:
    """One apply of one plan: the warehouse connection, the adapter and the approval it runs under."""

    def __init__(self, con: duckdb.DuckDBPyConnection, plan_id: str, adapter: CrmAdapter,
                 now: Callable[[], datetime] | None = None) -> None:
        self.con, self.plan_id, self.adapter = con, plan_id, adapter
        self.clock = now or (lambda: utc_naive())
        self.approval = require_approval(con, plan_id, self.clock())
        self.apply_id = f"ap_{self.clock():%Y%m%dT%H%M%SZ}_{uuid.uuid4().hex[:8]}"
        self.written_now = 0
        self._queued: list[pa.Table] = []

    def log(self, items: list[Item], outcome: str, live: dict[int, str | None] | None = None,
            errors: dict[int, str] | None = None) -> None:
        """Queue outcomes; `attempted` rows are written at once, with everything queued before them.

        Attempts must be durable before the write goes out (a rerun relies on them); other outcomes
        may wait for the next commit, because a rerun re-derives them from the live CRM anyway.
        """
        if items:
            at, live, errors = self.clock(), live or {}, errors or {}
            self._queued.append(pa.table({
                "apply_id": [self.apply_id] * len(items), "plan_id": [self.plan_id] * len(items),
                "plan_hash": [self.approval.plan_hash] * len(items), "item_no": [i.item_no for i in items],
                "idempotency_key": [i.key for i in items], "approver": [self.approval.approver] * len(items),
                "adapter": [self.adapter.name] * len(items), "outcome": [outcome] * len(items),
                "live_value": pa.array([live.get(i.item_no) for i in items], pa.string()),
                "error": pa.array([errors.get(i.item_no) for i in items], pa.string()),
                "logged_at": pa.array([at] * len(items), pa.timestamp("us")),
            }))
        if outcome == "attempted":
            self.flush()

    def flush(self) -> None:
        """Append every queued outcome in one statement (one commit)."""
        if self._queued:
            rows = pa.concat_tables(self._queued)  # noqa: F841 (read by DuckDB below)
            self.con.execute("insert into restore.apply_log by name select * from rows")
            self._queued = []

    def pending_items(self) -> list[Item]:
        """Items without a final outcome yet, in plan order (parent-first)."""
        rows = self.con.execute(
            """
            with last as (
                select item_no, arg_max(outcome, logged_at) filter (where outcome <> 'attempted') as final,
                       bool_or(outcome = 'attempted') as attempted
                from restore.apply_log where plan_id = ? group by item_no
            )
            select i.item_no, i.object_type, i.object_id, i.field, i.item_class, i.value_now, i.value_restore,
                   i.restore_row, i.forced, i.idempotency_key, coalesce(l.attempted, false)
            from restore.items i left join last l using (item_no)
            where i.plan_id = ? and (l.final is null or l.final not in ('written', 'skipped', 'conflict'))
            order by i.item_no
            """,
            [self.plan_id, self.plan_id],
        ).fetchall()
        return [Item(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]) if r[7] else None, r[8], r[9],
                     r[10]) for r in rows]

    def run(self, batch_size: int = 100, on_batch: Callable[[int, int], None] | None = None) -> ApplyReport:
        """Apply every pending item; `on_batch(done, total)` reports progress."""
        pending = self.pending_items()
        self.log([i for i in pending if i.item_class == "already_restored"], "skipped")
        self.log([i for i in pending if i.item_class == "conflict" and not i.forced], "conflict",
                 live={i.item_no: i.value_now for i in pending})
        actionable = [i for i in pending if i.item_class in ACTIONABLE or (i.item_class == "conflict" and i.forced)]
        done = 0
        try:
            for batch in batches(actionable, batch_size):
                self.apply_batch(batch)
                done += len(batch)
                if on_batch:
                    on_batch(done, len(actionable))
        finally:
            self.flush()
        self.con.execute("update restore.plans set status = 'applied' where plan_id = ? and status = 'planned'",
                         [self.plan_id])
        return self.report()

    def apply_batch(self, batch: list[Item]) -> None:
        """Re-read live values, settle what needs no write, write the rest; bounded on lost answers."""
        for _ in range(UNKNOWN_OUTCOME_ROUNDS):
            try:
                to_write = self.settle(batch)
            except CrmUnavailable as exc:
                # Without live values nothing can be written safely; stop rather than fail every item.
                raise CheckFailed(f"the CRM did not answer a read ({exc}); stopped, items not yet written "
                                  f"stay pending: rerun `crmguard restore apply {self.plan_id}`") from None
            if not to_write:
                return
            self.log([i for i in to_write if not i.attempted_before], "attempted")
            batch = [_attempted(i) for i in to_write]
            try:
                outcomes = self.adapter.write(CRM_OBJECTS[batch[0].object_type], batch[0].operation,
                                              [ItemWrite(i.object_id, i.properties(), i.key) for i in batch])
            except OutcomeUnknown:
                continue  # the CRM may have committed: the next round re-reads and decides per item
            except CrmUnavailable as exc:
                self.log(batch, "failed", errors={i.item_no: str(exc) for i in batch})
                return
            written = [i for i in batch if outcomes[i.key].written]
            self.written_now += len(written)
            self.log(written, "written")
            self.log([i for i in batch if not outcomes[i.key].written], "failed",
                     errors={i.item_no: outcomes[i.key].error or "rejected" for i in batch})
            return
        self.log(batch, "failed", errors={i.item_no: "no answer from the CRM after retries; rerun apply"
                                          for i in batch})

    def settle(self, batch: list[Item]) -> list[Item]:
        """Log items the live CRM already settles (landed, drifted, gone); return the ones to write."""
        obj = CRM_OBJECTS[batch[0].object_type]
        # an archive compares the record's last-modified time with the plan's (see `judge`)
        stamp = {"updated_at"} if batch[0].archives and "updated_at" in obj.columns else set()
        fields = sorted({i.field for i in batch if i.field} or stamp or {obj.id_column})
        # a recreated record is found by the record id it carries, not the id the CRM gave it
        live = self.adapter.read(obj, [i.object_id for i in batch], fields,
                                 by_record_id=batch[0].item_class == "recreate")
        to_write: list[Item] = []
        for item in batch:
            verdict, live_value = judge(item, live.get(item.object_id), self.adapter.reads_live)
            if verdict == "write":
                to_write.append(item)
            else:
                self.log([item], verdict, live={item.item_no: live_value},
                         errors={item.item_no: "live value drifted from the plan" if verdict == "conflict" else None})
        return to_write

    def report(self) -> ApplyReport:
        """Counts over each item's latest final outcome, so a rerun reports the whole plan."""
        counts = self.con.execute(
            """
            select outcome, count(*) from (
                select item_no, arg_max(outcome, logged_at) filter (where outcome <> 'attempted') as outcome
                from restore.apply_log where plan_id = ? group by item_no
            ) where outcome is not null group by 1 order by 1
            """,
            [self.plan_id],
        ).fetchall()
        total = self.con.execute("select count(*) from restore.items where plan_id = ?", [self.plan_id]).fetchone()[0]
        return ApplyReport(self.plan_id, self.apply_id, self.adapter.name, self.approval.approver, total,
                           dict(counts), self.written_now, dict(getattr(self.adapter, "stats", {})))


def judge(item: Item, live: dict[str, str | None] | None, reads_live: bool) -> tuple[str, str | None]:
    """Decide one item from the CRM's live record: write, or already `written`/`skipped`, or `conflict`."""
    landed = "written" if item.attempted_before else "skipped"
    if item.item_class == "recreate":
        return (landed, "exists") if live is not None else ("write", None)
    if item.archives:
        # a live CRM no longer returns an archived record; a file target lists what it exported as archived
        archived = live is None if reads_live else live == {}
        if archived:
            return landed, None
        # modified since the snapshot the plan read (someone worked on the deal): theirs, unless forced
        stamp = canonical_value((live or {}).get("updated_at"))
        if reads_live and not item.forced and item.value_now not in (None, "exists") and stamp != item.value_now:
            return "conflict", stamp
        return "write", stamp or "exists"
    if not reads_live and (live is None or item.field not in live):
        return "write", item.value_now  # a file target knows only what it exported before
    if live is None:
        return "conflict", None  # the record was deleted since planning
    value = live.get(item.field or "")
    if canonical_value(value) == canonical_value(item.value_restore):
        return landed, value
    if canonical_value(value) != canonical_value(item.value_now) and not item.forced:
        return "conflict", value
    return "write", value


def _attempted(item: Item) -> Item:
    return Item(**{**item.__dict__, "attempted_before": True})


def batches(items: list[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive items of one object and operation, at most `size`, one item per record per batch
    (HubSpot refuses a batch naming the same record twice)."""
    batch: list[Item] = []
    for item in items:
        same = batch and (batch[0].object_type, batch[0].operation) == (item.object_type, item.operation)
        if batch and (not same or len(batch) >= size or any(b.object_id == item.object_id for b in batch)):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def apply_plan(con: duckdb.DuckDBPyConnection, plan_id: str, adapter: CrmAdapter, *, batch_size: int = 100,
               now: Callable[[], datetime] | None = None,
               on_batch: Callable[[int, int], None] | None = None) -> ApplyReport:
    """Apply an approved, unaltered plan (refuses otherwise) and return the outcome counts."""
    return ApplyRun(con, plan_id, adapter, now).run(batch_size, on_batch)
