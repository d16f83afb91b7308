"""`crmguard restore show`: a plan as a diff (table, JSON, or a self-contained HTML page)."""

from __future__ import annotations

import html
import json

import duckdb

from crmguard.restore.approve import plan_row
from crmguard.restore.plan import current_hash

_TIME = "strftime({}, '%Y-%m-%dT%H:%M:%SZ')"


def plan_view(con: duckdb.DuckDBPyConnection, plan_id: str) -> dict:
    """Everything about a plan: header, items with their latest outcome, approvals, latest receipt."""
    plan_row(con, plan_id)
    head = con.execute(
        f"select plan_id, {_TIME.format('created_at')}, planner, scope, plan_hash, item_count, status, origin "
        "from restore.plans where plan_id = ?", [plan_id]).fetchone()
    keys = ("plan_id", "created_at", "planner", "scope", "plan_hash", "item_count", "status", "origin")
    view = dict(zip(keys, head, strict=True)) | {"scope": json.loads(head[3])}
    view["altered"] = current_hash(con, plan_id) != view["plan_hash"]
    items = con.execute(
        """
        with last as (
            select item_no, arg_max(outcome, logged_at) as outcome, arg_max(error, logged_at) as error
            from restore.apply_log where plan_id = ? and outcome <> 'attempted' group by item_no
        )
        select i.item_no, i.object_type, i.object_id, i.field, i.item_class, i.value_now, i.value_restore,
               i.restore_row, i.undoes, i.forced, l.outcome, l.error
        from restore.items i left join last l using (item_no) where i.plan_id = ? order by i.item_no
        """, [plan_id, plan_id]).fetchall()
    names = ("item_no", "object_type", "object_id", "field", "class", "value_now", "value_restore",
             "restore_row", "undoes", "forced", "outcome", "error")
    view["items"] = [dict(zip(names, r, strict=True)) | {"restore_row": json.loads(r[7]) if r[7] else None}
                     for r in items]
    view["approvals"] = [dict(zip(("approver", "approved_at", "expires_at", "plan_hash"), r, strict=True)) for r in
                         con.execute(f"select approver, {_TIME.format('approved_at')}, {_TIME.format('expires_at')}, "
                                     "plan_hash from restore.approvals where plan_id = ? order by approved_at",
                                     [plan_id]).fetchall()]
    receipt = con.execute(f"select receipt_id, {_TIME.format('verified_at')}, status, counts from restore.receipts "
                          "where plan_id = ? order by verified_at desc limit 1", [plan_id]).fetchone()
    view["receipt"] = None if receipt is None else {
        "receipt_id": receipt[0], "verified_at": receipt[1], "status": receipt[2], "counts": json.loads(receipt[3])}
    return view


def _target(item: dict) -> str:
    if item["restore_row"] is not None:
        return "(record) " + ", ".join(f"{k}={v}" for k, v in sorted(item["restore_row"].items()) if v is not None)
    return str(item["value_restore"])


def _undoes(events: list[str]) -> str:
    """The actions an item undoes, for a terminal column: the first event id and how many more."""
    if not events:
        return "-"
    return events[0] + (f" +{len(events) - 1}" if len(events) > 1 else "")


def render_table(view: dict, limit: int = 200) -> str:
    """Plain-text diff table for a terminal (the first `limit` items; --json has all)."""
    lines = [f"plan {view['plan_id']}  status {view['status']}  hash {view['plan_hash'][:16]}"
             f"{'  ALTERED' if view['altered'] else ''}  planner {view['planner']}  scope {json.dumps(view['scope'])}"]
    for a in view["approvals"]:
        lines.append(f"approved by {a['approver']} at {a['approved_at']} until {a['expires_at']}"
                     f"{'' if a['plan_hash'] == view['plan_hash'] else ' (for an older hash)'}")
    header = ("#", "class", "object", "id", "field", "now", "restore to", "undoes", "outcome")
    rows = [(str(i["item_no"]), i["class"] + (" (forced)" if i["forced"] else ""), i["object_type"], i["object_id"],
             i["field"] or "*", str(i["value_now"]), _target(i)[:60], _undoes(i["undoes"]), i["outcome"] or "-")
            for i in view["items"][:limit]]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    if len(view["items"]) > limit:
        lines.append(f"... {len(view['items']) - limit} more items (use --json or --html for all)")
    if view["receipt"]:
        lines.append(f"receipt {view['receipt']['receipt_id']}: {view['receipt']['status']} {view['receipt']['counts']}")
    return "\n".join(lines)


def render_html(view: dict) -> str:
    """A self-contained HTML diff: one row per item, old value struck through, new value highlighted."""
    esc = lambda v: html.escape("" if v is None else str(v))  # noqa: E731
    rows = "\n".join(
        f"<tr class='{esc(i['class'])}'><td>{i['item_no']}</td><td>{esc(i['class'])}</td>"
        f"<td>{esc(i['object_type'])}</td><td>{esc(i['object_id'])}</td><td>{esc(i['field'] or '*')}</td>"
        f"<td><del>{esc(i['value_now'])}</del></td><td><ins>{esc(_target(i))}</ins></td>"
        f"<td>{esc(', '.join(i['undoes']))}</td><td>{esc(i['outcome'] or '-')}</td></tr>"
        for i in view["items"])
    approvals = "".join(f"<li>{esc(a['approver'])} at {esc(a['approved_at'])}, expires {esc(a['expires_at'])}</li>"
                        for a in view["approvals"]) or "<li>not approved</li>"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>crmguard restore plan {esc(view['plan_id'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}del{{background:#fdd}}ins{{background:#dfd;text-decoration:none}}
tr.conflict{{background:#fff4d6}}tr.already_restored{{color:#888}}</style></head><body>
<h1>Restore plan {esc(view['plan_id'])}</h1>
<p>Status <b>{esc(view['status'])}</b>; planner {esc(view['planner'])}; hash <code>{esc(view['plan_hash'])}</code>
{'<b>ALTERED after planning</b>' if view['altered'] else ''}; scope <code>{esc(json.dumps(view['scope']))}</code></p>
<h2>Approvals</h2><ul>{approvals}</ul>
<h2>Items ({len(view['items'])})</h2>
<table><tr><th>#</th><th>class</th><th>object</th><th>id</th><th>field</th><th>value now</th><th>restore to</th>
<th>undoes</th><th>outcome</th></tr>
{rows}
</table></body></html>
"""
