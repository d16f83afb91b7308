"""`crmguard restore plan`: what to write back, computed in SQL from SCD2 history and attribution.

A plan never touches the CRM. Items come from the marts (docs/marts.md):
- field reverts: observed changes the scope caused (`fct_change_attribution`, cause agent/agent_dry_run),
  restored to the value before the scope's first change of that field (`fct_crm_field_changes`);
  a later change by anyone else makes the item a `conflict`, a field already back is `already_restored`;
- `recreate`: a record the scope deleted comes back as it was (`scd_crm_*`), accounts with the contacts
  and deals deleted in the same window, parent first;
- compensating actions: enrollments the scope started are paused, meetings it booked cancelled
  (`fct_claimed_changes` + `fct_agent_actions`, state from `dim_crm_*`), deals it created archived.
The items are hashed (SHA-256 over their canonical JSON, in item order) and stored in `restore.*`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from crmguard.crm.objects import OBJECTS, WRITE_ORDER
from crmguard.errors import BadInput
from crmguard.restore.schema import ensure_restore_schema
from crmguard.warehouse import quote_ident

REQUIRED_MARTS = ("fct_change_attribution", "fct_crm_field_changes")
_TIMESTAMP_COLUMNS = {"starts_at"}


# The sorted distinct event ids of a group (NULLs dropped). Most groups have one event: min = max answers
# them without building, deduplicating and sorting a list per group (about 15% of a 100k-item plan's CPU).
_UNDOES = ("case when min(event_id) = max(event_id) then [min(event_id)] when min(event_id) is null then []::varchar[] "
           "else list_sort(list_distinct(list(event_id))) end")


def normalized_object(column: str) -> str:
    """SQL mapping action-log object types (`account`) onto canonical object names (`accounts`)."""
    singular = {"account": "accounts", "contact": "contacts", "deal": "deals", "meeting": "meetings",
                "sequence_enrollment": "sequence_enrollments", "user": "users"}
    whens = " ".join(f"when '{k}' then '{v}'" for k, v in singular.items())
    return f"(case {column} {whens} else {column} end)"


@dataclass(frozen=True)
class Scope:
    """What to undo: a run, an agent over a time range, chosen actions, or records as of a time."""

    run_ids: tuple[str, ...] = ()
    agent: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    event_ids: tuple[str, ...] = ()
    as_of: datetime | None = None
    object_type: str | None = None
    ids: tuple[str, ...] = ()
    account: str | None = None

    def validate(self) -> None:
        """One scope kind, with the options it needs; a wrong combination is a one-line usage error."""
        chosen = [bool(self.run_ids), self.agent is not None, bool(self.event_ids), self.as_of is not None]
        if sum(chosen) != 1:
            raise BadInput("choose exactly one scope: --run, --agent, --action or --as-of")
        if self.as_of is not None and self.object_type is None:
            raise BadInput("--as-of needs --object-type (accounts, contacts, deals, ...)")
        if self.as_of is None and (self.object_type is not None or self.ids or self.account is not None):
            # they narrow a point-in-time restore only: with --run/--agent/--action they would be ignored
            raise BadInput("--object-type, --ids and --account only apply to --as-of")
        restorable = [name for name in OBJECTS if name != "users"]  # users are read-only in the CRM API
        if self.object_type is not None and self.object_type not in restorable:
            raise BadInput(f"--object-type {self.object_type!r}: use one of {', '.join(restorable)}")
        if (self.since or self.until) and self.agent is None:
            raise BadInput("--since/--until only apply to --agent")

    def to_json(self) -> str:
        """Canonical JSON of the scope as stored with the plan (UTC times, set fields only)."""
        data = {k: v for k, v in asdict(self).items() if v not in (None, ())}
        return json.dumps(data, sort_keys=True, default=lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"))


@dataclass
class PlanSummary:
    """What `restore plan` reports."""

    plan_id: str
    plan_hash: str
    items: int
    by_class: dict[str, int] = field(default_factory=dict)


def create_plan(con: duckdb.DuckDBPyConnection, scope: Scope, planner: str, *, origin: str = "cli",
                now: datetime | None = None) -> PlanSummary:
    """Compute the items of a scope, store the plan with its hash, and return its summary.

    The items are computed and stored by one INSERT ... WITH statement: materializing intermediate
    temp tables cost several times the diff itself (see `crmguard bench restore`).
    """
    scope.validate()
    tables = main_tables(con)
    for mart in REQUIRED_MARTS:
        if mart not in tables:
            raise BadInput(f"mart main.{mart} is missing: run `crmguard build` before planning a restore")
    ensure_restore_schema(con)
    now = _naive(now or datetime.now(UTC))
    seed = hashlib.sha256(f"{scope.to_json()}|{planner}|{now.isoformat()}".encode()).hexdigest()
    plan_id = f"rp_{now:%Y%m%dT%H%M%SZ}_{seed[:8]}"
    if con.execute("select count(*) from restore.plans where plan_id = ?", [plan_id]).fetchone()[0]:
        raise BadInput(f"plan {plan_id} already exists (same scope planned by you in the same second)")
    # RETURNING hands back each stored item's canonical line: hashing them costs no second read and sort
    sql = _insert_items_sql(tables, scope) + f" returning item_no, item_class, {CANONICAL_LINE} as line"
    con.execute("begin")
    try:
        plan_no = con.execute("select coalesce(max(plan_no), 0) + 1 from restore.plans").fetchone()[0]
        items = con.execute(sql, _bind(sql, scope, plan_no, now)).to_arrow_table()
        count = items.num_rows
        plan_hash, by_class = _digest(items)
        con.execute("insert into restore.plans values (?, ?, ?, ?, ?, ?, 'planned', ?, ?)",
                    [plan_id, now, planner, scope.to_json(), plan_hash, count, origin, plan_no])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return PlanSummary(plan_id, plan_hash, count, by_class)


def main_tables(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The tables and views of schema main, read once: which optional marts a plan can use."""
    rows = con.execute("select table_name from information_schema.tables where table_schema = 'main'").fetchall()
    return frozenset(r[0] for r in rows)


