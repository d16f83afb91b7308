"""`crmguard bench policy`: the default policy over 1M actions against the slowest rule alone.

The world is a real generated one (realistic mix of tools, contacts, signals, approvals), built once
through ingest and dbt (kept under --data-dir and reused), then its actions and claimed changes are replicated (ids suffixed, times kept)
until they reach the requested count, so every rule meets the same distributions at scale.

Headline ratio: the policy models' execution time in dbt (start-up and parsing excluded) divided by the
slowest of a few single rules written by hand as bare DuckDB queries over the same tables, each the
best of `repeat` runs; lower is
better, target <= 3 (the rules share one point-in-time scan instead of multiplying it).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from crmguard import transform
from crmguard.bench.timing import BenchResult, Stopwatch
from crmguard.generate import GenerateConfig, generate_world
from crmguard.ingest.run import ingest_paths
from crmguard.paths import WAREHOUSE_FILENAME
from crmguard.policy import publish_for_build
from crmguard.warehouse import connect

RATIO_TARGET = 3.0
REPEAT = 2
WORLD_ACCOUNTS, WORLD_DAYS = 300, 14  # the generated world the benchmark replicates
DEFAULT_DATA_DIR = Path("data") / "bench"
POLICY_SELECT = ["--select", "path:models/policy"]
_FACTS = ("fct_agent_actions", "fct_claimed_changes", "fct_signals", "fct_stop_events", "fct_approvals",
          "fct_change_attribution", "dim_agents", "scd_crm_accounts", "scd_crm_contacts", "scd_crm_deals")

_PIT = "{t}.valid_from <= a.occurred_at and ({t}.valid_to is null or {t}.valid_to > a.occurred_at) and not {t}.is_deleted"

# Each rule alone, as a person would write it directly against the marts (materialized, as the models are).
BARE_RULES: dict[str, str] = {
    "contact_flags": f"""
        select a.event_id,
               coalesce(c.email_opt_out or c.email_bounced or c.do_not_contact, false)
               or s.first_unsubscribe_at < a.occurred_at or s.first_bounce_at < a.occurred_at as violation
        from main.fct_agent_actions a
        left join main.scd_crm_contacts c on c.contact_id = a.contact_id and {_PIT.format(t='c')}
        left join (select contact_id,
                          min(case when signal_kind = 'unsubscribe' then occurred_at end) as first_unsubscribe_at,
                          min(case when signal_kind = 'bounce' then occurred_at end) as first_bounce_at
                   from main.fct_signals group by contact_id) s on s.contact_id = a.contact_id
        where a.tool_name in ('send_email', 'enroll_in_sequence') and a.actor_role = 'sdr_agent'""",
    "account_flag": f"""
        select a.event_id, coalesce(acc.legal_hold, false) as violation
        from main.fct_agent_actions a
        left join main.scd_crm_contacts c on c.contact_id = a.contact_id and {_PIT.format(t='c')}
        left join main.scd_crm_accounts acc
            on acc.account_id = coalesce(a.target_account_id, c.account_id) and {_PIT.format(t='acc')}
        where a.tool_name in ('send_email', 'enroll_in_sequence', 'book_meeting')""",
    "permissions": """
        select a.event_id, a.tool_name not in ('send_email', 'enroll_in_sequence', 'pause_sequence', 'book_meeting',
               'cancel_meeting', 'write_note', 'create_task', 'update_contact') or coalesce(w.bad, false) as violation
        from main.fct_agent_actions a
        left join (select event_id, bool_or(not (object_type in ('sequence_enrollment', 'meeting', 'task')
                          or (object_type = 'contact' and field = 'title'))) as bad
                   from main.fct_claimed_changes group by event_id) w on w.event_id = a.event_id
        where a.actor_role = 'sdr_agent'""",
    "blast_radius_hour": """
        select event_id, sum(records) over (partition by agent_id order by occurred_at
                   range between interval '1 hour' preceding and current row) > 200 as violation
        from (select a.event_id, a.agent_id, a.occurred_at,
                     count(distinct c.object_type || ':' || c.object_id) as records
              from main.fct_agent_actions a join main.fct_claimed_changes c on c.event_id = a.event_id
              where a.status = 'succeeded' and not a.dry_run
              group by a.event_id, a.agent_id, a.occurred_at) per_call""",
}


def _replicate(con, target_actions: int) -> int:
    """Copy the actions and their claims until there are about `target_actions`; returns the count.

    Copy k is shifted k world-lengths later, as if the same weeks happened again: the history gets
    longer instead of every call being stacked k times on the same instant (which would trip every
    per-hour limit and keep every stop open, not what a real million calls looks like).
    """
    base, days = con.execute(
        "select count(*), date_diff('day', min(occurred_at), max(occurred_at)) + 1 from main.fct_agent_actions"
    ).fetchone()
    copies = max(1, -(-target_actions // base))
    suffix = "case when k = 0 then '' else '~' || k end"
    shifted = {"occurred_at": f"occurred_at + to_days(cast(k * {days} as integer))"}
    for table, ids in (("fct_agent_actions", ("event_id", "run_id", "call_id", "logical_call_id")),
                       ("fct_claimed_changes", ("event_id", "claim_id", "run_id"))):
        columns = [r[0] for r in con.execute(f"describe main.{table}").fetchall()]
        select = ", ".join(f"{c} || {suffix} as {c}" if c in ids else f"{shifted[c]} as {c}" if c in shifted else c
                           for c in columns)
        con.execute(f"create table main.{table}_copy as select {select} from main.{table}, range({copies}) as r(k)")
        con.execute(f"drop table main.{table}")
        con.execute(f"alter table main.{table}_copy rename to {table}")
    # the copies come from no load, so no judged window would reach them: the policy judges every call
    con.execute("drop table if exists dbt_state.policy_judged")
    return con.execute("select count(*) from main.fct_agent_actions").fetchone()[0]


def _model_seconds(warehouse: Path) -> float:
    """Execution time of the policy models in the last dbt run (start-up and parse excluded)."""
    results = json.loads((transform.target_dir(warehouse) / "run_results.json").read_text())
    return sum(float(node["execution_time"]) for node in results["results"])


def _bare_rules(warehouse: Path, watch: Stopwatch) -> dict[str, float]:
    """Each rule alone, its result stored in the warehouse as the models' results are."""
    with connect(warehouse) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute("create schema if not exists bench")
        for name, sql in BARE_RULES.items():
            with watch.lap(f"rule_{name}"):
                con.execute(f"create or replace table bench.rule_{name} as {sql}")
                con.execute("checkpoint")
    return {name: watch.seconds[f"rule_{name}"] for name in BARE_RULES}


