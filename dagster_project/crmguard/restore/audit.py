"""The restore job in the audit trail: its writes as native action-log events (CONTRACTS.md section 1).

Every apply is a run of agent `crmguard-restore` (actor type `system`, role `restore_job`, user
`usr_crmguard_restore`, on behalf of the approver). Each written item is a `tool_call` claiming its
change; failed items are `tool_call`s with outcome `failed` and no changes. Event ids derive from the
item's idempotency key and the apply id, so regenerating the file after a rerun repeats the same ids
and ingestion stores each event once. Ingested through the normal ingest path, the claims match the
CRM changes stamped `updated_by = usr_crmguard_restore`, which attribution marks `restore`.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from crmguard import __version__
from crmguard.crm.adapters import FileTarget
from crmguard.restore.schema import RESTORE_AGENT_ID, RESTORE_ROLE, RESTORE_USER_ID
from crmguard.warehouse import table_exists

_SINGULAR = {"accounts": "account", "contacts": "contact", "deals": "deal",
             "sequence_enrollments": "sequence_enrollment", "meetings": "meeting", "emails": "email"}
_TOOLS = {"accounts": "update_account", "contacts": "update_contact", "deals": "update_deal",
          "sequence_enrollments": "pause_sequence", "meetings": "cancel_meeting", "emails": "cancel_scheduled_email"}
_TIME = "strftime({}, '%Y-%m-%dT%H:%M:%SZ')"


def _item_events(con: duckdb.DuckDBPyConnection, plan_id: str) -> list[tuple]:
    """Written and failed items with their apply context, approval, and the undone call's target.

    The undone call's target is what a cancelled email is about: emails are no target object type of
    the action log, their contact is.
    """
    undone = ("(select x.target_object_type from main.fct_agent_actions x where x.event_id = i.undoes[1]), "
              "(select x.target_object_id from main.fct_agent_actions x where x.event_id = i.undoes[1])"
              if table_exists(con, "main", "fct_agent_actions") else "null, null")
    return con.execute(
        f"""
        select l.apply_id, {_TIME.format('l.logged_at')}, i.item_no, i.object_type, i.object_id, i.field,
               i.item_class, coalesce(l.live_value, i.value_now), i.value_restore, i.restore_row, l.outcome,
               l.error, l.approver, l.adapter, l.plan_hash, l.idempotency_key,
               (select approval_id from restore.approvals a where a.plan_id = l.plan_id
                and a.plan_hash = l.plan_hash order by approved_at desc limit 1), {undone}
        from restore.apply_log l join restore.items i using (plan_id, item_no)
        where l.plan_id = ? and l.outcome in ('written', 'failed')
        order by l.logged_at, i.item_no
        """,
        [plan_id],
    ).fetchall()


def _runs(con: duckdb.DuckDBPyConnection, plan_id: str) -> list[tuple]:
    return con.execute(
        f"""
        select apply_id, {_TIME.format('min(logged_at)')}, {_TIME.format('max(logged_at)')},
               bool_or(outcome = 'failed'), min(approver)
        from restore.apply_log where plan_id = ? group by apply_id order by min(logged_at)
        """,
        [plan_id],
    ).fetchall()


def _base(event_id: str, event_type: str, at: str, run_id: str, step: int, approver: str) -> dict:
    return {"schema_version": "1", "event_id": event_id, "event_type": event_type, "occurred_at": at,
            "agent_id": RESTORE_AGENT_ID, "agent_version": __version__, "run_id": run_id, "step": step,
            "environment": "production",
            "actor": {"type": "system", "id": RESTORE_USER_ID, "role": RESTORE_ROLE, "on_behalf_of": approver}}


def _changes(row: tuple) -> list[dict]:
    _, _, _, object_type, object_id, field, item_class, old, new, restore_row, outcome, _, _, adapter, *_ = row
    if outcome != "written" or adapter == FileTarget.name:
        # A file target exported an import file: the CRM changes when someone imports it, as their edit, so
        # the restore job claims no change (a claim would read `not_observed` until the import).
        return []
    kind = _SINGULAR[object_type]
    if item_class == "recreate":
        return [{"object_type": kind, "object_id": object_id, "field": k, "old": None, "new": v}
                for k, v in sorted(json.loads(restore_row).items())]
    if item_class == "archive_deal":
        return []  # the whole record goes; the action log has no field-level form for a delete
    return [{"object_type": kind, "object_id": object_id, "field": field, "old": old, "new": new}]


def _tool_call(plan_id: str, row: tuple) -> dict:
    apply_id, at, item_no, object_type, object_id, _, item_class, _, _, _, outcome, error, approver, adapter, \
        plan_hash, key, approval_id, undone_type, undone_id = row
    event = _base(f"rst-{key}-{outcome}", "tool_call", at, apply_id, item_no, approver)
    tool = {"recreate": "restore_record", "archive_deal": "archive_deal"}.get(item_class, _TOOLS[object_type])
    if adapter == FileTarget.name:
        tool = "export_restore_file"
    target = {"object_type": undone_type or "contact", "object_id": undone_id or object_id} \
        if object_type == "emails" else {"object_type": _SINGULAR[object_type], "object_id": object_id}
    return event | {
        "tool": {"name": tool, "call_id": f"rst-{key}", "credential_scope": adapter},
        "target": target | {"account_id": None},
        "input": {"plan_id": plan_id, "plan_hash": plan_hash, "item_no": item_no,
                  "idempotency_key": key, "approver": approver, "adapter": adapter},
        "changes": _changes(row),
        "context": {"model": None, "prompt_sha256": None, "retrieved": [], "triggered_by_event_id": None},
        "outcome": {"status": "succeeded" if outcome == "written" else "failed", "error": error,
                    "attempt": 1, "retry_of": None},
        "dry_run": False,
        "approval_id": approval_id,
    }


def write_action_log(con: duckdb.DuckDBPyConnection, plan_id: str, out_dir: str | Path) -> Path:
    """Write (or rewrite) `out_dir/restore-<plan_id>.jsonl` from the apply log; returns its path."""
    events: list[dict] = []
    rows = _item_events(con, plan_id)
    for apply_id, started, finished, failed, approver in _runs(con, plan_id):
        events.append(_base(f"{apply_id}-started", "run_started", started, apply_id, 0, approver))
        items = [_tool_call(plan_id, r) for r in rows if r[0] == apply_id]
        events.extend(items)
        finish = _base(f"{apply_id}-finished", "run_finished", finished, apply_id, len(items) + 1, approver)
        events.append(finish | {"outcome": {"status": "failed" if failed else "succeeded", "error": None,
                                            "attempt": 1, "retry_of": None}})
    path = Path(out_dir) / f"restore-{plan_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events), encoding="utf-8")
    partial.replace(path)
    return path


def ingest_action_log(con: duckdb.DuckDBPyConnection, path: Path) -> dict:
    """Load the restore job's action log through the normal ingest path (exactly once per event)."""
    from crmguard.ingest.run import ingest_paths

    result = ingest_paths(con, [path]).to_json()
    return {k: result[k] for k in ("loaded", "rejected", "duplicates", "skipped_files")}
