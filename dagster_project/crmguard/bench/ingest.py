"""`crmguard bench ingest`: exactly-once ingest against a bare DuckDB read_json of the same file.

Headline ratio: ingest events/s divided by read_json events/s, measured in the same run on the same
file (target >= 0.5: validation, rejects, dedupe and the ledger may cost at most as much again as the
raw engine). Also: re-ingesting the same file (skipped by its SHA-256) as a share of the first load
(target < 10 %), and a redelivery (same events, different bytes: every event a duplicate found by
the anti-join).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb

from crmguard.bench.events import write_events
from crmguard.bench.timing import BenchResult, Stopwatch
from crmguard.ingest import ingest_paths
from crmguard.paths import WAREHOUSE_FILENAME

RATIO_TARGET = 0.5
REINGEST_TARGET = 0.10
DEFAULT_DATA_DIR = Path("data") / "bench"


def run(events: int = 1_000_000, data_dir: Path = DEFAULT_DATA_DIR,
        progress: Callable[[str], None] | None = None) -> BenchResult:
    """Generate (or reuse) the event file under `data_dir`, then time the baseline and the ingest."""
    say = progress or (lambda _: None)
    log = data_dir / f"events-{events}.jsonl"
    if not log.exists():
        say(f"writing {events} events to {log}")
        write_events(log, events)
    watch = Stopwatch()
    with tempfile.TemporaryDirectory(dir=data_dir, prefix="run-") as tmp:
        say("baseline: DuckDB read_json into a table")
        with watch.lap("read_json"):
            _bare_read_json(log, Path(tmp) / "baseline.duckdb")
        warehouse = Path(tmp) / WAREHOUSE_FILENAME
        say("crmguard ingest into an empty warehouse")
        with watch.lap("ingest"):
            first = ingest_paths(warehouse, [log])
        with watch.lap("reingest"):
            again = ingest_paths(warehouse, [log])
        redelivered = _redelivery(log, Path(tmp))
        say("redelivery: the same events under other bytes")
        with watch.lap("redelivery"):
            dup = ingest_paths(warehouse, [redelivered])
    return _result(events, log.stat().st_size, watch.seconds, first.to_json(), again.to_json(), dup.to_json())


def _bare_read_json(log: Path, database: Path) -> None:
    con = duckdb.connect(str(database))
    try:
        con.execute("CREATE TABLE events AS SELECT * FROM read_json(?, format = 'newline_delimited')", [str(log)])
    finally:
        con.close()


def _redelivery(log: Path, folder: Path) -> Path:
    """A copy of the log plus one new event: new SHA-256, so every old event goes through the anti-join."""
    copy = folder / "redelivery.jsonl"
    shutil.copyfile(log, copy)
    extra = folder / "one.jsonl"
    write_events(extra, 1)
    with copy.open("ab") as handle:
        handle.write(extra.read_bytes().replace(b"evt-0000000000", b"evt-redelivery"))
    return copy


def _result(events: int, size: int, seconds: dict[str, float], first: dict, again: dict, dup: dict) -> BenchResult:
    ingest_rate = events / seconds["ingest"]
    baseline_rate = events / seconds["read_json"]
    share = seconds["reingest"] / seconds["ingest"]
    return BenchResult(
        benchmark="ingest",
        ratio=round(ingest_rate / baseline_rate, 3),
        target=RATIO_TARGET,
        metrics={
            "events": events,
            "file_mb": round(size / 1e6, 1),
            "read_json_seconds": round(seconds["read_json"], 3),
            "read_json_events_per_s": round(baseline_rate),
            "ingest_seconds": round(seconds["ingest"], 3),
            "ingest_events_per_s": round(ingest_rate),
            "ingest_loaded": first["loaded"],
            "reingest_seconds": round(seconds["reingest"], 3),
            "reingest_share": round(share, 4),
            "reingest_share_target": REINGEST_TARGET,
            "reingest_skipped_files": again["skipped_files"],
            "redelivery_seconds": round(seconds["redelivery"], 3),
            "redelivery_duplicates": dup["duplicates"],
            "redelivery_loaded": dup["loaded"],
        },
    )
