"""Ingest across processes: a SIGKILL mid-load leaves nothing partial; stored times do not depend on TZ."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from crmguard.bench.events import write_events
from crmguard.ingest import ingest_paths
from crmguard.warehouse import connect

INGEST_SCRIPT = """
import sys
from crmguard.ingest import ingest_paths
ingest_paths(sys.argv[1], [sys.argv[2]], progress=lambda m: print(m, flush=True))
"""


def test_sigkill_mid_ingest_leaves_no_partial_file_and_next_run_loads_it_whole(tmp_path: Path) -> None:
    events = 50_000
    log = write_events(tmp_path / "big.jsonl", events)
    warehouse = tmp_path / "warehouse.duckdb"
    child = subprocess.Popen([sys.executable, "-c", INGEST_SCRIPT, str(warehouse), str(log)],
                             stdout=subprocess.PIPE, text=True)
    for line in child.stdout:
        if "writing" in line:  # parsed; the load transaction is starting
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    with connect(warehouse) as con:  # the database reopens after the crash
        stored = con.execute("select count(*) from raw.agent_events").fetchone()[0]
        ledger = con.execute("select count(*) from raw.load_ledger").fetchone()[0]
    assert (stored, ledger) in {(0, 0), (events, 1)}, "a killed load must leave all of the file or none of it"
    result = ingest_paths(warehouse, [log]).to_json()
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select count(*), count(distinct event_id) from raw.agent_events").fetchone() == (
            events, events)
        assert con.execute("select status, lines, loaded from raw.load_ledger").fetchall() == [
            ("loaded", events, events)]
    assert result["loaded"] + result["skipped_files"] * events == events


TZ_SCRIPT = """
import json, sys
from crmguard.ingest import ingest_paths
from crmguard.warehouse import connect
ingest_paths(sys.argv[1], [sys.argv[2]])
with connect(sys.argv[1], read_only=True) as con:
    rows = con.execute("select event_id, strftime(occurred_at, '%Y-%m-%d %H:%M:%S'), epoch(occurred_at) "
                       "from raw.agent_events order by event_id").fetchall()
print(json.dumps(rows))
"""


def test_stored_times_are_identical_under_any_tz(tmp_path: Path) -> None:
    log = tmp_path / "tz.jsonl"
    log.write_text("".join(json.dumps({
        "schema_version": "1", "event_id": f"e{i}", "event_type": "run_started", "occurred_at": stamp,
        "agent_id": "a", "agent_version": "1", "run_id": "r", "step": 0, "environment": "sandbox",
        "actor": {"type": "agent", "id": "u", "role": "sdr_agent", "on_behalf_of": None},
    }) + "\n" for i, stamp in enumerate(["2026-03-29T01:30:00+01:00", "2026-01-05T23:59:59-08:00",
                                          "2026-01-05T05:30:00Z"])))
    outputs = {}
    for tz in ("UTC", "Asia/Kolkata", "America/New_York"):
        done = subprocess.run([sys.executable, "-c", TZ_SCRIPT, str(tmp_path / tz.replace("/", "_") / "w.duckdb"),
                               str(log)], env={**os.environ, "TZ": tz}, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs[tz] = json.loads(done.stdout)
    assert outputs["UTC"] == outputs["Asia/Kolkata"] == outputs["America/New_York"]
    assert [r[1] for r in outputs["UTC"]] == ["2026-03-29 00:30:00", "2026-01-06 07:59:59", "2026-01-05 05:30:00"]
