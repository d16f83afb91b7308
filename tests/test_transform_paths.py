"""dbt runs in the project folder: a warehouse given by a relative path must still be the user's file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crmguard.paths import DBT_PROJECT_DIR
from crmguard.transform import run_dbt


def test_relative_warehouse_path_names_the_callers_file(built_world, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rel").mkdir()
    shutil.copy(built_world.warehouse, tmp_path / "rel" / "warehouse.duckdb")
    monkeypatch.chdir(tmp_path)
    result = run_dbt("run", Path("rel/warehouse.duckdb"), ["--select", "stg_raw__crm_snapshots"])
    assert result.success, result.failures
    assert (tmp_path / "rel" / "dbt_target" / "run_results.json").exists()
    assert not (DBT_PROJECT_DIR / "rel").exists()
