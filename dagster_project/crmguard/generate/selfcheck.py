"""Verify a generated world from its files alone: a small reference detector plus structural invariants.

This is how the generator proves its promises to the detectors (docs/incidents.md): a world made with
`--incidents none` trips no rule at all, and in a world with incidents every flag belongs to an
injected incident of the same kind and every incident is flagged. It reads only the output folder
(DuckDB in memory, SQL over the files), so it checks what users and the warehouse will actually see.
It is meant for test-sized worlds: the attribution part unpivots every snapshot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from crmguard.generate.model import COLUMNS, ICP_EMPLOYEES, ICP_INDUSTRIES, OBJECT_OF_TYPE, STAGES
from crmguard.generate.rules import bounce_crossings

_EVENTS = """
CREATE TABLE ev AS
SELECT j->>'event_id' AS event_id, j->>'event_type' AS etype,
       CAST(j->>'occurred_at' AS TIMESTAMPTZ)::TIMESTAMP AS t, j->>'agent_id' AS agent_id, j->>'run_id' AS run_id,
       CAST(j->>'step' AS INTEGER) AS step, j->>'environment' AS env, j->'actor'->>'id' AS actor_id,
       j->'actor'->>'role' AS role, j->'actor'->>'on_behalf_of' AS obo, j->'tool'->>'name' AS tool,
       j->'tool'->>'call_id' AS call_id, j->'target'->>'object_type' AS ttype, j->'target'->>'object_id' AS tid,
       j->'target'->>'account_id' AS acct,
       coalesce(CASE WHEN j->'target'->>'object_type' = 'contact' THEN j->'target'->>'object_id' END,
                j->'input'->>'contact_id', j->'signal'->>'contact_id') AS contact,
       j->'outcome'->>'status' AS status, j->'outcome'->>'retry_of' AS retry_of,
       coalesce(CAST(j->>'dry_run' AS BOOLEAN), false) AS dry_run, j->>'approval_id' AS approval_id,
       j->'context'->>'triggered_by_event_id' AS trig, j->'signal'->>'kind' AS signal_kind,
       j->'signal'->>'from_address' AS from_address, j->'approval'->>'approval_id' AS ap_id,
       j->'approval'->>'decision' AS decision, j->'approval'->'approver'->>'id' AS approver,
       CAST(j->'approval'->>'expires_at' AS TIMESTAMPTZ)::TIMESTAMP AS expires_at,
       j->'stop'->>'scope' AS stop_scope, TRY_CAST(j->'input'->>'discount_pct' AS DOUBLE) AS discount_pct,
       j->'changes' AS changes
FROM (SELECT json AS j FROM read_json_objects(?, format = 'newline_delimited'));
CREATE TABLE claims AS
SELECT e.event_id, e.t, e.agent_id, e.actor_id, e.role, e.run_id, e.tool, e.status, e.dry_run,
       c->>'object_type' AS otype, c->>'object_id' AS oid, c->>'field' AS field, c->>'old' AS old, c->>'new' AS new
FROM (SELECT *, unnest(CAST(changes AS JSON[])) AS c FROM ev WHERE changes IS NOT NULL) e;
CREATE MACRO same(a, b) AS CASE
    WHEN try_cast(a AS DOUBLE) IS NOT NULL AND try_cast(b AS DOUBLE) IS NOT NULL
    THEN try_cast(a AS DOUBLE) = try_cast(b AS DOUBLE)
    ELSE coalesce(lower(a) = lower(b), a IS NULL AND b IS NULL) END;
