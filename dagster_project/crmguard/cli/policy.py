"""CLI commands of policy as code: violations, policy validate|backtest, halt, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmguard.cli import app
from crmguard.cli.common import JsonOpt, WarehouseOpt, emit, parse_since, progress, query_mart
from crmguard.paths import warehouse_path
from crmguard.policy.backtest import backtest
from crmguard.policy.compile import incident_kind
from crmguard.policy.killswitch import active_halts, record
from crmguard.policy.loader import load_policy
from crmguard.warehouse import connect

policy_app = typer.Typer(
    name="policy",
    help="Check a policy file, or see what it would change over the stored history.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(policy_app, name="policy")

SinceOpt = Annotated[str | None, typer.Option("--since", help="Only calls at or after this UTC time (ISO 8601).")]
FileArg = Annotated[Path, typer.Argument(help="The policy YAML file.", show_default=False)]


def _print_violations(result: dict) -> None:
    typer.echo(f"{result['count']} violations")
    for v in result["violations"]:
        typer.echo(f"  {v['occurred_at']}  {v['severity']:<8} {v['rule_id']:<26} {v['agent_id']:<16} "
                   f"{v['tool_name']:<18} {v['event_id']}  {v['reason']}")


@app.command("violations")
def violations_command(
    since: SinceOpt = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent id.")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule id.")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List policy violations (fct_policy_violations) with the rule, the call and the evidence.

    Examples:

      crmguard violations

      crmguard violations --since 2026-01-05 --agent outbound-sdr

      crmguard violations --rule discount-approval --json
    """
    at = parse_since(since)
    sql = """
        select occurred_at, policy_version, rule_id, rule_kind, incident_kind, severity, event_id, agent_id,
               run_id, tool_name, actor_id, environment, status, object_type, object_id, field, reason,
               stop_id, evidence
        from main.fct_policy_violations
        where (cast(? as timestamp) is null or occurred_at >= cast(? as timestamp))
          and (cast(? as varchar) is null or agent_id = ?)
          and (cast(? as varchar) is null or rule_id = ?)
        order by occurred_at, event_id, rule_id
    """
    rows = query_mart(warehouse, "fct_policy_violations", sql, [at, at, agent, agent, rule, rule])
    emit({"violations": rows, "count": len(rows)}, as_json, _print_violations)


def _print_validation(result: dict) -> None:
    typer.echo(f"{result['path']}: policy version {result['version']} is valid ({len(result['rules'])} rules)")
    for r in result["rules"]:
        state = "" if r["enabled"] else "  (disabled)"
        typer.echo(f"  line {r['line']:<4} {r['id']:<28} {r['kind']:<20} {r['severity']:<8} {r['incident_kind'] or '-'}{state}")


@policy_app.command("validate")
def validate_command(path: FileArg, as_json: JsonOpt = False) -> None:
    """Validate a policy file; exit 2 with FILE:LINE: rule 'ID': problem on the first error.

    Examples:

      crmguard policy validate policies/default.yml

      crmguard policy validate my-policy.yml --json
    """
    policy = load_policy(path)
    rules = [{"id": r.rule_id, "kind": r.kind, "severity": r.severity, "line": r.line, "enabled": r.enabled,
              "incident_kind": incident_kind(r)} for r in policy.rules]
    emit({"path": str(path), "version": policy.version, "name": policy.name, "sha256": policy.sha256,
          "rules": rules, "valid": True}, as_json, _print_validation)


def _print_backtest(result: dict) -> None:
    c = result["candidate"]
    typer.echo(f"candidate {c['path']} (version {c['version']}) vs current version {result['current_version']}"
               + (f" since {result['since']}" if result["since"] else ""))
    typer.echo(f"  {'rule':<28} {'current':>8} {'candidate':>10} {'+new':>6} {'-gone':>6}")
    for r in result["rules"]:
        typer.echo(f"  {r['rule_id']:<28} {r['current']:>8} {r['candidate']:>10} {r['only_candidate']:>6} {r['only_current']:>6}")
        if r["sample_only_candidate"]:
            typer.echo(f"      would newly flag: {', '.join(r['sample_only_candidate'])}")
        if r["sample_only_current"]:
            typer.echo(f"      would stop flagging: {', '.join(r['sample_only_current'])}")
    typer.echo(f"total: {result['only_candidate']} newly flagged, {result['only_current']} no longer flagged")


@policy_app.command("backtest")
def backtest_command(path: FileArg, since: SinceOpt = None, warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """Evaluate a candidate policy over the stored history and show, per rule, what it would flag that
    the current policy did not (+new) and vice versa (-gone). The stored verdicts are not changed.

    Examples:

      crmguard policy backtest policies/stricter.yml

      crmguard policy backtest policies/stricter.yml --since 2026-01-05 --json
    """
    candidate = load_policy(path)
    at = parse_since(since)
    progress(f"evaluating {path} over the history in {warehouse_path(warehouse)} ...")
    emit(backtest(warehouse_path(warehouse), candidate, at), as_json, _print_backtest)


ScopeOpt = Annotated[str, typer.Option("--scope", help="agent:AGENT_ID, team:TEAM or global.", show_default=False)]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept with the decision).", show_default=False)]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who decides (default: the OS user).")]


def _decide(decision: str, scope: str, reason: str, by: str | None, warehouse: str | None, as_json: bool) -> None:
    with connect(warehouse) as con:
        made = record(con, decision, scope, reason, by)
        halts = active_halts(con)
    result = {"decision": {**vars(made), "decided_at": made.decided_at.isoformat() + "Z"},
              "active_halts": [{**h, "decided_at": h["decided_at"].isoformat() + "Z"} for h in halts]}

    def human(r: dict) -> None:
        d = r["decision"]
        typer.echo(f"{d['decision']} {d['scope']}:{d['scope_value']} recorded at {d['decided_at']} by {d['decided_by']}")
        typer.echo(f"{len(r['active_halts'])} halt(s) in force; the verdicts honor it at the next `crmguard build`")

    emit(result, as_json, human)


@app.command("halt")
def halt_command(scope: ScopeOpt, reason: ReasonOpt, by: ByOpt = None, warehouse: WarehouseOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Kill switch: halt an agent, a team or every agent. Every later call in scope is a violation
    (rule kind honor_stops) until `crmguard resume` with the same scope.

    Examples:

      crmguard halt --scope agent:outbound-sdr --reason "bounce spike" --by jane

      crmguard halt --scope global --reason "incident 42"
    """
    _decide("halt", scope, reason, by, warehouse, as_json)


@app.command("resume")
def resume_command(scope: ScopeOpt, reason: ReasonOpt, by: ByOpt = None, warehouse: WarehouseOpt = None,
                   as_json: JsonOpt = False) -> None:
    """Lift a halt, a `stop` event or a fired rate rule of the same scope (a global resume lifts all).

    Examples:

      crmguard resume --scope agent:outbound-sdr --reason "list cleaned" --by jane

      crmguard resume --scope global --reason "incident 42 closed"
    """
    _decide("resume", scope, reason, by, warehouse, as_json)
