"""`crmguard bench build`: a full dbt build against an incremental one after one more day of data.

The world is a real generated one (--accounts, --days + 1 days, no incidents: their extra snapshots
would blur "one daily snapshot per day"), kept under --data-dir and reused.
Every day but the last is ingested and built from scratch (the full build), then the last day's action
file and snapshots are ingested and built again (the incremental build): ratio = incremental / full,
lower is better, target < 0.15 (a daily run costs in proportion to the new data, not the history).
A third build with nothing new measures the floor every build pays whatever the data (dbt's start, one
node per model, test and snapshot, the raw-layer check): reported beside the ratio as the new day's cost
above that floor (`ratio_above_floor`), so a reader can tell fixed cost from cost that grows with data.
It also times "state of every deal as of T" read through the SCD2 history against a bare DuckDB
query over the raw snapshot files (the latest deals export at or before T).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from crmguard import transform
from crmguard.bench.timing import BenchResult, Stopwatch
from crmguard.generate import GenerateConfig, generate_world
from crmguard.ingest.run import ingest_paths
from crmguard.paths import WAREHOUSE_FILENAME
from crmguard.warehouse import connect

RATIO_TARGET = 0.15
DEFAULT_DATA_DIR = Path("data") / "bench"

AS_OF_WAREHOUSE = """
select count(*) from main.scd_crm_deals
where valid_from <= cast(? as timestamp) and (valid_to is null or valid_to > cast(? as timestamp)) and not is_deleted
"""
AS_OF_FILES = """
select count(*) from read_csv(?, all_varchar = true, filename = true)
where filename = (
    select max(filename) from read_csv(?, all_varchar = true, filename = true)
    where regexp_extract(filename, '(\\d{8}T\\d{6}Z)', 1) <= ?
)
"""


def _world(data_dir: Path, accounts: int, days: int, progress: Callable[[str], None]) -> Path:
    """Generate the world once per (accounts, days) and reuse it."""
    root = data_dir / f"build-world-{accounts}a-{days + 1}d"
    if not (root / "ground_truth.jsonl").exists():
        progress(f"generating {accounts} accounts over {days + 1} days into {root}")
        generate_world(GenerateConfig(out=root, seed=7, accounts=accounts, days=days + 1, incidents=()), progress)
    return root


def split_last_day(root: Path) -> tuple[list[Path], list[Path]]:
    """(history, last day): the last action file and every snapshot taken from that day on."""
    action_files = sorted(p for p in (root / "actions").iterdir() if p.is_file())
    last_day = action_files[-1].name[:10].replace("-", "")
    snapshots = sorted(p for p in (root / "crm").iterdir() if p.is_dir())
    history = action_files[:-1] + [s for s in snapshots if s.name[:8] < last_day]
    return history, [action_files[-1]] + [s for s in snapshots if s.name[:8] >= last_day]


def _as_of_times(warehouse: Path, root: Path, stamp: str) -> tuple[float, float, int, int]:
    """Seconds (and row counts) for the deals as of `stamp` through scd_crm_deals and over raw files."""
    watch = Stopwatch()
    at = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}"
    pattern = str(root / "crm" / "*" / "deals.*")
    with connect(warehouse, read_only=True) as con:
        with watch.lap("warehouse"):
            (via_history,) = con.execute(AS_OF_WAREHOUSE, [at, at]).fetchone()
        with watch.lap("files"):
            (via_files,) = con.execute(AS_OF_FILES, [pattern, pattern, stamp]).fetchone()
    return watch.seconds["warehouse"], watch.seconds["files"], via_history, via_files


def run(accounts: int = 50_000, days: int = 30, data_dir: Path = DEFAULT_DATA_DIR,
        progress: Callable[[str], None] = lambda _: None) -> BenchResult:
    """Full build of `days` days, incremental build of one more, and the as-of query against raw files."""
    root = _world(data_dir, accounts, days, progress)
    history, last_day = split_last_day(root)
    warehouse = data_dir / "build-warehouse" / WAREHOUSE_FILENAME
    shutil.rmtree(warehouse.parent, ignore_errors=True)
    watch = Stopwatch()
    progress(f"ingesting {len(history)} inputs of the history")
    ingested = ingest_paths(warehouse, history)
    with watch.lap("full"):
        full = transform.build(warehouse, on_line=None)
    progress(f"full build: {watch.seconds['full']:.1f}s; ingesting the last day")
    ingest_paths(warehouse, last_day)
    with watch.lap("incremental"):
        incremental = transform.build(warehouse, on_line=None)
    progress(f"incremental build: {watch.seconds['incremental']:.1f}s; building again with nothing new")
    with watch.lap("noop"):
        noop = transform.build(warehouse, on_line=None)
    stamps = sorted(p.name for p in (root / "crm").iterdir() if p.is_dir())
    stamp = stamps[len(stamps) // 2]
    history_s, files_s, history_rows, file_rows = _as_of_times(warehouse, root, stamp)
    with connect(warehouse, read_only=True) as con:
        (events,) = con.execute("select count(*) from raw.agent_events").fetchone()
        (snapshots,) = con.execute("select count(*) from raw.crm_snapshots").fetchone()
    ratio = watch.seconds["incremental"] / watch.seconds["full"]
    return BenchResult(
        benchmark="build", ratio=round(ratio, 3), target=RATIO_TARGET, higher_is_better=False,
        metrics={
            "events": events, "snapshots": snapshots, "accounts": accounts,
            "history_rows_loaded": ingested.to_json()["loaded"],
            "full_build_s": round(watch.seconds["full"], 2),
            "full_build_dbt_s": round(full.elapsed_seconds, 2),
            "incremental_build_s": round(watch.seconds["incremental"], 2),
            "incremental_build_dbt_s": round(incremental.elapsed_seconds, 2),
            "noop_build_s": round(watch.seconds["noop"], 2),
            "noop_build_dbt_s": round(noop.elapsed_seconds, 2),
            "ratio_above_floor": round(max(watch.seconds["incremental"] - watch.seconds["noop"], 0.0)
                                       / watch.seconds["full"], 3),
            "builds_succeeded": int(full.success and incremental.success and noop.success),
            "deals_as_of_T": history_rows, "deals_as_of_T_raw_files": file_rows,
            "as_of_T_warehouse_s": round(history_s, 4), "as_of_T_raw_files_s": round(files_s, 4),
            "as_of_T": stamp,
        },
    )
