"""The `crmguard bench build` code path on a small world (figures are printed, never asserted)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import CRMGUARD
from crmguard.transform.bench import split_last_day


def test_bench_build_small(tmp_path: Path) -> None:
    proc = subprocess.run([CRMGUARD, "bench", "build", "--accounts", "300", "--days", "5", "--data-dir", str(tmp_path),
                           "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["benchmark"] == "build" and result["target"] == 0.15
    metrics = result["metrics"]
    assert metrics["builds_succeeded"] == 1
    assert metrics["deals_as_of_T"] == metrics["deals_as_of_T_raw_files"] > 0  # both readings agree
    assert metrics["snapshots"] >= 6
    # the rebuild with nothing new is the floor; the new day's cost above it is part of the full build's
    assert metrics["noop_build_s"] > 0 and 0 <= metrics["ratio_above_floor"] <= result["ratio"]

    history, last_day = split_last_day(next(tmp_path.glob("build-world-*")))
    assert last_day[0].parent.name == "actions" and all(p not in history for p in last_day)
