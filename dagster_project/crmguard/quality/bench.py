"""`crmguard bench check`: every suite over a 1M-deal, 50k-account CRM, against the same checks as
plain DuckDB SQL.

Three timings on one synthetic warehouse (`sample_world`): the GX full sweep, the GX incremental run
after a new snapshot re-captured 1 % of every CRM table (and attribution recorded those deal changes), and every expectation written as one plain
DuckDB query (a UNION ALL of unexpected-row counts). Headline ratio: GX full / plain SQL, lower is
better, target <= 3. The incremental share of the full sweep (target < 0.10) is a metric.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import great_expectations.expectations as gxe

from crmguard.bench.timing import BenchResult, Stopwatch
from crmguard.paths import WAREHOUSE_FILENAME
from crmguard.quality.catalog import all_suites
from crmguard.quality.runner import UNCHANGED, run_checks
from crmguard.quality.sample_world import SNAPSHOT, build_sample_world
from crmguard.quality.spec import Suite
from crmguard.warehouse import connect

TARGET_RATIO = 3.0
TARGET_INCREMENTAL_SHARE = 0.10
CHANGED_PERCENT = 1
CRM_TABLES = ("dim_crm_users", "dim_crm_accounts", "dim_crm_contacts", "dim_crm_deals", "dim_crm_sequence_enrollments",
              "dim_crm_meetings")


def run(deals: int = 1_000_000, accounts: int = 50_000, data_dir: Path = Path("data/bench"),
        progress: Callable[[str], None] = lambda _: None) -> BenchResult:
    """Build the world in a fresh warehouse under `data_dir`, time the three runs, report the ratios."""
    folder = data_dir / "check"
    shutil.rmtree(folder, ignore_errors=True)
    path = folder / WAREHOUSE_FILENAME
    watch = Stopwatch()
    progress(f"bench check: building {deals} deals on {accounts} accounts")
    with watch.lap("build"), connect(path) as con:
        build_sample_world(con, accounts=accounts, deals=deals)
    progress("bench check: plain DuckDB SQL")
    with watch.lap("plain_sql"), connect(path) as con:
        plain_unexpected = sum(row[1] for row in con.execute(plain_sql(all_suites())).fetchall())
    progress("bench check: GX full sweep")
    with watch.lap("gx_full"):
        full = run_checks(path, full=True)
    _recapture(path)
    progress(f"bench check: GX incremental after {CHANGED_PERCENT} % of the CRM changed")
    with watch.lap("gx_incremental"):
        incremental = run_checks(path)
    shutil.rmtree(folder, ignore_errors=True)
    ratio = watch.seconds["gx_full"] / watch.seconds["plain_sql"]
    return BenchResult(
        benchmark="check", ratio=round(ratio, 2), target=TARGET_RATIO, higher_is_better=False,
        metrics={
            "deals": deals, "accounts": accounts,
            "expectations": sum(len(s.expectations) for s in all_suites()),
            "build_s": round(watch.seconds["build"], 2),
            "plain_sql_s": round(watch.seconds["plain_sql"], 3),
            "gx_full_s": round(watch.seconds["gx_full"], 3),
            "gx_incremental_s": round(watch.seconds["gx_incremental"], 3),
            "incremental_share_of_full": round(watch.seconds["gx_incremental"] / watch.seconds["gx_full"], 3),
            "incremental_share_target": TARGET_INCREMENTAL_SHARE,
            "rows_full": sum(s.rows_checked for s in full.suites),
            "rows_incremental": sum(s.rows_checked for s in incremental.suites),
            "suites_validated_incremental": sum(s.mode != UNCHANGED for s in incremental.suites),
            "incremental_success": incremental.success,
            "unexpected_rows_gx": sum(o.unexpected_count or 0 for s in full.suites for o in s.outcomes),
            "unexpected_rows_plain_sql": plain_unexpected,
        },
    )


def _recapture(path: Path) -> None:
    """A new snapshot shows a new version of 1 % of every CRM table's rows, as a real one would.

    Attribution then holds one observed change per changed deal in the new snapshot's window (a
    human edit of its amount), so the attribution suite has changed rows too, as after a real build.
    """
    with connect(path) as con:
        # later than every window attribution already covers (the sample's actions run past SNAPSHOT)
        new_snapshot = con.execute(
            f"select greatest(max(window_end), {SNAPSHOT}) + interval 1 day from main.fct_change_attribution"
        ).fetchone()[0]
        for table in CRM_TABLES:
            con.execute(f"update main.{table} set captured_at = ? where hash(rowid) % 100 < {CHANGED_PERCENT}",
                        [new_snapshot])
        con.execute(
            "insert into main.fct_change_attribution by name"
            " select 'oc2_' || deal_id as attribution_id, 'observed_change' as record_type,"
            " 'ch2_' || deal_id as change_id, 'deal' as object_type, deal_id as object_id, 'amount' as field,"
            " captured_at as window_end, owner_id as updated_by, 'human' as cause"
            " from main.dim_crm_deals where captured_at = ?", [new_snapshot]
        )


def plain_sql(suites: tuple[Suite, ...]) -> str:
    """Every expectation as one unexpected-row count, in one query: (suite.expectation, count) rows."""
    parts = [
        f"select '{suite.name}.{(e.meta or {})['name']}' as expectation, ({_unexpected_count(suite, e)}) as unexpected"
        for suite in suites for e in suite.expectations
    ]
    return "\nunion all\n".join(parts)


def _unexpected_count(suite: Suite, e: gxe.Expectation) -> str:
    """The plain-SQL twin of one expectation (the forms `spec` builds)."""
    table, column = suite.table, getattr(e, "column", None)
    if isinstance(e, gxe.UnexpectedRowsExpectation):
        return f"select count(*) from ({e.unexpected_rows_query.replace('{batch}', table)})"
    if isinstance(e, gxe.ExpectColumnValuesToNotBeNull):
        return f"select count(*) from {table} where {column} is null"
    if isinstance(e, gxe.ExpectColumnValuesToBeUnique):
        return (f"select coalesce(sum(n), 0) from (select count(*) as n from {table} where {column} is not null"
                f" group by {column} having count(*) > 1)")
    if isinstance(e, gxe.ExpectColumnValuesToBeInSet):
        values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in e.value_set)
        return f"select count(*) from {table} where {column} is not null and {column} not in ({values})"
    if isinstance(e, gxe.ExpectColumnValuesToBeBetween):
        bounds = [f"{column} < {e.min_value}" if e.min_value is not None else None,
                  f"{column} > {e.max_value}" if e.max_value is not None else None]
        return f"select count(*) from {table} where " + " or ".join(b for b in bounds if b)
    if isinstance(e, gxe.ExpectColumnValuesToBeOfType):
        return (f"select count(*) from information_schema.columns where table_schema = '{suite.schema}'"
                f" and table_name = '{suite.table_name}' and column_name = '{column}' and data_type is null")
    raise ValueError(f"no plain-SQL form for {type(e).__name__}")