def _naive(value: datetime | None) -> datetime | None:
    """Warehouse timestamps are naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _bind(sql: str, scope: Scope, plan_no: int, now: datetime | None = None) -> dict:
    """The named parameters the statement uses (DuckDB refuses unused ones)."""
    values = {"plan_no": plan_no, "now": now, "runs": list(scope.run_ids), "events": list(scope.event_ids),
              "agent": scope.agent, "since": _naive(scope.since), "until": _naive(scope.until),
              "as_of": _naive(scope.as_of), "object_type": scope.object_type, "ids": list(scope.ids),
              "account": scope.account}
    return {k: v for k, v in values.items() if f"${k}" in sql}


def _scope_filter(scope: Scope, actions: str, attribution: str | None) -> str:
    """WHERE fragment selecting the scope's actions (on fct_agent_actions / fct_change_attribution)."""
    src = attribution or actions
    if scope.run_ids:
        return f"{src}.run_id in (select unnest($runs::varchar[]))"
    if scope.event_ids:
        return f"{src}.event_id in (select unnest($events::varchar[]))"
    when = f"coalesce({actions}.occurred_at, {attribution}.window_end)" if attribution else f"{actions}.occurred_at"
    return (f"{src}.agent_id = $agent and {when} >= coalesce($since::timestamp, '-infinity'::timestamp) "
            f"and {when} < coalesce($until::timestamp, 'infinity'::timestamp)")


