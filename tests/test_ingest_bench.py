"""`crmguard bench ingest` on a small log: the contract's JSON shape and counts that prove it measured
what it says (figures are printed, never asserted: the machine is shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmguard.cli import main


def test_bench_ingest_json_shape_and_counts(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.argv", ["crmguard", "bench", "ingest", "--events", "3000", "--data-dir",
                                     str(tmp_path), "--json"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out) == ["benchmark", "metrics", "ratio", "target"]
    assert out["benchmark"] == "ingest" and out["target"] == 0.5 and out["ratio"] > 0
    metrics = out["metrics"]
    assert (metrics["ingest_loaded"], metrics["reingest_skipped_files"]) == (3000, 1)
    assert (metrics["redelivery_duplicates"], metrics["redelivery_loaded"]) == (3000, 1)
    assert (tmp_path / "events-3000.jsonl").exists()  # reused by the next run
    assert [p.name for p in tmp_path.iterdir()] == ["events-3000.jsonl"]  # the warehouses were temporary
