"""CLI commands: `restore plan|show|list|approve|force|apply|verify` (issue 6, docs/restore.md)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from crmguard.cli import app
from crmguard.cli.bench import bench_app
from crmguard.cli.common import JsonOpt, WarehouseOpt, emit, progress
from crmguard.cli.export import parse_instant
from crmguard.errors import CheckFailed
from crmguard.paths import warehouse_path
from crmguard.warehouse import connect

restore_app = typer.Typer(
    help="Rollback: plan what to restore, approve it (second ops user), apply it to a CRM, verify it.",
    no_args_is_help=True, rich_markup_mode=None,
)
app.add_typer(restore_app, name="restore")

TargetOpt = Annotated[str, typer.Option("--target", help="local (the local CRM service), hubspot "
                                        "(HUBSPOT_TOKEN), or file:DIR (import files).")]
CrmUrlOpt = Annotated[str | None, typer.Option("--crm-url", envvar="CRMGUARD_CRM_URL", show_default=False,
                                               help="URL of the CRM API (default http://127.0.0.1:8765 for local).")]
RateOpt = Annotated[float | None, typer.Option("--rate", help="Client-side request rate limit per second.")]


@restore_app.command("plan")
def plan_command(
    by: Annotated[str, typer.Option("--by", help="Your user id (the planner; cannot approve this plan).")],
    run: Annotated[list[str] | None, typer.Option("--run", help="Undo what this run changed (repeatable).")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Undo what this agent changed.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="With --agent: from this time (UTC).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="With --agent: before this time (UTC).")] = None,
    action: Annotated[list[str] | None, typer.Option("--action", help="Undo exactly these action event ids.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Restore chosen records to their state at T.")] = None,
    object_type: Annotated[str | None, typer.Option("--object-type", help="With --as-of: accounts, contacts, "
                                                    "deals, sequence_enrollments, meetings.")] = None,
    ids: Annotated[str | None, typer.Option("--ids", help="With --as-of: comma-separated record ids.")] = None,
    account: Annotated[str | None, typer.Option("--account", help="With --as-of: records of this account.")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan a restore (writes nothing to the CRM) and store it with its content hash.

    \b
    Examples:
      crmguard restore plan --run run_0042 --by u-ops-1
      crmguard restore plan --agent lead-router --since 2026-01-03 --until 2026-01-04T12:00:00Z --by u-ops-1
      crmguard restore plan --action evt_1 --action evt_2 --by u-ops-1 --json
      crmguard restore plan --as-of 2026-01-02 --object-type deals --account acc_17 --by u-ops-1
    """
    from crmguard.restore.plan import Scope, create_plan

    scope = Scope(
        run_ids=tuple(run or ()), agent=agent, since=parse_instant(since, "--since") if since else None,
        until=parse_instant(until, "--until") if until else None, event_ids=tuple(action or ()),
        as_of=parse_instant(as_of, "--as-of") if as_of else None, object_type=object_type,
        ids=tuple(i.strip() for i in (ids or "").split(",") if i.strip()), account=account,
    )
    with connect(warehouse) as con:
        summary = create_plan(con, scope, by)
    emit(asdict(summary), as_json, lambda s: typer.echo(
        f"planned {s['plan_id']}: {s['items']} items {s['by_class']}\nhash {s['plan_hash']}\n"
        f"next: crmguard restore show {s['plan_id']}; then a second ops user runs "
        f"crmguard restore approve {s['plan_id']} --by USER"))