def _base_world(data_dir: Path, say: Callable[[str], None], accounts: int = WORLD_ACCOUNTS,
                days: int = WORLD_DAYS) -> Path:
    """The generated, built world the benchmark replicates; built once under data_dir, then reused."""
    base = data_dir / ("policy-world" if (accounts, days) == (WORLD_ACCOUNTS, WORLD_DAYS)
                       else f"policy-world-{accounts}a-{days}d")
    warehouse = base / "wh" / WAREHOUSE_FILENAME
    done = base / "built"
    if done.exists():
        return warehouse
    say(f"generating and building a {days}-day world of {accounts} accounts (once; reused by later runs)")
    shutil.rmtree(base, ignore_errors=True)
    generate_world(GenerateConfig(out=base / "world", seed=7, accounts=accounts, days=days))
    ingest_paths(warehouse, [base / "world"])
    result = transform.run_dbt("run", warehouse, ["--select", *(f"+{m}" for m in _FACTS)])
    if not result.success:
        raise RuntimeError(f"building the bench world failed: {result.failures[0]}")
    done.touch()
    return warehouse


def run(actions: int = 1_000_000, data_dir: Path = DEFAULT_DATA_DIR,
        progress: Callable[[str], None] | None = None, repeat: int = REPEAT,
        world: tuple[int, int] = (WORLD_ACCOUNTS, WORLD_DAYS)) -> BenchResult:
    """Build the world, scale it to `actions`, time the policy models and each bare rule.

    Both sides are timed `repeat` times, each policy run on a fresh copy of the scaled warehouse, and
    the best of each is compared (the machines are shared: the best is the least disturbed run).
    """
    say = progress or (lambda _: None)
    data_dir.mkdir(parents=True, exist_ok=True)
    watch = Stopwatch()
    policy_runs: list[float] = []
    rule_runs: dict[str, list[float]] = {name: [] for name in BARE_RULES}
    with tempfile.TemporaryDirectory(dir=data_dir, prefix="policy-") as tmp:
        warehouse = Path(tmp) / WAREHOUSE_FILENAME
        pristine = Path(tmp) / "scaled" / WAREHOUSE_FILENAME
        shutil.copyfile(_base_world(data_dir, say, *world), warehouse)
        with connect(warehouse) as con:
            total = _replicate(con, actions)
        publish_for_build(warehouse)
        pristine.parent.mkdir()
        shutil.copyfile(warehouse, pristine)
        for attempt in range(1, repeat + 1):
            shutil.copyfile(pristine, warehouse)
            say(f"evaluating the default policy over {total} actions ({attempt}/{repeat})")
            with watch.lap("policy_wall"):
                result = transform.run_dbt("run", warehouse, POLICY_SELECT)
            if not result.success:
                raise RuntimeError(f"policy models failed: {result.failures[0]}")
            policy_runs.append(_model_seconds(warehouse))
            say(f"each rule alone as a bare DuckDB query ({attempt}/{repeat})")
            for name, seconds in _bare_rules(warehouse, watch).items():
                rule_runs[name].append(seconds)
        with connect(warehouse, read_only=True) as con:
            verdicts, violations = con.execute(
                "select count(*), count(*) filter (where verdict = 'violation') from main.fct_policy_verdicts"  # a view
            ).fetchone()
    policy_seconds = min(policy_runs)
    rules = {name: min(times) for name, times in rule_runs.items()}
    slowest = max(rules, key=rules.get)
    metrics: dict[str, float | int | str] = {
        "actions": total,
        "verdicts": verdicts,
        "violations": violations,
        "repeat": repeat,
        "policy_models_seconds": round(policy_seconds, 3),
        "policy_models_all_runs_seconds": " ".join(f"{t:.2f}" for t in policy_runs),
        "policy_dbt_wall_seconds": round(watch.seconds["policy_wall"], 3),
        "actions_per_second": round(total / policy_seconds),
        "slowest_rule": slowest,
        "slowest_rule_all_runs_seconds": " ".join(f"{t:.2f}" for t in rule_runs[slowest]),
        **{f"bare_rule_{name}_seconds": round(seconds, 3) for name, seconds in rules.items()},
    }
    return BenchResult("policy", round(policy_seconds / rules[slowest], 2), RATIO_TARGET, higher_is_better=False,
                       metrics=metrics)
