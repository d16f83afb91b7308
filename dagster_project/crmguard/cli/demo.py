"""CLI command: demo (generate a world, run the whole loop, show what a buyer asks to see).

The demo calls the same functions as the individual commands, in the order an operator would, and
prints after each step the command a user types to see it for themselves.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer

from crmguard.cli import app
from crmguard.cli.common import JsonOpt, emit, progress
from crmguard.paths import WAREHOUSE_FILENAME

DEMO_FAULTS = "429=2,retry_after=1,500=4,timeout=6"


class Story:
    """Prints the demo's chapters (to stderr when --json is on, so stdout stays one JSON document)."""

    def __init__(self, quiet: bool) -> None:
        self.say = progress if quiet else typer.echo

    def chapter(self, title: str) -> None:
        self.say("")
        self.say(f"== {title} ==")

    def line(self, text: str) -> None:
        self.say(f"   {text}")

    def command(self, text: str) -> None:
        self.say(f"   $ {text}")


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo world, warehouse and exports.")] = Path("data/demo"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated world.")] = 7,
    accounts: Annotated[int, typer.Option("--accounts", help="Accounts in the generated world.")] = 300,
    days: Annotated[int, typer.Option("--days", help="Days of agent activity.")] = 14,
    as_json: JsonOpt = False,
) -> None:
    """Generate a world, run the whole loop, and print what a buyer would ask to see.

    The story: three agents work a CRM for two weeks and misbehave in every way crmguard knows
    (CONTRACTS.md section 6). crmguard ingests their logs and the CRM snapshots exactly once, builds
    the audit warehouse, evaluates the policy (stop rules, approval gates, permissions), runs the
    integrity suites, then ops roll back the worst run against the local CRM service (with injected
    429/500/timeout faults), a second person approves, and verify proves the CRM is back. Finally a
    signed compliance export and the governance report. Everything lands under --out; the warehouse is
    OUT/warehouse.duckdb, so follow-up commands use `export CRMGUARD_WAREHOUSE=OUT/warehouse.duckdb`.

    \b
    Examples:
      crmguard demo
      crmguard demo --out /tmp/demo --seed 11 --json
    """
    out = out.resolve()
    story = Story(quiet=as_json)
    summary = run_demo(out, seed, accounts, days, story)
    (out / "demo.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    emit(summary, as_json, lambda s: _closing(s, story, out))


def run_demo(out: Path, seed: int, accounts: int, days: int, story: Story) -> dict[str, Any]:
    """Every step of the loop on a fresh world under `out`; returns CONTRACTS.md section 5 `demo`."""
    from crmguard.generate import GenerateConfig, generate_world
    from crmguard.ingest import ingest_paths
    from crmguard.quality.runner import run_checks
    from crmguard.transform import build

    world, warehouse = out / "world", out / WAREHOUSE_FILENAME
    _fresh(out)
    env = f"CRMGUARD_WAREHOUSE={warehouse}"

    story.chapter("1. A company whose agents act on its CRM")
    generated = generate_world(GenerateConfig(out=world, seed=seed, accounts=accounts, days=days), progress)
    story.line(f"{generated['events']} agent events over {days} days, {generated['snapshots']} CRM snapshots, "
               f"{sum(generated['incidents'].values())} injected incidents of {len(generated['incidents'])} kinds")
    story.command(f"crmguard generate --out {world} --seed {seed} --accounts {accounts} --days {days}")

    story.chapter("2. Ingest, exactly once")
    first = ingest_paths(warehouse, [world]).to_json()
    again = ingest_paths(warehouse, [world]).to_json()
    story.line(f"loaded {first['loaded']} rows from {len(first['files'])} inputs, rejected {first['rejected']}, "
               f"duplicates {first['duplicates']}; a second ingest skipped {again['skipped_files']} inputs, loaded {again['loaded']}")
    story.command(f"{env} crmguard ingest {world}")

    story.chapter("3. The audit warehouse (dbt: facts, SCD2 history, attribution, policy verdicts)")
    built = build(warehouse)
    story.line(f"dbt build {'passed' if built.success else 'FAILED'} in {built.elapsed_seconds:.0f} s: {built.counts}")
    sealed = _seal(warehouse)
    story.line(f"audit chain sealed over {len(sealed)} tables")
    story.command(f"{env} crmguard build")

    with duckdb.connect(str(warehouse), read_only=True) as con:
        findings = _findings(con)
    _tell_findings(findings, story, env)

    story.chapter("7. Integrity suites (Great Expectations, in DuckDB SQL)")
    checked = run_checks(warehouse, None, full=True)
    failed = [(s.name, o) for s in checked.suites for o in s.failed]
    for suite, outcome in failed[:8]:
        story.line(f"{outcome.severity:8} {suite}.{outcome.expectation}: {outcome.unexpected_count} rows, "
                   f"e.g. {', '.join(outcome.sample_ids[:3])}")
    story.line(f"{len(checked.suites)} suites, {len(failed)} expectations failed (the injected incidents)")
    story.command(f"{env} crmguard check --full")
    build(warehouse, select=("fct_check_results",))  # the first results exist now: the view can read them

    restore = _rollback(out, world, warehouse, findings, story, env)
    artefacts = _compliance(out, warehouse, story, env)

    return {
        "warehouse": str(warehouse),
        "actions": findings["actions"],
        "violations": findings["violations"],
        "unexplained_changes": findings["unexplained"],
        "checks_failed": len(failed),
        "report": artefacts["report"],
        "export": artefacts["export"],
        "restore": restore,
    }


def _fresh(out: Path) -> None:
    """The demo owns its folder: start from nothing so the run is reproducible."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)


def _seal(warehouse: Path) -> list[str]:
    from crmguard.export.chain import seal_warehouse

    return list(seal_warehouse(warehouse)["tables"])


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _findings(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What the warehouse says happened: the figures and the examples the story shows."""
    one = lambda sql: _rows(con, sql)[0] if _rows(con, sql) else None  # noqa: E731
    return {
        "actions": con.execute("select count(*) from main.fct_agent_actions").fetchone()[0],
        "violations": con.execute("select count(*) from main.fct_policy_violations").fetchone()[0],
        "unexplained": con.execute(
            "select count(*) from main.fct_change_attribution where cause = 'unexplained'").fetchone()[0],
        "by_rule": _rows(con, """
            select rule_id, incident_kind, severity, count(*) as violations
            from main.fct_policy_violations group by all order by violations desc, rule_id"""),
        "stop": one("""
            select rule_id, stop_source, agent_id, fired_at, reason, actions_past_stop as ran_past
            from main.fct_stops where actions_past_stop > 0
            order by stop_source = 'rate_rule' desc, fired_at, stop_id limit 1"""),
        "gate": one("""
            select a.event_id, a.occurred_at, a.agent_id, a.tool_name, a.input, a.approval_id, v.rule_id, v.evidence
            from main.fct_policy_violations v join main.fct_agent_actions a using (event_id)
            where v.incident_kind = 'discount_without_approval' order by a.occurred_at, a.event_id limit 1"""),
        "approved_call": one("""
            select a.event_id, a.occurred_at, a.agent_id, a.agent_version, a.run_id, a.step, a.actor_id,
                   a.on_behalf_of, a.actor_role, a.tool_name, a.target_object_type, a.target_object_id,
                   a.status, p.approval_id, p.approver_id, p.approver_role, p.decided_at, p.expires_at,
                   (select string_agg(v.rule_id || ' (' || v.reason || ')', '; ' order by v.rule_id)
                    from main.fct_policy_violations v where v.event_id = a.event_id) as broke
            from main.fct_agent_actions a join main.fct_approvals p using (approval_id)
            where a.tool_name = 'apply_discount' and p.decision = 'approved'
            order by a.occurred_at, a.event_id limit 1"""),
        "unexplained_examples": _rows(con, """
            select object_type, object_id, field, old_value, new_value, updated_by, window_end
            from main.fct_change_attribution where cause = 'unexplained'
            order by window_end, object_type, object_id, field limit 3"""),
        "worst_run": one("""
            select a.run_id, a.agent_id, count(*) as violations
            from main.fct_flags f join main.fct_agent_actions a using (event_id)
            where f.kind = 'mass_reassignment' group by all order by violations desc, a.run_id limit 1"""),
        "ops": [r["user_id"] for r in _rows(con, """
            select user_id from main.dim_users where role = 'ops' and not is_agent order by user_id limit 2""")],
    }


def _tell_findings(f: dict[str, Any], story: Story, env: str) -> None:
    story.chapter("4. Which rules the agents broke (policy: policies/default.yml)")
    for row in f["by_rule"]:
        story.line(f"{row['violations']:5}  {row['rule_id']:32} {row['severity']:8} {row['incident_kind'] or ''}")
    story.line(f"{f['violations']} violations over {f['actions']} tool calls")
    story.command(f"{env} crmguard violations --json")
    if f["stop"]:
        s = f["stop"]
        what = "rate rule" if s["stop_source"] == "rate_rule" else "the runtime's own stop"
        story.line(f"STOP RULE FIRED ({what}): {s['rule_id']} for {s['agent_id']} at {s['fired_at']}: {s['reason']}")
        story.line(f"   {s['ran_past']} actions ran past it before a human resumed the agent: each one a violation")
        story.command(f"{env} crmguard violations --rule {s.get('rule_id')}")
    if f["gate"]:
        g = f["gate"]
        story.line(f"APPROVAL GATE: {g['agent_id']} called {g['tool_name']} {g['input']} at {g['occurred_at']} "
                   f"with approval {g['approval_id'] or 'none'} -> {g['rule_id']}")

    story.chapter("5. The audit entry of one gated action")
    if f["approved_call"]:
        a = f["approved_call"]
        story.line(f"event {a['event_id']} at {a['occurred_at']}: {a['agent_id']}@{a['agent_version']} run {a['run_id']} "
                   f"step {a['step']}")
        story.line(f"actor {a['actor_id']} (role {a['actor_role']}) on behalf of {a['on_behalf_of']}: "
                   f"{a['tool_name']} on {a['target_object_type']} {a['target_object_id']} -> {a['status']}")
        story.line(f"approval {a['approval_id']} by {a['approver_id']} ({a['approver_role']}) at {a['decided_at']}, "
                   f"expires {a['expires_at']}")
        story.line(f"verdict: {'broke ' + a['broke'] if a['broke'] else 'every applicable rule passed'}")
        story.line(f"SQL (any DuckDB client, read-only): select * from fct_agent_actions where event_id = "
                   f"'{a['event_id']}'")

    story.chapter("6. CRM changes nobody can explain")
    for c in f["unexplained_examples"]:
        story.line(f"{c['object_type']} {c['object_id']}.{c['field']}: {c['old_value']} -> {c['new_value']} "
                   f"by {c['updated_by']} before {c['window_end']}: no tool call claims it")
    story.line(f"{f['unexplained']} unexplained changes")
    story.command(f"{env} crmguard changes --unexplained")


def _rollback(out: Path, world: Path, warehouse: Path, f: dict[str, Any], story: Story, env: str) -> dict[str, Any]:
    """Plan, refuse a self-approval, approve, apply against the faulty local CRM, verify."""
    from crmguard.crm.adapters import target_adapter
    from crmguard.crm.server import running_service
    from crmguard.errors import CrmguardError
    from crmguard.restore.approve import approve
    from crmguard.restore.flow import apply_with_audit
    from crmguard.restore.plan import Scope, create_plan
    from crmguard.restore.verify import verify_plan
    from crmguard.warehouse import connect

    story.chapter("8. Rollback: undo the worst run, with two people and a receipt")
    run, (planner, approver) = f["worst_run"], f["ops"]
    story.line(f"run {run['run_id']} of {run['agent_id']} reassigned owners in bulk ({run['violations']} flagged calls)")
    latest = sorted((world / "crm").iterdir())[-1]
    with running_service(out / "crm", DEMO_FAULTS) as crm:
        crm.store.seed(latest)
        story.line(f"local CRM service on {crm.url}, seeded from snapshot {latest.name}, faults {DEMO_FAULTS}")
        with connect(warehouse) as con:
            plan = create_plan(con, Scope(run_ids=(run["run_id"],)), planner)
            story.line(f"plan {plan.plan_id} by {planner}: {plan.items} items {plan.by_class}, hash {plan.plan_hash[:16]}")
            try:
                approve(con, plan.plan_id, planner)
            except CrmguardError as refused:
                story.line(f"self-approval refused: {refused}")
            approve(con, plan.plan_id, approver)
            story.line(f"approved by {approver} (ops), bound to the plan hash")
            adapter = target_adapter("local", crm_url=crm.url)
            applied = apply_with_audit(con, plan.plan_id, adapter, out / "restore_audit")
            story.line(f"applied through 429/500/timeout faults: {applied['outcomes']}")
            receipt = verify_plan(con, plan.plan_id, adapter)
            story.line(f"RECEIPT {receipt.receipt_id}: {receipt.status} {receipt.counts}")
    for cmd in (f"crmguard restore plan --run {run['run_id']} --by {planner}",
                "crmguard restore show PLAN_ID --html plan.html",
                f"crmguard restore approve PLAN_ID --by {approver}",
                f"crmguard crm serve --data {out / 'crm'} --faults {DEMO_FAULTS} &",
                "crmguard restore apply PLAN_ID --target local",
                "crmguard restore verify PLAN_ID"):
        story.command(f"{env} {cmd}")
    outcomes = applied["outcomes"]
    return {
        "plan_id": plan.plan_id,
        "status": receipt.status,
        "items": plan.items,
        "written": outcomes.get("written", 0),
        "conflicts": outcomes.get("conflict", 0),
    }


def _compliance(out: Path, warehouse: Path, story: Story, env: str) -> dict[str, str]:
    """A signed export of the whole history, verified, and the governance report."""
    from crmguard.export.chain import seal_warehouse
    from crmguard.export.exporter import ExportRequest, export_audit
    from crmguard.export.keys import PUBLIC_KEY, key_dir
    from crmguard.export.tamper import verify as verify_chain
    from crmguard.export.verify import verify_exports
    from crmguard.report.page import write_report
    from crmguard.warehouse import connect

    story.chapter("9. Compliance: tamper evidence, signed export, governance report")
    seal_warehouse(warehouse)  # the restore's writes joined the audit tables
    keys = out / "keys"
    with connect(warehouse, read_only=True) as con:
        chain = verify_chain(con, None)
        start, end = con.execute(
            "select min(occurred_at)::date, max(occurred_at)::date + 1 from main.fct_agent_actions").fetchone()
        request = ExportRequest(dt.datetime.combine(start, dt.time()), dt.datetime.combine(end, dt.time()),
                                "parquet", out / "export", key_dir(keys))
        exported = export_audit(con, request)
        report = write_report(con, out / "report.html")
    verified = verify_exports([out / "export"], key_dir(keys) / PUBLIC_KEY)
    rows = sum(f.get("rows", 0) for f in exported["manifest"]["files"])
    rehashed = sum(chain["rows_checked"].values())
    story.line(f"audit chain: {'intact' if chain['ok'] else 'BROKEN: ' + str(chain['first'])} "
               f"({rehashed} rows of {len(chain['rows_checked'])} tables re-hashed)")
    story.line(f"signed export {out / 'export'}: {len(exported['manifest']['files'])} files, {rows} rows; "
               f"export verify: {'ok' if verified['ok'] else 'FAILED'}")
    story.line(f"governance report {report['out']} ({report['bytes']} bytes, self-contained HTML)")
    story.command(f"{env} crmguard audit verify")
    story.command(f"{env} crmguard export audit --from {start} --to {end} --out exports/audit --format ocsf")
    story.command("crmguard export verify exports/audit")
    story.command(f"{env} crmguard report --out report.html")
    return {"report": report["out"], "export": str(out / "export")}


def _closing(summary: dict[str, Any], story: Story, out: Path) -> None:
    story.chapter("Summary")
    r = summary["restore"]
    story.line(f"{summary['actions']} actions, {summary['violations']} violations, "
               f"{summary['unexplained_changes']} unexplained changes, {summary['checks_failed']} failed expectations")
    story.line(f"restore {r['plan_id']}: {r['status']} ({r['items']} items, {r['written']} written, "
               f"{r['conflicts']} conflicts)")
    story.line(f"summary saved to {out / 'demo.json'}; open {summary['report']} in a browser")
