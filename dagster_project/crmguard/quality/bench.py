"""`crmguard bench check`: every suite over a 1M-deal, 50k-account CRM, against the same checks as
plain DuckDB SQL.

Three timings (each the best of three) on one synthetic warehouse (`sample_world`): the GX full sweep, the GX incremental run
after a new snapshot re-captured 1 % of every CRM table (and attribution recorded those deal changes), and every expectation written as one plain
DuckDB query (a UNION ALL of unexpected-row counts). Headline ratio: GX full / plain SQL, lower is
better, target <= 3. The incremental share of the full sweep (target < 0.10) is a metric.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from crmguard.bench.timing import BenchResult, Stopwatch
from crmguard.paths import WAREHOUSE_FILENAME
from crmguard.quality.catalog import all_suites
from crmguard.quality.runner import UNCHANGED, run_checks
from crmguard.quality.sample_world import SNAPSHOT, build_sample_world
from crmguard.quality.screen import counts_sql
from crmguard.quality.spec import Suite
from crmguard.warehouse import connect

TARGET_RATIO = 3.0
TARGET_INCREMENTAL_SHARE = 0.10
CHANGED_PERCENT = 1
REPEAT = 3
CRM_TABLES = ("dim_crm_users", "dim_crm_accounts", "dim_crm_contacts", "dim_crm_deals", "dim_crm_sequence_enrollments",
              "dim_crm_meetings")


def run(deals: int = 1_000_000, accounts: int = 50_000, data_dir: Path = Path("data/bench"),
        progress: Callable[[str], None] = lambda _: None, repeat: int = REPEAT) -> BenchResult:
    """Build the world in a fresh warehouse under `data_dir`, time the three runs, report the ratios.

    Each timing is the best of `repeat` runs (the machines are shared: the best is the least
    disturbed). Every incremental run starts from the same copy of the warehouse, taken after the
    full sweeps and the new snapshot, so each validates the same changed rows.
    """
    folder = data_dir / "check"
    shutil.rmtree(folder, ignore_errors=True)
    path = folder / WAREHOUSE_FILENAME
    pristine = folder / "before_incremental" / WAREHOUSE_FILENAME
    watch = Stopwatch()
    progress(f"bench check: building {deals} deals on {accounts} accounts")
    with watch.lap("build"), connect(path) as con:
        build_sample_world(con, accounts=accounts, deals=deals)
    plain, full, incremental = [], [], []
    for attempt in range(1, repeat + 1):
        progress(f"bench check: plain DuckDB SQL and GX full sweep ({attempt}/{repeat})")
        with watch.lap("plain_sql"), connect(path) as con:
            plain_unexpected = sum(row[1] for row in con.execute(plain_sql(all_suites())).fetchall())
        plain.append(watch.seconds["plain_sql"])
        with watch.lap("gx_full"):
            full_report = run_checks(path, full=True)
        full.append(watch.seconds["gx_full"])
    _recapture(path)
    pristine.parent.mkdir(parents=True)
    shutil.copy(path, pristine)
    for attempt in range(1, repeat + 1):
        progress(f"bench check: GX incremental after {CHANGED_PERCENT} % of the CRM changed ({attempt}/{repeat})")
        shutil.copy(pristine, path)
        with watch.lap("gx_incremental"):
            incremental_report = run_checks(path)
        incremental.append(watch.seconds["gx_incremental"])
    shutil.rmtree(folder, ignore_errors=True)
    best_plain, best_full, best_incremental = min(plain), min(full), min(incremental)
    return BenchResult(
        benchmark="check", ratio=round(best_full / best_plain, 2), target=TARGET_RATIO, higher_is_better=False,
        metrics={
            "deals": deals, "accounts": accounts, "repeat": repeat,
            "expectations": sum(len(s.expectations) for s in all_suites()),
            "build_s": round(watch.seconds["build"], 2),
            "plain_sql_s": round(best_plain, 3),
            "gx_full_s": round(best_full, 3),
            "gx_incremental_s": round(best_incremental, 3),
            "all_runs_s": " ".join(f"{name}={','.join(f'{t:.2f}' for t in times)}" for name, times in
                                   (("plain", plain), ("full", full), ("incremental", incremental))),
            "incremental_share_of_full": round(best_incremental / best_full, 3),
            "incremental_share_target": TARGET_INCREMENTAL_SHARE,
            "rows_full": sum(s.rows_checked for s in full_report.suites),
            "rows_incremental": sum(s.rows_checked for s in incremental_report.suites),
            "suites_validated_incremental": sum(s.mode != UNCHANGED for s in incremental_report.suites),
            "incremental_failed_expectations": sum(1 for s in incremental_report.suites for o in s.outcomes if not o.success),
            "incremental_success": incremental_report.success,
            "unexpected_rows_gx": sum(o.unexpected_count or 0 for s in full_report.suites for o in s.outcomes),
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
    """Every expectation as one unexpected-row count over its whole table, in one query:
    (suite.expectation, count) rows."""
    twins = counts_sql((suite, e, suite.table) for suite in suites for e in suite.expectations)
    return f"select suite || '.' || expectation, unexpected from ({twins})"