"""

_ALLOWED_TOOLS = {
    "sdr_agent": ("send_email", "enroll_in_sequence", "pause_sequence", "book_meeting", "cancel_meeting",
                  "write_note", "create_task", "update_contact"),
    "routing_agent": ("assign_owner", "route_case", "update_account", "write_note"),
    "dealdesk_agent": ("update_deal", "apply_discount", "create_deal", "write_note", "create_task"),
}
_ALLOWED_WRITES = {
    "sdr_agent": (("contact", "title"), ("sequence_enrollment", "*"), ("meeting", "*")),
    "routing_agent": (("account", "owner_id"), ("account", "industry"), ("contact", "owner_id"), ("deal", "owner_id")),
    "dealdesk_agent": (("deal", "*"),),
}


def _values(rows: list[tuple[str, ...]]) -> str:
    return ", ".join("(" + ", ".join(f"'{v}'" for v in row) + ")" for row in rows)


def _load(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    con.execute("SET TimeZone = 'UTC'")
    for statement in _EVENTS.split(";\n"):
        if statement.strip():
            con.execute(statement, [str(out / "actions" / "*.jsonl")] if "?" in statement else None)
    for name, _cols in COLUMNS.items():
        con.execute(
            f"CREATE TABLE s_{name} AS SELECT * EXCLUDE (filename), "
            "strptime(regexp_extract(filename, '([0-9]{8}T[0-9]{6}Z)', 1), '%Y%m%dT%H%M%SZ') AS captured_at "
            "FROM read_csv(?, all_varchar = true, filename = true, header = true)",
            [str(out / "crm" / "*" / f"{name}.csv")])
    con.execute(f"CREATE TABLE allowed_tools(role VARCHAR, tool VARCHAR); INSERT INTO allowed_tools VALUES "
                f"{_values([(r, t) for r, ts in _ALLOWED_TOOLS.items() for t in ts])}")
    con.execute(f"CREATE TABLE allowed_writes(role VARCHAR, otype VARCHAR, field VARCHAR); INSERT INTO allowed_writes "
                f"VALUES {_values([(r, o, f) for r, ws in _ALLOWED_WRITES.items() for o, f in ws])}")


def _policy_flags(con: duckdb.DuckDBPyConnection) -> list[str]:
    """SQL for the stateless rules; each query yields (kind, event_id, object_type, object_id, field)."""
    icp = ", ".join(f"'{i}'" for i in ICP_INDUSTRIES)
    ranks = _values([(s, str(i)) for i, s in enumerate(STAGES)])
    tc = "etype = 'tool_call'"
    return [
        f"""SELECT 'unsubscribed_contact_emailed', a.event_id, 'contact', a.contact, NULL FROM ev a
            ASOF LEFT JOIN s_contacts s ON s.contact_id = a.contact AND a.t >= s.captured_at
            WHERE a.{tc} AND a.tool IN ('send_email', 'enroll_in_sequence') AND a.role = 'sdr_agent'
              AND ('true' IN (s.email_opt_out, s.email_bounced, s.do_not_contact)
                   OR EXISTS (SELECT 1 FROM ev g WHERE g.signal_kind IN ('unsubscribe', 'bounce')
                              AND g.contact = a.contact AND g.t < a.t))""",
        *[f"""SELECT '{kind}', a.event_id, 'account', a.acct, '{flag}' FROM ev a
              ASOF LEFT JOIN s_accounts s ON s.account_id = a.acct AND a.t >= s.captured_at
              WHERE a.{tc} AND a.tool IN ('send_email', 'enroll_in_sequence', 'book_meeting') AND s.{flag} = 'true'"""
          for kind, flag in (("legal_hold_contacted", "legal_hold"),
                             ("security_incident_contacted", "security_incident_open"))],
        f"""SELECT 'customer_emailed_by_outbound', a.event_id, 'account', a.acct, 'lifecycle' FROM ev a
            ASOF LEFT JOIN s_accounts s ON s.account_id = a.acct AND a.t >= s.captured_at
            WHERE a.{tc} AND a.tool IN ('send_email', 'enroll_in_sequence') AND a.role = 'sdr_agent'
              AND s.lifecycle = 'customer'""",
        f"""SELECT 'icp_mismatch_sequenced', a.event_id, 'account', a.acct, NULL FROM ev a
            ASOF LEFT JOIN s_accounts s ON s.account_id = a.acct AND a.t >= s.captured_at
            WHERE a.{tc} AND a.tool = 'enroll_in_sequence' AND (s.industry NOT IN ({icp})
              OR CAST(s.employees AS INTEGER) NOT BETWEEN {ICP_EMPLOYEES[0]} AND {ICP_EMPLOYEES[1]})""",
        """WITH d AS (SELECT ap_id, decision, approver, expires_at, t AS decided_at FROM ev WHERE etype = 'approval_decided'),
                r AS (SELECT ap_id, actor_id AS req_actor, obo AS req_obo FROM ev WHERE etype = 'approval_requested'),
                du AS (SELECT d.*, u.role AS approver_role FROM d
                       ASOF LEFT JOIN s_users u ON u.user_id = d.approver AND d.decided_at >= u.captured_at),
                j AS (SELECT c.event_id, c.tid, c.t, du.*, r.req_actor, r.req_obo FROM ev c
                      LEFT JOIN du ON du.ap_id = c.approval_id LEFT JOIN r ON r.ap_id = c.approval_id
                      WHERE c.etype = 'tool_call' AND c.tool = 'apply_discount' AND c.discount_pct > 15)
           SELECT CASE WHEN decision IS DISTINCT FROM 'approved' THEN 'discount_without_approval'
                       WHEN approver_role NOT IN ('ops', 'admin') THEN 'approval_by_wrong_role'
                       WHEN approver IN (req_actor, req_obo) THEN 'self_approval'
                       WHEN t > expires_at THEN 'expired_approval_used' END AS kind,
                  event_id, 'deal', tid, 'discount_pct' FROM j WHERE kind IS NOT NULL""",
        f"""SELECT 'action_after_stop', a.event_id, a.ttype, a.tid, NULL FROM ev a WHERE a.{tc} AND EXISTS (
              SELECT 1 FROM ev s WHERE s.etype = 'stop' AND s.stop_scope = 'agent' AND s.agent_id = a.agent_id
                AND s.t < a.t AND NOT EXISTS (SELECT 1 FROM ev r WHERE r.etype = 'resume' AND r.agent_id = a.agent_id
                                              AND r.t > s.t AND r.t < a.t))""",
        f"""WITH ranks(stage, r) AS (VALUES {ranks})
            SELECT 'stage_regression', c.event_id, 'deal', c.oid, 'stage' FROM claims c
            JOIN ranks o ON o.stage = c.old JOIN ranks n ON n.stage = c.new
            WHERE c.field = 'stage' AND (o.stage IN ('closed_won', 'closed_lost')
                  OR (n.stage <> 'closed_lost' AND CAST(n.r AS INT) < CAST(o.r AS INT))
                  OR (n.stage = 'closed_won' AND CAST(o.r AS INT) < 4))""",
        """WITH oc AS (SELECT * FROM claims WHERE field = 'owner_id')
           SELECT 'mass_reassignment', event_id, otype, oid, field FROM oc
           WHERE run_id IN (SELECT run_id FROM oc GROUP BY run_id HAVING count(*) > 25)""",
        f"""SELECT 'permission_violation', a.event_id, a.ttype, a.tid, NULL FROM ev a WHERE a.{tc}
              AND NOT EXISTS (SELECT 1 FROM allowed_tools p WHERE p.role = a.role AND p.tool = a.tool)
            UNION ALL
            SELECT 'permission_violation', c.event_id, c.otype, c.oid, c.field FROM claims c WHERE NOT EXISTS (
              SELECT 1 FROM allowed_writes p WHERE p.role = c.role AND p.otype = c.otype AND p.field IN (c.field, '*'))""",
        """WITH acc AS (SELECT account_id, domain FROM s_accounts QUALIFY row_number() OVER (
                          PARTITION BY account_id ORDER BY captured_at DESC) = 1),
                con AS (SELECT contact_id, account_id FROM s_contacts QUALIFY row_number() OVER (
                          PARTITION BY contact_id ORDER BY captured_at DESC) = 1)
           SELECT 'spoofed_reply_meeting', a.event_id, a.ttype, a.tid, NULL FROM ev a
           JOIN ev g ON g.event_id = a.trig AND g.signal_kind IN ('reply', 'meeting_request')
           JOIN con ON con.contact_id = g.contact JOIN acc ON acc.account_id = con.account_id
           WHERE a.tool IN ('book_meeting', 'update_deal')
             AND lower(split_part(g.from_address, '@', 2)) <> lower(acc.domain)""",
    ]


def _observed_changes(con: duckdb.DuckDBPyConnection) -> None:
    """Field changes between consecutive snapshots, with the writer the later snapshot names."""
    parts = []
    for name, cols in COLUMNS.items():
        otype = next((k for k, v in OBJECT_OF_TYPE.items() if v == name), None)
        if otype is None:
            continue
        idc = cols[0]
        fields = ", ".join(c for c in cols[1:] if c not in ("updated_at", "updated_by"))
        parts.append(f"""
            SELECT '{otype}' AS otype, {idc} AS oid, field, value, updated_by, captured_at
            FROM (SELECT {idc}, updated_by, captured_at, {fields} FROM s_{name})
            UNPIVOT INCLUDE NULLS (value FOR field IN ({fields}))""")
    con.execute("CREATE TABLE vals AS " + " UNION ALL ".join(parts))
    con.execute("""
        CREATE TABLE snaps AS SELECT captured_at, lag(captured_at) OVER (ORDER BY captured_at) AS prev_at
        FROM (SELECT DISTINCT captured_at FROM s_users);
        CREATE TABLE obs AS
        SELECT v.otype, v.oid, v.field, p.value AS old, v.value AS new, s.prev_at AS ws, v.captured_at AS we,
               v.updated_by
        FROM vals v JOIN snaps s USING (captured_at)
        JOIN vals p ON p.otype = v.otype AND p.oid = v.oid AND p.field = v.field AND p.captured_at = s.prev_at
        WHERE p.value IS DISTINCT FROM v.value;
        CREATE TABLE claim_next AS
        SELECT c.*, n.value AS next_value, n.updated_by AS next_writer, pv.value AS prev_value FROM claims c
        ASOF JOIN snaps s ON s.captured_at >= c.t
        LEFT JOIN vals n ON n.otype = c.otype AND n.oid = c.oid AND n.field = c.field AND n.captured_at = s.captured_at
        LEFT JOIN vals pv ON pv.otype = c.otype AND pv.oid = c.oid AND pv.field = c.field AND pv.captured_at = s.prev_at;
    """)


_ATTRIBUTION = [
    """SELECT 'unexplained_change', NULL, o.otype, o.oid, o.field FROM obs o
       LEFT JOIN (SELECT user_id, is_agent FROM s_users QUALIFY row_number() OVER (
                  PARTITION BY user_id ORDER BY captured_at DESC) = 1) u ON u.user_id = o.updated_by
       WHERE coalesce(u.is_agent, 'true') = 'true' AND NOT EXISTS (
         SELECT 1 FROM claims c WHERE c.otype = o.otype AND c.oid = o.oid AND c.field = o.field
           AND c.actor_id = o.updated_by AND c.t > o.ws AND c.t <= o.we AND c.status = 'succeeded')""",
    """SELECT 'claimed_write_not_observed', event_id, otype, oid, field FROM claim_next
       WHERE status = 'succeeded' AND NOT dry_run AND NOT same(new, next_value)""",
    """SELECT 'dry_run_wrote', event_id, otype, oid, field FROM claim_next
       WHERE dry_run AND same(new, next_value) AND NOT same(new, prev_value) AND next_writer = actor_id""",
    """WITH tc AS (SELECT * FROM ev WHERE etype = 'tool_call')
       SELECT 'partial_run_failure', f.event_id, f.ttype, f.tid, NULL FROM tc f
       WHERE f.status = 'failed' AND NOT EXISTS (SELECT 1 FROM tc r WHERE r.retry_of = f.event_id)
         AND EXISTS (SELECT 1 FROM claims c WHERE c.run_id = f.run_id AND c.status = 'succeeded'
                     AND NOT c.dry_run AND c.t < f.t)""",
]

_INVARIANTS = {
    "step order disagrees with occurred_at inside a run": """
        SELECT run_id FROM (SELECT run_id, t, lag(t) OVER (PARTITION BY run_id ORDER BY step) AS prev FROM ev
                            WHERE etype NOT IN ('resume')) WHERE prev >= t""",
    "retry_of does not point at a failed attempt of the same call": """
        SELECT r.event_id FROM ev r LEFT JOIN ev f ON f.event_id = r.retry_of
        WHERE r.retry_of IS NOT NULL AND (f.status IS DISTINCT FROM 'failed' OR f.call_id IS DISTINCT FROM r.call_id)""",
    "event_id is not unique": "SELECT event_id FROM ev GROUP BY event_id HAVING count(*) > 1",
    "a claimed write meets another writer in its window": """
        SELECT event_id FROM claim_next WHERE status = 'succeeded' AND NOT dry_run AND next_writer <> actor_id
          AND same(new, next_value)""",
    "an agent changed more than 200 records in an hour": """
        SELECT agent_id FROM (SELECT agent_id, count(*) OVER (PARTITION BY agent_id ORDER BY t
                              RANGE BETWEEN INTERVAL 1 HOUR PRECEDING AND CURRENT ROW) AS n
                              FROM claims WHERE status = 'succeeded' AND NOT dry_run) WHERE n > 200""",
}


def _bounce_flags(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Outbound calls after the bounce-rate rule fired, until the agent's next resume or stop."""
    ev = con.execute("SELECT event_id AS key, agent_id AS agent, epoch(t)::BIGINT AS t, etype, tool, status, env, "
                     "dry_run, contact, signal_kind, tid FROM ev").df()
    ev["payload"] = [{"kind": k} for k in ev["signal_kind"]]
    flags = []
    for agent, b, _ in bounce_crossings(ev):
        mine = ev[ev["agent"] == agent]
        ends = mine.loc[mine["etype"].isin(("resume", "stop")) & (mine["t"] > b), "t"]
        until = ends.min() if len(ends) else float("inf")
        hits = mine[(mine["etype"] == "tool_call") & mine["tool"].isin(("send_email", "enroll_in_sequence"))
                    & (mine["t"] > b) & (mine["t"] < until)]
        flags += [("bounce_rate_not_stopped", k, "contact", c, None) for k, c in zip(hits["key"], hits["contact"], strict=True)]
    return flags


