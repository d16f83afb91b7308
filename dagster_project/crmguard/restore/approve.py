"""Approvals bound to a plan's hash: an `ops` user who is not the planner, valid for a limited time.

Apply calls `require_approval`, which recomputes the hash from the stored items: an item edited after
planning (or forced after approval) no longer matches, so the approval no longer counts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb

from crmguard.errors import BadInput
from crmguard.restore.plan import current_hash
from crmguard.restore.schema import ensure_restore_schema
from crmguard.warehouse import table_exists

APPROVER_ROLE = "ops"
DEFAULT_TTL_HOURS = 24.0


@dataclass(frozen=True)
class Approval:
    approval_id: str
    plan_id: str
    plan_hash: str
    approver: str
    approved_at: datetime
    expires_at: datetime


def utc_naive(now: datetime | None = None) -> datetime:
    """Now (or the given instant) as the naive UTC the warehouse stores."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def plan_row(con: duckdb.DuckDBPyConnection, plan_id: str) -> tuple[str, str, str]:
    """(planner, stored hash, status) of a plan; an unknown plan id is a one-line error."""
    if not table_exists(con, "restore", "plans"):
        raise BadInput("no restore plans in this warehouse yet: run `crmguard restore plan` first")
    row = con.execute("select planner, plan_hash, status from restore.plans where plan_id = ?", [plan_id]).fetchone()
    if row is None:
        raise BadInput(f"no restore plan {plan_id!r} in this warehouse")
    return row


def require_unaltered(con: duckdb.DuckDBPyConnection, plan_id: str) -> str:
    """The plan's hash, after checking its items still hash to it (nobody edited them behind its back)."""
    _, stored, _ = plan_row(con, plan_id)
    actual = current_hash(con, plan_id)
    if actual != stored:
        raise BadInput(f"plan {plan_id} was altered after planning (items hash {actual[:12]}, plan says "
                       f"{stored[:12]}): refusing; plan the restore again")
    return stored


def approve(con: duckdb.DuckDBPyConnection, plan_id: str, approver: str, *,
            ttl_hours: float = DEFAULT_TTL_HOURS, now: datetime | None = None) -> Approval:
    """Record an approval of the plan's current hash by an `ops` user other than the planner."""
    planner, _, _ = plan_row(con, plan_id)
    plan_hash = require_unaltered(con, plan_id)
    if not table_exists(con, "main", "dim_users"):
        raise BadInput("main.dim_users is missing: run `crmguard build` so approvers' roles are known")
    role = con.execute("select role from main.dim_users where user_id = ?", [approver]).fetchone()
    if role is None:
        raise BadInput(f"--by {approver}: unknown user (not in the CRM users snapshot)")
    if role[0] != APPROVER_ROLE:
        raise BadInput(f"--by {approver}: role {role[0]!r} cannot approve restores; an {APPROVER_ROLE!r} user must")
    if approver == planner:
        raise BadInput(f"--by {approver}: the planner cannot approve their own plan; a second ops user must")
    if ttl_hours <= 0:
        raise BadInput("--ttl-hours must be positive")
    approved_at = utc_naive(now)
    expires_at = approved_at + timedelta(hours=ttl_hours)
    approval_id = "ra_" + hashlib.sha256(f"{plan_id}|{plan_hash}|{approver}|{approved_at}".encode()).hexdigest()[:16]
    con.execute("insert into restore.approvals values (?, ?, ?, ?, ?, ?)",
                [approval_id, plan_id, plan_hash, approver, approved_at, expires_at])
    return Approval(approval_id, plan_id, plan_hash, approver, approved_at, expires_at)


def require_approval(con: duckdb.DuckDBPyConnection, plan_id: str, now: datetime | None = None) -> Approval:
    """The approval that lets this plan be applied now, or a one-line refusal saying what is missing."""
    plan_hash = require_unaltered(con, plan_id)
    rows = con.execute(
        "select approval_id, plan_id, plan_hash, approver, approved_at, expires_at from restore.approvals "
        "where plan_id = ? order by approved_at desc", [plan_id]
    ).fetchall()
    at = utc_naive(now)
    matching = [Approval(*r) for r in rows if r[2] == plan_hash]
    valid = [a for a in matching if a.expires_at > at]
    if valid:
        return valid[0]
    if matching:
        raise BadInput(f"plan {plan_id}: approval expired at {matching[0].expires_at:%Y-%m-%dT%H:%M:%SZ}; "
                       "ask an ops user to approve it again")
    if rows:
        raise BadInput(f"plan {plan_id} changed after it was approved (hash {plan_hash[:12]}); approve it again")
    raise BadInput(f"plan {plan_id} is not approved: `crmguard restore approve {plan_id} --by OPS_USER`")


def force_items(con: duckdb.DuckDBPyConnection, plan_id: str, item_nos: list[int]) -> str:
    """Mark conflict items as forced (they will be overwritten); rehashes the plan, voiding approvals."""
    require_unaltered(con, plan_id)
    ensure_restore_schema(con)  # the items it updates live in restore.plan_items since the plan number
    found = con.execute(
        "select item_no from restore.items where plan_id = ? and item_class = 'conflict' "
        "and item_no in (select unnest(?::integer[]))", [plan_id, item_nos]
    ).fetchall()
    missing = sorted(set(item_nos) - {r[0] for r in found})
    if missing:
        raise BadInput(f"plan {plan_id}: item(s) {missing} are not conflicts; only conflicts can be forced")
    con.execute("begin")
    con.execute("update restore.plan_items set forced = true where plan_no = (select plan_no from restore.plans "
                "where plan_id = ?) and item_no in (select unnest(?::integer[]))", [plan_id, item_nos])
    new_hash = current_hash(con, plan_id)
    con.execute("update restore.plans set plan_hash = ? where plan_id = ?", [new_hash, plan_id])
    con.execute("commit")
    return new_hash