def _scoped_sql(tables: frozenset[str], scope: Scope) -> str:
    """Observed changes the scope is about, one row per (change, attributed event)."""
    obj = normalized_object("c.object_type")
    # Only the columns the later steps read: the scope is materialized once, so every column costs.
    columns = (f"{obj} as object_type, c.object_id, c.field, c.change_type, c.old_value, c.window_start, "
               "c.window_end, a.event_id")
    if scope.as_of is not None:
        where = ["c.window_end > $as_of", f"{obj} = $object_type"]
        if scope.ids:
            where.append("c.object_id in (select unnest($ids::varchar[]))")
        if scope.account:
            where.append(f"c.object_id in ({_account_members(tables, scope.object_type or '')})")
        return (f"select {columns} from main.fct_crm_field_changes c left join main.fct_change_attribution a "
                f"on a.change_id = c.change_id and a.record_type = 'observed_change' where {' and '.join(where)}")
    # Only an --agent time range needs the actions' times; joining them otherwise costs for nothing.
    actions = "" if scope.agent is None else "left join main.fct_agent_actions x on x.event_id = a.event_id " \
        if "fct_agent_actions" in tables else \
        "left join (select null::varchar as event_id, null::timestamp as occurred_at) x on false "
    return (f"select {columns} from main.fct_change_attribution a "
            f"join main.fct_crm_field_changes c on c.change_id = a.change_id {actions}"
            f"where a.record_type = 'observed_change' and a.cause in ('agent', 'agent_dry_run') "
            f"and {_scope_filter(scope, 'x', 'a')}")


def _account_members(tables: frozenset[str], object_type: str) -> str:
    """Subquery of the ids of an object type that belong to the account `$account`."""
    if object_type == "accounts":
        return "select $account::varchar"
    if object_type in ("contacts", "deals") and f"scd_crm_{object_type}" in tables:
        return f"select {OBJECTS[object_type].id_column} from main.scd_crm_{object_type} where account_id = $account"
    raise BadInput(f"--account works with --object-type accounts, contacts or deals, not {object_type}")


def _deleted_sql(tables: frozenset[str], scope: Scope) -> str:
    """Records to bring back: deleted in scope, plus contacts/deals deleted with a recreated account.

    The restore point is the start of the scope's first change to the record (`--as-of`: T), so the
    recreated row also undoes the scope's earlier edits of it.
    """
    point = "$as_of::timestamp" if scope.as_of is not None else "min(window_start)"
    direct = (f"select object_type, object_id, {point} as restore_point, max(window_end) as deleted_in, "
              f"{_UNDOES} as undoes "
              "from scoped s semi join (select object_type, object_id from scoped where change_type = 'delete') d "
              "using (object_type, object_id) group by all")
    members = " union all ".join(
        f"select account_id, {OBJECTS[o].id_column} as member_id from main.scd_crm_{o}"
        for o in ("contacts", "deals") if f"scd_crm_{o}" in tables)
    if not members:
        return direct
    return (
        f"with direct as ({direct}) select * from direct union all "
        f"select distinct {normalized_object('c.object_type')}, c.object_id, d.restore_point, c.window_end, d.undoes "
        "from main.fct_crm_field_changes c join direct d on d.object_type = 'accounts' "
        "and c.change_type = 'delete' and c.window_end = d.deleted_in "
        f"and {normalized_object('c.object_type')} in ('contacts', 'deals') "
        f"and c.object_id in (select member_id from ({members}) m where m.account_id = d.object_id) "
        "and c.object_id not in (select object_id from direct)"
    )


def _recreate_sql(tables: frozenset[str]) -> str:
    """Each deleted record as SCD2 shows it at its restore point."""
    parts = []
    for name in WRITE_ORDER:
        if name == "users" or f"scd_crm_{name}" not in tables:
            continue
        obj = OBJECTS[name]
        pack = ", ".join(
            f"{quote_ident(c)} := " + (f"strftime(s.{quote_ident(c)}, '%Y-%m-%dT%H:%M:%SZ')"
                                       if c in _TIMESTAMP_COLUMNS else f"cast(s.{quote_ident(c)} as varchar)")
            for c in obj.columns if c not in ("updated_at", "updated_by"))
        parts.append(
            f"select d.object_type, d.object_id, to_json(struct_pack({pack})) as restore_row, d.undoes "
            f"from deleted d join main.scd_crm_{name} s on d.object_type = '{name}' "
            f"and s.{quote_ident(obj.id_column)} = d.object_id "
            f"and s.valid_from <= d.restore_point and (s.valid_to is null or s.valid_to > d.restore_point) "
            f"and not coalesce(s.is_deleted, false)")
    return " union all ".join(parts) or \
        "select null::varchar, null::varchar, null::json, []::varchar[] where false"


