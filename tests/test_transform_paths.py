"""dbt runs in the warehouse's folder: a warehouse given by a relative path must still be the user's
file, and a new warehouse starts from the checkout's latest dbt parse instead of parsing it all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crmguard import transform
from crmguard.paths import DBT_PROJECT_DIR
from crmguard.transform import run_dbt, target_dir


def test_relative_warehouse_path_names_the_callers_file(built_world, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rel").mkdir()
    shutil.copy(built_world.warehouse, tmp_path / "rel" / "warehouse.duckdb")
    monkeypatch.chdir(tmp_path)
    result = run_dbt("run", Path("rel/warehouse.duckdb"), ["--select", "stg_raw__crm_snapshots"])
    assert result.success, result.failures
    assert (tmp_path / "rel" / "dbt_target" / "run_results.json").exists()
    assert not (DBT_PROJECT_DIR / "rel").exists()


def test_a_new_warehouse_reuses_the_latest_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second new warehouse's dbt finds a parse to start from and accepts it: same profile for
    every warehouse (CRMGUARD_WAREHOUSE_DIR is `.` in the warehouse's folder), same project files.
    The seed is this test's own, so the other worker's builds cannot replace it in between."""
    monkeypatch.setattr(transform, "PARSE_SEED", tmp_path / "seed" / "partial_parse.msgpack")
    first, second = tmp_path / "a" / "warehouse.duckdb", tmp_path / "b" / "warehouse.duckdb"
    for warehouse in (first, second):
        warehouse.parent.mkdir()
    assert run_dbt("compile", first, ["--select", "stg_raw__crm_snapshots"]).success
    assert transform.PARSE_SEED.exists()
    assert run_dbt("compile", second, ["--select", "stg_raw__crm_snapshots"]).success
    log = (target_dir(second) / "logs" / "dbt.log").read_text()
    assert "saved manifest not found" not in log and "Unable to do partial parsing" not in log, log[-3000:]
    assert "Partial parsing enabled" in log or "skipping partial parsing" in log
