"""The `restore` schema of the warehouse: plans, items, approvals, apply log and receipts.

Created once, up front, by the command that first needs it (never inside apply's write loop: DDL in the
WAL is what makes DuckDB fail to reopen after an unclean shutdown, see STACK.md).
"""

from __future__ import annotations

import duckdb

RESTORE_AGENT_ID = "crmguard-restore"
RESTORE_USER_ID = "usr_crmguard_restore"
RESTORE_ROLE = "restore_job"

DDL = """
create schema if not exists restore;
create table if not exists restore.plans (
    plan_id varchar primary key,
    created_at timestamp not null,
    planner varchar not null,
    scope json not null,
    plan_hash varchar not null,
    item_count integer not null,
    status varchar not null,          -- planned, applied, verified, partial, failed
    origin varchar not null           -- cli, sensor
);
-- (plan_id, item_no) is unique by construction (row_number in one INSERT); no PRIMARY KEY, because
-- maintaining its index made a 100k-item plan about 30% slower (crmguard bench restore).
create table if not exists restore.items (
    plan_id varchar not null,
    item_no integer not null,
    object_type varchar not null,     -- canonical object: accounts, contacts, deals, ...
    object_id varchar not null,
    field varchar,                    -- null for a whole-record item (recreate, archive_deal)
    item_class varchar not null,      -- revert, conflict, already_restored, recreate, pause_enrollment, cancel_meeting,
                                      -- cancel_scheduled_email, archive_deal
    value_now varchar,
    value_restore varchar,
    restore_row json,                 -- recreate: the record as it was before the delete
    undoes varchar[] not null,        -- event ids of the actions this item undoes
    forced boolean not null,
    idempotency_key varchar not null
);
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


def ensure_restore_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the restore schema and tables if missing (idempotent)."""
    con.execute(DDL)
