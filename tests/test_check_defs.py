"""The Dagster side: one blocking check per suite on the asset it guards, an hourly job of them all."""

from pathlib import Path

import dagster as dg
import pytest

from crmguard.defs.quality import defs, hourly_integrity_checks, integrity_checks
from crmguard.quality.catalog import all_suites
from crmguard.quality.sample_world import build_sample_world
from crmguard.resources import WarehouseResource
from crmguard.warehouse import connect


def _world(folder: Path, broken: bool) -> Path:
    path = folder / "warehouse.duckdb"
    with connect(path) as con:
        build_sample_world(con)
        if broken:
            con.execute("update dim_crm_deals set amount = -1 where deal_id = 'd1'")
    return path


@pytest.fixture()
def broken_world(tmp_path: Path) -> Path:
    return _world(tmp_path, broken=True)


def _run(warehouse: Path, checks: list[str] | None = None, full: bool = False) -> dg.ExecuteInProcessResult:
    """The check job (or the named checks alone) on `warehouse`, with the guarded assets declared."""
    guarded = [dg.AssetSpec(key) for key in {k.asset_key for c in integrity_checks for k in c.check_keys}]
    merged = dg.Definitions.merge(defs, dg.Definitions(
        assets=guarded, resources={"warehouse": WarehouseResource(path=str(warehouse))}))
    job = merged.resolve_job_def("integrity_checks")
    config = {"ops": {"integrity_suites": {"config": {"full": full}}}}
    if checks is None:
        return job.execute_in_process(run_config=config, raise_on_error=False)
    keys = [k for c in integrity_checks for k in c.check_keys if k.name in checks]
    subset = dg.define_asset_job("subset", selection=dg.AssetSelection.checks(*keys))
    merged = dg.Definitions.merge(merged, dg.Definitions(jobs=[subset]))
    return merged.resolve_job_def("subset").execute_in_process(run_config=config, raise_on_error=False)


def test_one_blocking_check_per_suite_on_its_asset() -> None:
    keys = {k.name: k.asset_key for c in integrity_checks for k in c.check_keys}
    assert keys == {f"gx_{s.name}": dg.AssetKey(list(s.asset_key)) for s in all_suites()}
    assert keys["gx_deals"] == dg.AssetKey("dim_crm_deals")
    assert all(spec.blocking for c in integrity_checks for spec in c.check_specs)
    assert hourly_integrity_checks.cron_schedule == "30 * * * *"


def test_check_reports_a_critical_failure_as_error(broken_world: Path) -> None:
    result = _run(broken_world, ["gx_deals"], full=True)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "gx_deals" and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert [f["expectation"] for f in evaluation.metadata["failed"].value] == ["amount_not_negative"]


def test_hourly_job_runs_every_suite_and_fails_on_the_broken_one(broken_world: Path) -> None:
    result = _run(broken_world)
    verdicts = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert not result.success
    assert verdicts.pop("gx_deals") is False
    assert set(verdicts.values()) == {True} and len(verdicts) == len(all_suites()) - 1


def test_the_next_hourly_run_rechecks_nothing_unchanged(tmp_path: Path) -> None:
    """One check run for all the suites, as `crmguard check`: every suite's watermark and the others'
    it was bounded by are recorded together, so a second run with no new rows checks no row."""
    warehouse = _world(tmp_path, broken=False)
    assert _run(warehouse).success
    again = _run(warehouse)
    assert again.success
    modes = {e.check_name: (e.metadata["mode"].value, e.metadata["rows_checked"].value)
             for e in again.get_asset_check_evaluations()}
    assert len(modes) == len(all_suites())
    assert modes == {name: ("unchanged", 0) for name in modes}