def check_world(out: Path) -> tuple[pd.DataFrame, list[str]]:
    """(flags the reference detector raises, broken invariants) for the world in `out`."""
    out = Path(out)
    con = duckdb.connect()
    try:
        _load(con, out)
        _observed_changes(con)
        rows: list[tuple[Any, ...]] = []
        for sql in _policy_flags(con) + _ATTRIBUTION:
            rows += con.execute(sql).fetchall()
        rows += _bounce_flags(con)
        problems = [f"{what}: {len(found)} (e.g. {found[0][0]})" for what, sql in _INVARIANTS.items()
                    if (found := con.execute(sql).fetchall())]
    finally:
        con.close()
    problems += _manifest_problems(out)
    flags = pd.DataFrame(rows, columns=["kind", "event_id", "object_type", "object_id", "field"]).drop_duplicates()
    return flags.reset_index(drop=True), problems


def _manifest_problems(out: Path) -> list[str]:
    problems = []
    for manifest in sorted((out / "crm").glob("*/manifest.json")):
        counts = json.loads(manifest.read_text())["objects"]
        for name, expected in counts.items():
            with (manifest.parent / f"{name}.csv").open("rb") as handle:
                rows = sum(1 for _ in handle) - 1
            if rows != expected:
                problems.append(f"{manifest}: {name} has {rows} rows, manifest says {expected}")
    return problems


def score_against_truth(flags: pd.DataFrame, truth: list[dict[str, Any]]) -> list[str]:
    """Every flag must belong to an incident of its kind (by event or object) and every incident be flagged."""
    problems = []
    by_event = {(t["kind"], e) for t in truth for e in t["event_ids"]}
    by_object = {(t["kind"], r["object_type"], r["object_id"]) for t in truth for r in t["object_refs"]}
    for f in flags.itertuples(index=False):
        if (f.kind, f.event_id) not in by_event and (f.kind, f.object_type, f.object_id) not in by_object:
            problems.append(f"false positive {f.kind}: event {f.event_id} {f.object_type} {f.object_id} {f.field}")
    flagged_events = set(zip(flags["kind"], flags["event_id"], strict=True))
    flagged_objects = set(zip(flags["kind"], flags["object_type"], flags["object_id"], strict=True))
    for t in truth:
        hit = any((t["kind"], e) in flagged_events for e in t["event_ids"]) or any(
            (t["kind"], r["object_type"], r["object_id"]) in flagged_objects for r in t["object_refs"])
        if not hit:
            problems.append(f"missed {t['incident_id']} {t['kind']}")
    return problems
