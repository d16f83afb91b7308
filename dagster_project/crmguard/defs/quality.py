"""The integrity suites as Dagster asset checks on the assets they guard, plus the hourly check job.

One blocking check per suite (`gx_<suite>`): a failed critical expectation fails the check with
severity ERROR, which stops downstream assets in the same run; warnings only fail it with WARN. The
bodies call the same `run_checks` as `crmguard check`, so the CLI and the UI can never disagree.
"""

import dagster as dg

from crmguard.quality.catalog import all_suites
from crmguard.quality.runner import SuiteRun, run_checks
from crmguard.quality.spec import Suite
from crmguard.resources import WarehouseResource

# Checks write their results to the warehouse: they queue behind the other writers (dbt, ingest).
WAREHOUSE_POOL = "warehouse_writer"


class CheckConfig(dg.Config):
    """Launchpad option: sweep every row instead of the rows changed since the last successful run."""

    full: bool = False


def check_result(run: SuiteRun) -> dg.AssetCheckResult:
    """A suite run as a Dagster check result: ERROR on a critical failure, WARN on warnings only."""
    critical = any(o.severity == "critical" for o in run.failed)
    return dg.AssetCheckResult(
        passed=not run.failed,
        severity=dg.AssetCheckSeverity.ERROR if critical else dg.AssetCheckSeverity.WARN,
        metadata={
            "mode": run.mode,
            "rows_checked": run.rows_checked,
            "expectations": len(run.outcomes),
            "failed": dg.MetadataValue.json([o.failure_json() for o in run.failed]),
        },
    )


def suite_check(suite: Suite) -> dg.AssetChecksDefinition:
    """The blocking asset check that runs one suite against the asset it guards."""

    @dg.asset_check(asset=dg.AssetKey(list(suite.asset_key)), name=f"gx_{suite.name}", blocking=True,
                    description=suite.description, pool=WAREHOUSE_POOL)
    def _check(config: CheckConfig, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return check_result(run_checks(warehouse.resolved_path(), [suite.name], full=config.full).suites[0])

    return _check


integrity_checks = [suite_check(suite) for suite in all_suites()]

integrity_check_job = dg.define_asset_job(
    "integrity_checks",
    selection=dg.AssetSelection.checks(*integrity_checks),
    description="Every integrity suite, incrementally (what changed since the last successful run).",
)

hourly_integrity_checks = dg.ScheduleDefinition(
    name="hourly_integrity_checks",
    job=integrity_check_job,
    cron_schedule="30 * * * *",  # between the pipeline runs at minute 0 (crmguard_run), never beside one
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(asset_checks=integrity_checks, jobs=[integrity_check_job], schedules=[hourly_integrity_checks])
