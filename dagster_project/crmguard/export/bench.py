"""`crmguard bench export`: 1M actions to Parquet and to OCSF, then verify, against a bare DuckDB COPY.

Headline ratio: the Parquet export's wall time (pseudonymization, per-file SHA-256, manifest and
signature included) divided by a bare `COPY ... TO (FORMAT parquet)` of the same tables and window in
the same run; lower is better, target <= 2. Also printed: seal (chain) time, OCSF export, export
verify and audit verify, each with rows/s.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path

from crmguard.bench.timing import BenchResult, Stopwatch
from crmguard.export.chain import seal
from crmguard.export.exporter import ExportRequest, export_audit
from crmguard.export.keys import PUBLIC_KEY
from crmguard.export.registry import present_tables
from crmguard.export.synthetic import build_audit_tables
from crmguard.export.tamper import verify
from crmguard.export.verify import verify_exports
from crmguard.paths import WAREHOUSE_FILENAME
from crmguard.warehouse import connect, quote_ident

RATIO_TARGET = 2.0
DAYS = 10
DEFAULT_DATA_DIR = Path("data") / "bench"


def run(actions: int = 1_000_000, data_dir: Path = DEFAULT_DATA_DIR,
        progress: Callable[[str], None] | None = None) -> BenchResult:
    """Build the synthetic audit tables in a temporary warehouse under data_dir and time every step."""
    say = progress or (lambda _: None)
    data_dir.mkdir(parents=True, exist_ok=True)
    watch = Stopwatch()
    start, end = dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1) + dt.timedelta(days=DAYS)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix="export-") as tmp:
        base = Path(tmp)
        warehouse = base / WAREHOUSE_FILENAME
        say(f"building {actions} synthetic actions")
        with connect(warehouse) as con:
            con.execute("SET enable_progress_bar = false")
            build_audit_tables(con, actions, DAYS)
            with watch.lap("seal"):
                seal(con)
        with connect(warehouse, read_only=True) as con:
            con.execute("SET enable_progress_bar = false")
            say("baseline: bare DuckDB COPY to Parquet")
            with watch.lap("bare_copy"):
                rows = _bare_copy(con, base / "bare", start, end)
            say("export --format parquet")
            with watch.lap("export_parquet"):
                export_audit(con, ExportRequest(start, end, "parquet", base / "parquet", base / "keys"))
            say("export --format ocsf")
            with watch.lap("export_ocsf"):
                ocsf = export_audit(con, ExportRequest(start, end, "ocsf", base / "ocsf", base / "keys"))
            say("audit verify")
            with watch.lap("audit_verify"):
                verify(con)
        say("export verify")
        with watch.lap("export_verify"):
            verify_exports([base / "parquet", base / "ocsf"], base / "keys" / PUBLIC_KEY)
    events = ocsf["manifest"]["files"][0]["rows"]
    return _result(actions, rows, events, watch.seconds)


def _bare_copy(con, out: Path, start: dt.datetime, end: dt.datetime) -> int:
    """COPY every present audit table's window, nothing else: the raw engine's cost for the same rows."""
    out.mkdir()
    tables, _ = present_tables(con)
    rows = 0
    for table, _columns in tables:
        column = quote_ident(table.time_column)
        rows += con.execute(
            f"COPY (select * from {table.relation} where {column} >= ? and {column} < ?) "
            f"TO '{out / (table.name + '.parquet')}' (FORMAT parquet, COMPRESSION zstd)", [start, end]
        ).fetchone()[0]
    return rows


def _result(actions: int, rows: int, events: int, seconds: dict[str, float]) -> BenchResult:
    def per_second(count: int, lap: str) -> int:
        return int(count / seconds[lap]) if seconds[lap] else 0

    metrics: dict[str, float | int | str] = {f"{name}_s": round(value, 3) for name, value in seconds.items()}
    metrics.update({
        "actions": actions, "rows_exported": rows, "ocsf_events": events,
        "export_parquet_rows_per_s": per_second(rows, "export_parquet"),
        "bare_copy_rows_per_s": per_second(rows, "bare_copy"),
        "export_ocsf_events_per_s": per_second(events, "export_ocsf"),
        "seal_rows_per_s": per_second(rows, "seal"),
        "audit_verify_rows_per_s": per_second(rows, "audit_verify"),
    })
    ratio = round(seconds["export_parquet"] / seconds["bare_copy"], 2) if seconds["bare_copy"] else 0.0
    return BenchResult("export", ratio, RATIO_TARGET, higher_is_better=False, metrics=metrics)