_REVERTS = f"""
    per_field as (
        select object_type, object_id, field,
               arg_min(old_value, window_end) as value_restore,
               max(window_end) as last_scoped_end,
               {_UNDOES} as undoes
        from scoped s anti join (select object_type, object_id from recreate union all
                                 select object_type, object_id from created) r
             on r.object_type = s.object_type and r.object_id = s.object_id
        where change_type = 'update' and field is not null
        group by all
    ),
    latest as (
        select p.object_type, p.object_id, p.field,
               arg_max(c.new_value, c.window_end) as value_now, max(c.window_end) as last_end
        from main.fct_crm_field_changes c
        join per_field p on p.object_type = {normalized_object('c.object_type')}
             and p.object_id = c.object_id and p.field = c.field
        where c.change_type = 'update'
        group by all
    ),
    gone as (
        select {normalized_object('object_type')} as object_type, object_id, max(window_end) as deleted_at
        from main.fct_crm_field_changes where change_type = 'delete' group by all
    ),
    reverts as (
        select p.object_type, p.object_id, p.field,
               case when l.value_now is not distinct from p.value_restore then 'already_restored'
                    when l.last_end > p.last_scoped_end then 'conflict'
                    -- EXISTS, not a LEFT JOIN: DuckDB builds its hash table on the few deletes instead of on
                    -- the scope's fields (~10 ms of a 100k-item plan)
                    when exists (select 1 from gone g where g.object_type = p.object_type
                                 and g.object_id = p.object_id and g.deleted_at > p.last_scoped_end) then 'conflict'
                    else 'revert' end as item_class,
               l.value_now, p.value_restore, null::json as restore_row, p.undoes
        from per_field p
        join latest l using (object_type, object_id, field)
    )"""


def _compensating_sql(tables: frozenset[str], scope: Scope) -> str | None:
    """Enrollments the scope started are paused and meetings it booked cancelled (field `status`)."""
    if scope.as_of is not None or not all(t in tables
                                          for t in ("fct_claimed_changes", "fct_agent_actions")):
        return None
    status_now = {name: (f"(select status from main.dim_crm_{name} d where d.{OBJECTS[name].id_column} = s.object_id)"
                         if f"dim_crm_{name}" in tables else "null::varchar")
                  for name in ("sequence_enrollments", "meetings")}
    kind = normalized_object("k.object_type")
    return f"""
        select object_type, object_id, 'status' as field,
               case when object_type = 'sequence_enrollments' and value_now in ('paused', 'stopped', 'finished')
                        then 'already_restored'
                    when object_type = 'meetings' and value_now = 'cancelled' then 'already_restored'
                    when object_type = 'meetings' and value_now = 'held' then 'conflict'
                    when object_type = 'sequence_enrollments' then 'pause_enrollment'
                    else 'cancel_meeting' end as item_class,
               value_now,
               case when object_type = 'sequence_enrollments' then 'paused' else 'cancelled' end as value_restore,
               null::json as restore_row, undoes
        from (
            select s.*, case s.object_type when 'sequence_enrollments' then {status_now['sequence_enrollments']}
                        else {status_now['meetings']} end as value_now
            from (
                select {kind} as object_type, k.object_id, list_sort(list(distinct x.event_id)) as undoes
                from main.fct_claimed_changes k join main.fct_agent_actions x on x.event_id = k.event_id
                where x.tool_name in ('enroll_in_sequence', 'book_meeting') and x.status = 'succeeded'
                  and not coalesce(x.dry_run, false)
                  and {kind} in ('sequence_enrollments', 'meetings') and {_scope_filter(scope, 'x', None)}
                group by all
            ) s
        ) c
        where not exists (select 1 from reverts r where r.object_type = c.object_type
                          and r.object_id = c.object_id and r.field = 'status')
    """


