"""The `restore` schema of the warehouse: plans, items, approvals, apply log and receipts.

Created once, up front, by the command that first needs it (never inside apply's write loop: DDL in the
WAL is what makes DuckDB fail to reopen after an unclean shutdown, see STACK.md).
"""

from __future__ import annotations

import duckdb

from crmguard.crm.objects import WRITE_ORDER
from crmguard.errors import BadInput

RESTORE_AGENT_ID = "crmguard-restore"
RESTORE_USER_ID = "usr_crmguard_restore"
RESTORE_ROLE = "restore_job"

ITEM_CLASSES = ("revert", "conflict", "already_restored", "recreate", "pause_enrollment", "cancel_meeting",
                "cancel_scheduled_email", "archive_deal")


def _enum(values: tuple[str, ...]) -> str:
    return "enum (" + ", ".join(f"'{v}'" for v in values) + ")"


# Object and class as ENUMs: one byte a row instead of a string column to append and commit (a 100k-item plan
# 255 -> 235 ms, crmguard bench restore). Closed sets: every CRM object is in WRITE_ORDER (a test checks it),
# and the classes are the plan's own. A new value means `alter table restore.plan_items alter ... type`.
TYPES = f"""
create type if not exists restore.object_type as {_enum(WRITE_ORDER)};
create type if not exists restore.item_class as {_enum(ITEM_CLASSES)};
"""
PLAN_ITEMS = """
create table if not exists restore.plan_items (
    plan_no integer not null,
    item_no integer not null,
    object_type restore.object_type not null,  -- canonical object: accounts, contacts, deals, ...
    object_id varchar not null,
    field varchar,                    -- null for a whole-record item (recreate, archive_deal)
    item_class restore.item_class not null,
    value_now varchar,
    value_restore varchar,
    restore_row json,                 -- recreate: the record as it was before the delete
    undoes varchar[] not null,        -- event ids of the actions this item undoes
    forced boolean not null
);
"""
DDL = f"""
create schema if not exists restore;
{TYPES}
create table if not exists restore.plans (
    plan_id varchar primary key,
    created_at timestamp not null,
    planner varchar not null,
    scope json not null,
    plan_hash varchar not null,
    item_count integer not null,
    status varchar not null,          -- planned, applied, verified, partial, failed
    origin varchar not null,          -- cli, sensor
    plan_no integer                   -- the plan's number in restore.plan_items (last: older warehouses gain it by ALTER)
);
create unique index if not exists plans_plan_no on restore.plans (plan_no);
-- The items, keyed by the plan's number: a 28-character plan id and a 35-character idempotency key stored on
-- every row were a third of what a 100k-item plan writes, and ~30 ms of its ~280 (crmguard bench restore).
-- Read them through the view restore.items below, which has both. (plan_no, item_no) is unique by
-- construction (row_number in one INSERT); no PRIMARY KEY, because maintaining its index made a 100k-item
-- plan about 30% slower.
{PLAN_ITEMS}
create table if not exists restore.approvals (
    approval_id varchar primary key,
    plan_id varchar not null,
    plan_hash varchar not null,
    approver varchar not null,
    approved_at timestamp not null,
    expires_at timestamp not null
);
create table if not exists restore.apply_log (
    apply_id varchar not null,
    plan_id varchar not null,
    plan_hash varchar not null,
    item_no integer not null,
    idempotency_key varchar not null,
    approver varchar not null,
    adapter varchar not null,
    outcome varchar not null,         -- attempted, written, skipped, conflict, failed
    live_value varchar,
    error varchar,
    logged_at timestamp not null
);
create table if not exists restore.receipts (
    receipt_id varchar primary key,
    plan_id varchar not null,
    plan_hash varchar not null,
    adapter varchar not null,
    verified_at timestamp not null,
    status varchar not null,          -- verified, partial, failed
    counts json not null
);
create table if not exists restore.receipt_items (
    receipt_id varchar not null,
    item_no integer not null,
    expected varchar,
    actual varchar,
    matches boolean not null,
    outcome varchar
);
"""


# What every reader queries: the items with their plan's id and idempotency key, as restore.items was stored
# before the plan number replaced them (same columns, same order).
ITEMS_VIEW = """
create view if not exists restore.items as
select p.plan_id, i.item_no, i.object_type::varchar as object_type, i.object_id, i.field,
       i.item_class::varchar as item_class, i.value_now, i.value_restore,
       i.restore_row, i.undoes, i.forced, p.plan_id || '/' || i.item_no as idempotency_key
from restore.plan_items i join restore.plans p using (plan_no)
"""


TABLES = frozenset(("plans", "plan_items", "items", "approvals", "apply_log", "receipts", "receipt_items"))


def ensure_restore_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the restore schema, tables and views if missing (idempotent); migrate an older layout first."""
    kinds = dict(con.execute("select table_name, table_type from information_schema.tables "
                             "where table_schema = 'restore'").fetchall())
    if kinds.keys() >= TABLES and kinds["items"] == "VIEW":
        return  # every command calls this; a plan of 100k items takes ~250 ms, and this check ~1
    con.execute("create schema if not exists restore")
    numbered = con.execute("select count(*) from information_schema.columns where table_schema = 'restore' "
                           "and table_name = 'plans' and column_name = 'plan_no'").fetchone()[0]
    if kinds.get("items") == "BASE TABLE" or ("plans" in kinds and not numbered):
        _migrate(con, number_plans=not numbered, move_items=kinds.get("items") == "BASE TABLE")
    con.execute(DDL)
    con.execute(ITEMS_VIEW)


def _migrate(con: duckdb.DuckDBPyConnection, *, number_plans: bool, move_items: bool) -> None:
    """Number the plans of a warehouse from before restore.plan_items and move its items table there, in one
    transaction that loses nothing (else it rolls back and says so), then checkpoint the DDL out of the WAL."""
    con.execute("begin")
    try:
        if number_plans:
            con.execute("alter table restore.plans add column plan_no integer")
            con.execute("update restore.plans set plan_no = n.plan_no from (select plan_id, row_number() over "
                        "(order by created_at, plan_id)::integer as plan_no from restore.plans) n "
                        "where n.plan_id = restore.plans.plan_id")
        con.execute(TYPES + PLAN_ITEMS)  # the rest of DDL after the commit: DuckDB builds no index over uncommitted updates
        if move_items:
            before = con.execute("select count(*) from restore.items").fetchone()[0]
            con.execute("insert into restore.plan_items select p.plan_no, i.item_no, i.object_type, i.object_id, "
                        "i.field, i.item_class, i.value_now, i.value_restore, i.restore_row, i.undoes, i.forced "
                        "from restore.items i join restore.plans p using (plan_id)")
            moved = con.execute("select count(*) from restore.plan_items").fetchone()[0]
            if moved != before:
                raise BadInput(f"restore.items holds {before - moved} items of plans missing from restore.plans; "
                               "nothing was migrated: add or remove those plans' rows and rerun")
            con.execute("drop table restore.items")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    con.execute("checkpoint")
