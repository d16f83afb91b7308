"""The kill switch: a human halts an agent, a team or every agent, and later resumes it.

Decisions are rows in `policy.kill_switch`; the `honor_stops` rule treats a halt like the runtime's own
`stop` event (every later call in scope is a violation) and a resume like a `resume` event (it also
lifts stop events and rate stops of the same scope).
"""

from __future__ import annotations

import getpass
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from crmguard.errors import BadInput
from crmguard.policy.compile import ACTIVE_SCHEMA, ensure_control_tables


@dataclass(frozen=True)
class Decision:
    decision_id: str
    decision: str
    scope: str
    scope_value: str
    reason: str
    decided_by: str
    decided_at: datetime


def parse_scope(text: str) -> tuple[str, str]:
    """`agent:ID`, `team:NAME` or `global` -> (scope, scope_value); global's value is `*`."""
    if text == "global":
        return "global", "*"
    scope, _, value = text.partition(":")
    if scope not in ("agent", "team") or not value.strip():
        raise BadInput(f"--scope '{text}': use agent:AGENT_ID, team:TEAM or global")
    return scope, value.strip()


def record(con: duckdb.DuckDBPyConnection, decision: str, scope_text: str, reason: str, by: str | None) -> Decision:
    """Store a halt or resume decision, stamped now in UTC."""
    if decision not in ("halt", "resume"):
        raise AssertionError(decision)
    if not reason.strip():
        raise BadInput("--reason must say why (it is kept with the decision)")
    scope, value = parse_scope(scope_text)
    decided_by = by or getpass.getuser()
    decided_at = datetime.now(UTC).replace(tzinfo=None)
    key = f"{decision}|{scope}|{value}|{decided_by}|{decided_at.isoformat()}"
    made = Decision(hashlib.sha256(key.encode()).hexdigest()[:16], decision, scope, value, reason, decided_by, decided_at)
    ensure_control_tables(con)
    con.execute(
        f"insert into {ACTIVE_SCHEMA}.kill_switch values (?, ?, ?, ?, ?, ?, ?)",
        [made.decision_id, made.decision, made.scope, made.scope_value, made.reason, made.decided_by, made.decided_at],
    )
    return made


def active_halts(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Halts not followed by a resume of the same scope: what is stopped right now."""
    ensure_control_tables(con)
    rows = con.execute(
        f"""select h.scope, h.scope_value, h.reason, h.decided_by, h.decided_at
        from {ACTIVE_SCHEMA}.kill_switch h
        where h.decision = 'halt' and not exists (
          select 1 from {ACTIVE_SCHEMA}.kill_switch r
          where r.decision = 'resume' and r.scope = h.scope and r.scope_value = h.scope_value
            and r.decided_at > h.decided_at)
        order by h.decided_at, h.scope, h.scope_value"""
    ).fetchall()
    keys = ("scope", "scope_value", "reason", "decided_by", "decided_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]