def _scheduled_emails_sql(tables: frozenset[str], scope: Scope) -> str | None:
    """Emails the scope queued for later (`send_email` whose input `send_at` is after the plan) are cancelled.

    The CRM's email record is the call's `call_id`; apply re-reads it, so one already sent is a conflict.
    """
    if scope.as_of is not None or "fct_agent_actions" not in tables:
        return None
    send_at = ("try_cast(coalesce(json_extract_string(x.input, '$.send_at'), "
               "json_extract_string(x.input, '$.scheduled_at')) as timestamptz)::timestamp")
    return f"""
        select 'emails' as object_type, x.call_id as object_id, 'status' as field,
               'cancel_scheduled_email' as item_class, 'scheduled' as value_now, 'cancelled' as value_restore,
               null::json as restore_row, list_sort(list(distinct x.event_id)) as undoes
        from main.fct_agent_actions x
        where x.tool_name = 'send_email' and x.status = 'succeeded' and not coalesce(x.dry_run, false)
          and x.call_id is not null and {send_at} > $now::timestamp and {_scope_filter(scope, 'x', None)}
        group by all
    """


def _created_sql(tables: frozenset[str], scope: Scope) -> str:
    """Deals the scope created (a succeeded, non-dry-run `create_deal`): they are archived, not field-reverted."""
    if scope.as_of is not None or "fct_agent_actions" not in tables:
        return "select null::varchar as object_type, null::varchar as object_id, []::varchar[] as undoes where false"
    return f"""
        select {normalized_object('x.target_object_type')} as object_type, x.target_object_id as object_id,
               list_sort(list(distinct x.event_id)) as undoes
        from main.fct_agent_actions x
        where x.tool_name = 'create_deal' and x.status = 'succeeded' and not coalesce(x.dry_run, false)
          and x.target_object_id is not null and {_scope_filter(scope, 'x', None)}
        group by all
    """


def _archives_sql(tables: frozenset[str]) -> str:
    """`archive_deal` per created deal; `already_restored` when a snapshot showed it and it is gone,
    `conflict` when anyone else changed it after the scope's last change of it (archiving would throw
    their work away: never unless forced).

    Its value now is the deal's last-modified time as the latest snapshot shows it (canonical text; `exists`
    when the CRM gave none): apply re-reads it, and a deal modified since then is a conflict, not an archive.
    A deal no snapshot has shown yet (created after the latest one) is an `archive_deal` with no value now:
    apply reads the CRM, archives it if it is there and skips it if it is not.
    """
    live = ("main.dim_crm_deals d on d.deal_id = c.object_id" if "dim_crm_deals" in tables
            else "(select null::varchar as deal_id) d on false")
    return f"""
        select c.object_type, c.object_id, null as field,
               case when d.deal_id is null and anyone.last_end is not null then 'already_restored'
                    when d.deal_id is null then 'archive_deal'
                    when anyone.last_end > coalesce(own.last_end, '-infinity'::timestamp) then 'conflict'
                    else 'archive_deal' end as item_class,
               case when d.deal_id is null then null
                    else coalesce(strftime(d.updated_at::timestamp, '%Y-%m-%dT%H:%M:%SZ'), 'exists') end as value_now,
               'archived' as value_restore,
               null::json as restore_row, c.undoes
        from created c
        left join {live}
        left join (select {normalized_object('f.object_type')} as object_type, f.object_id,
                          max(f.window_end) as last_end
                   from main.fct_crm_field_changes f
                   where f.object_id in (select object_id from created)
                   group by all) anyone using (object_type, object_id)
        left join (select s.object_type, s.object_id, max(s.window_end) as last_end
                   from scoped s semi join created c using (object_type, object_id)
                   group by all) own using (object_type, object_id)
    """