@restore_app.command("show")
def show_command(
    plan_id: Annotated[str, typer.Argument(help="The plan id printed by `restore plan`.")],
    html: Annotated[Path | None, typer.Option("--html", help="Also write an HTML diff view to this file.")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a plan as a diff: every item, its class, value now, value to restore, outcome.

    \b
    Examples:
      crmguard restore show rp_20260105T101500Z_1a2b3c4d
      crmguard restore show rp_20260105T101500Z_1a2b3c4d --json > plan.json
      crmguard restore show rp_20260105T101500Z_1a2b3c4d --html plan.html
    """
    from crmguard.restore.show import plan_view, render_html, render_table

    with connect(warehouse, read_only=True) as con:
        view = plan_view(con, plan_id)
    if html is not None:
        html.write_text(render_html(view), encoding="utf-8")
        progress(f"wrote {html}")
    emit(view, as_json, lambda v: typer.echo(render_table(v)))


@restore_app.command("list")
def list_command(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """List restore plans, newest first.

    \b
    Examples:
      crmguard restore list
      crmguard restore list --json
    """
    from crmguard.warehouse import table_exists

    with connect(warehouse, read_only=True) as con:
        rows = [] if not table_exists(con, "restore", "plans") else con.execute(
            "select plan_id, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ'), planner, status, item_count, origin "
            "from restore.plans order by created_at desc, plan_id").fetchall()
    plans = [dict(zip(("plan_id", "created_at", "planner", "status", "items", "origin"), r, strict=True))
             for r in rows]
    emit({"plans": plans}, as_json, lambda d: typer.echo("\n".join(
        f"{p['plan_id']}  {p['created_at']}  {p['status']:<9} {p['items']:>6} items  by {p['planner']} ({p['origin']})"
        for p in d["plans"]) or "no restore plans"))


@restore_app.command("approve")
def approve_command(
    plan_id: Annotated[str, typer.Argument(help="The plan to approve.")],
    by: Annotated[str, typer.Option("--by", help="An ops user id who is not the planner.")],
    ttl_hours: Annotated[float, typer.Option("--ttl-hours", help="Hours the approval stays valid.")] = 24.0,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a plan's current content hash (any later change voids it).

    \b
    Examples:
      crmguard restore approve rp_20260105T101500Z_1a2b3c4d --by u-ops-2
      crmguard restore approve rp_20260105T101500Z_1a2b3c4d --by u-ops-2 --ttl-hours 2 --json
    """
    from crmguard.restore.approve import approve

    with connect(warehouse) as con:
        approval = approve(con, plan_id, by, ttl_hours=ttl_hours)
    emit(asdict(approval), as_json, lambda a: typer.echo(
        f"approved {a['plan_id']} (hash {a['plan_hash'][:16]}) by {a['approver']} until {a['expires_at']:%Y-%m-%dT%H:%M:%SZ}"))


@restore_app.command("force")
def force_command(
    plan_id: Annotated[str, typer.Argument(help="The plan holding the conflicts.")],
    item: Annotated[list[int], typer.Option("--item", help="Item number of a conflict to overwrite (repeatable).")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Force conflict items (overwrite someone else's later change). Changes the hash: re-approve.

    \b
    Examples:
      crmguard restore force rp_20260105T101500Z_1a2b3c4d --item 6 --item 9
    """
    from crmguard.restore.approve import force_items

    with connect(warehouse) as con:
        new_hash = force_items(con, plan_id, item)
    emit({"plan_id": plan_id, "plan_hash": new_hash, "forced": item}, as_json, lambda d: typer.echo(
        f"forced items {d['forced']} of {plan_id}; new hash {new_hash[:16]}: the plan needs a new approval"))


@restore_app.command("apply")
def apply_command(
    plan_id: Annotated[str, typer.Argument(help="An approved plan.")],
    target: TargetOpt = "local",
    crm_url: CrmUrlOpt = None,
    rate: RateOpt = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Items per CRM batch request (1-100).")] = 100,
    audit_dir: Annotated[Path | None, typer.Option("--audit-dir", help="Where the restore job's action log "
                                                  "goes (default: <warehouse dir>/restore_audit).")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply an approved plan through a CRM adapter; safe to rerun (never writes an item twice).

    Refuses unapproved, expired or altered plans. Exit 1 when some items failed (rerun to complete).

    \b
    Examples:
      crmguard restore apply rp_20260105T101500Z_1a2b3c4d --target local
      crmguard restore apply rp_20260105T101500Z_1a2b3c4d --target hubspot --rate 9
      crmguard restore apply rp_20260105T101500Z_1a2b3c4d --target file:exports/restore-files --json
    """
    from crmguard.crm.adapters import target_adapter
    from crmguard.restore.flow import apply_with_audit, check_batch_size, raise_if_items_failed

    check_batch_size(batch_size)
    adapter = target_adapter(target, crm_url=crm_url, rate=rate)
    with connect(warehouse) as con:
        result = apply_with_audit(con, plan_id, adapter, audit_dir or warehouse_path(warehouse).parent / "restore_audit",
                                  batch_size=batch_size, on_batch=lambda done, total: progress(f"applied {done}/{total} items"))
    emit(result, as_json, lambda r: typer.echo(
        f"applied {r['plan_id']} via {r['adapter']} (approved by {r['approver']}): {r['outcomes']}, "
        f"{r['written_now']} written now\naudit log {r['audit_log']} (ingested: {r['audit_ingested']})"))
    raise_if_items_failed(result)


@restore_app.command("verify")
def verify_command(
    plan_id: Annotated[str, typer.Argument(help="An applied plan.")],
    target: TargetOpt = "local",
    crm_url: CrmUrlOpt = None,
    rate: RateOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read every item back from the CRM and store a receipt; exit 1 unless `verified`.

    \b
    Examples:
      crmguard restore verify rp_20260105T101500Z_1a2b3c4d
      crmguard restore verify rp_20260105T101500Z_1a2b3c4d --target hubspot --json
    """
    from crmguard.crm.adapters import target_adapter
    from crmguard.restore.verify import verify_plan

    adapter = target_adapter(target, crm_url=crm_url, rate=rate)
    with connect(warehouse) as con:
        receipt = verify_plan(con, plan_id, adapter)
    emit(asdict(receipt), as_json, lambda r: typer.echo(
        f"receipt {r['receipt_id']}: {r['status']} {r['counts']}" + "".join(
            f"\n  item {m['item_no']} {m['object_type']}/{m['object_id']}.{m['field'] or '*'}: expected "
            f"{m['expected']!r}, CRM has {m['actual']!r}" for m in r["mismatches"][:50])))
    if receipt.status != "verified":
        raise CheckFailed(f"plan {plan_id} is {receipt.status}: {receipt.counts['mismatched']} item(s) differ")


@bench_app.command("restore")
def bench_restore_command(
    changes: Annotated[int, typer.Option("--changes", min=4, help="Field changes in the planned scope.")] = 100_000,
    apply_items: Annotated[int, typer.Option("--apply-items", min=1, help="Items applied to the local CRM.")] = 6_000,
    rate: Annotated[int, typer.Option("--rate", min=1, help="Allowed requests/s of the local CRM (HubSpot "
                                      "private apps: 10/s = 100 per 10 s).")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Plan time against a bare DuckDB diff, and apply throughput against a rate-limited CRM.

    ratio = plan seconds / bare diff seconds, lower is better, target <= 3. Also reported:
    apply_rate_share = achieved requests/s / allowed (target >= 0.9) and duplicate_writes (target 0).

    \b
    Examples:
      crmguard bench restore
      crmguard bench restore --changes 20000 --apply-items 1000 --json
    """
    from crmguard.restore.bench import run

    result = run(changes, apply_items, rate, progress)
    emit(result.to_json(), as_json, lambda _: typer.echo(result.render()))
