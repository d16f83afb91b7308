"""The Dagster side: one blocking check per suite on the asset it guards, an hourly job of them all."""

from pathlib import Path

import dagster as dg
import pytest

from crmguard.defs.quality import CheckConfig, defs, hourly_integrity_checks, integrity_checks
from crmguard.quality.catalog import all_suites
from crmguard.quality.sample_world import build_sample_world
from crmguard.resources import WarehouseResource
from crmguard.warehouse import connect


@pytest.fixture()
def broken_world(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        build_sample_world(con)
        con.execute("update dim_crm_deals set amount = -1 where deal_id = 'd1'")
    return path


def _check(name: str) -> dg.AssetChecksDefinition:
    return next(c for c in integrity_checks if any(k.name == name for k in c.check_keys))


def test_one_blocking_check_per_suite_on_its_asset() -> None:
    keys = {k.name: k.asset_key for c in integrity_checks for k in c.check_keys}
    assert keys == {f"gx_{s.name}": dg.AssetKey(list(s.asset_key)) for s in all_suites()}
    assert keys["gx_deals"] == dg.AssetKey("dim_crm_deals")
    assert all(spec.blocking for c in integrity_checks for spec in c.check_specs)
    assert hourly_integrity_checks.cron_schedule == "30 * * * *"


def test_check_reports_a_critical_failure_as_error(broken_world: Path) -> None:
    result = _check("gx_deals")(config=CheckConfig(full=True), warehouse=WarehouseResource(path=str(broken_world)))
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.ERROR
    assert [f["expectation"] for f in result.metadata["failed"].value] == ["amount_not_negative"]


def test_hourly_job_runs_every_suite_and_fails_on_the_broken_one(broken_world: Path) -> None:
    guarded = [dg.AssetSpec(key) for key in {k.asset_key for c in integrity_checks for k in c.check_keys}]
    merged = dg.Definitions.merge(defs, dg.Definitions(
        assets=guarded, resources={"warehouse": WarehouseResource(path=str(broken_world))}))
    result = merged.resolve_job_def("integrity_checks").execute_in_process(raise_on_error=False)
    verdicts = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert not result.success
    assert verdicts.pop("gx_deals") is False
    assert set(verdicts.values()) == {True} and len(verdicts) == len(all_suites()) - 1