# Parent-first: recreates first, then by object (users, accounts, contacts, deals, ...), id and field.
ITEM_ORDER = ("case item_class when 'recreate' then 0 else 1 end, case object_type "
              + " ".join(f"when '{name}' then {rank}" for rank, name in enumerate(WRITE_ORDER))
              + " else 99 end, object_id, field nulls first")


def _insert_items_sql(tables: frozenset[str], scope: Scope) -> str:
    """One statement: scope -> deletes -> recreates -> reverts -> archives and compensations, numbered
    parent-first."""
    compensating = _compensating_sql(tables, scope)
    emails = _scheduled_emails_sql(tables, scope)
    items = ("select * from reverts union all "
             "select object_type, object_id, null, 'recreate', null, null, restore_row, undoes from recreate "
             f"union all {_archives_sql(tables)}"
             + (f" union all {compensating}" if compensating else "") + (f" union all {emails}" if emails else ""))
    return f"""
        insert into restore.plan_items
        with scoped as materialized ({_scoped_sql(tables, scope)}),
        deleted as materialized ({_deleted_sql(tables, scope)}),
        recreate as materialized ({_recreate_sql(tables)}),
        created as materialized ({_created_sql(tables, scope)}),
        {_REVERTS},
        items as ({items})
        select $plan_no, item_no, object_type, object_id, field, item_class, value_now, value_restore,
               restore_row, undoes, false
        from (
            -- numbered in the sorted order: a window with an empty OVER keeps its input's order (DuckDB's
            -- order-preservation rules); 20-30 ms faster than row_number() over (order by ...), which sorts
            -- every column again. tests/test_restore_plan.py checks a 100k-item plan's numbers against ITEM_ORDER.
            select row_number() over ()::integer as item_no, *
            from (select * from items order by {ITEM_ORDER})
        )
    """



# The plan hash: SHA-256 over the items' canonical JSON (an array in fixed field order), one line per item in item
# order, joined by newlines. DuckDB builds the lines (a new plan's come back from its INSERT ... RETURNING, with no
# second read of the items); pyarrow orders them by item_no and joins them, and hashlib digests the bytes, with no
# Python loop over items and no round trip through a Python string (hashlib is about 3x faster than DuckDB's
# sha256() on a 100k-item plan, ~10 MB). create_plan, approve, apply, verify and show all compute it here from the
# items, so any edit of an item (or forcing one) changes it and voids approvals.
CANONICAL_LINE = ("json_array(item_no, object_type, object_id, field, item_class, value_now, value_restore, "
                  "restore_row, undoes, forced)::varchar")


def _hash_and_classes(con: duckdb.DuckDBPyConnection, plan_id: str) -> tuple[str, dict[str, int]]:
    """The hash of the plan's items as stored now and their counts by class, from one read."""
    return _digest(con.execute(f"select item_no, item_class, {CANONICAL_LINE} as line from restore.items "
                               "where plan_id = ?", [plan_id]).to_arrow_table())


def _digest(items: pa.Table) -> tuple[str, dict[str, int]]:
    """The hash of (item_no, item_class, line) rows in item order, and their counts by class."""
    numbers = items.column("item_no")
    if items.num_rows > 1 and not pc.all(pc.greater(numbers[1:], numbers[:-1])).as_py():
        items = items.take(pc.sort_indices(numbers))  # RETURNING and plain reads usually come in order already
    lines = items.column("line").cast(pa.large_string()).combine_chunks()
    one_list = pa.LargeListArray.from_arrays(pa.array([0, len(lines)], pa.int64()), lines)
    text = pc.binary_join(one_list, pa.scalar("\n", pa.large_string()))[0].as_buffer()
    counts = pc.value_counts(items.column("item_class")).to_pylist()
    return hashlib.sha256(text).hexdigest(), dict(sorted((c["values"], c["counts"]) for c in counts))


def current_hash(con: duckdb.DuckDBPyConnection, plan_id: str) -> str:
    """The hash of the plan's items as stored now (differs from the plan's hash if they were altered)."""
    return _hash_and_classes(con, plan_id)[0]
