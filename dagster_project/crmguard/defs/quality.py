"""The integrity suites as Dagster asset checks on the assets they guard, plus the hourly check job.

One blocking check per suite (`gx_<suite>`): a failed critical expectation fails the check with
severity ERROR, which fails the check step and so holds back every step after it in the same run
(the export assets; crmguard.defs.export's sensor seals after such a run); warnings fail it with WARN.
All the selected suites run in one step, through one call of the same `run_checks` as `crmguard
check`, so the CLI and the UI can never disagree: one check run records every suite's watermark
together, and the next incremental run re-checks only what changed since. (One step per suite made one
check run per suite: a suite's `also_recheck` bounds, the other suites' watermarks of its last run,
were then never recorded, and every hourly run re-checked those rows again.)
"""

from collections.abc import Iterator

import dagster as dg

from crmguard.quality.catalog import all_suites
from crmguard.quality.runner import SuiteRun, run_checks
from crmguard.resources import WAREHOUSE_POOL, WarehouseResource


class CheckConfig(dg.Config):
    """Launchpad option: sweep every row instead of the rows changed since the last successful run."""

    full: bool = False


def check_result(run: SuiteRun) -> dg.AssetCheckResult:
    """A suite run as the Dagster result of its check: ERROR on a critical failure, WARN on warnings only."""
    critical = any(o.severity == "critical" for o in run.failed)
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(list(SUITES[run.name].asset_key)),
        check_name=f"gx_{run.name}",
        passed=not run.failed,
        severity=dg.AssetCheckSeverity.ERROR if critical else dg.AssetCheckSeverity.WARN,
        metadata={
            "mode": run.mode,
            "rows_checked": run.rows_checked,
            "expectations": len(run.outcomes),
            "failed": dg.MetadataValue.json([o.failure_json() for o in run.failed]),
        },
    )


SUITES = {suite.name: suite for suite in all_suites()}
CHECK_SPECS = [
    dg.AssetCheckSpec(name=f"gx_{suite.name}", asset=dg.AssetKey(list(suite.asset_key)), blocking=True,
                      description=suite.description)
    for suite in SUITES.values()
]


@dg.multi_asset_check(specs=CHECK_SPECS, can_subset=True, name="integrity_suites", pool=WAREHOUSE_POOL,
                      description="The integrity suites (expectations/), incrementally unless `full`.")
def integrity_suites(context: dg.AssetCheckExecutionContext, config: CheckConfig,
                     warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
    """Run the selected suites in one check run and report each on the asset it guards."""
    selected = {key.name.removeprefix("gx_") for key in context.selected_asset_check_keys}
    names = [name for name in SUITES if name in selected]
    for run in run_checks(warehouse.resolved_path(), names, full=config.full).suites:
        yield check_result(run)


integrity_checks = [integrity_suites]

integrity_check_job = dg.define_asset_job(
    "integrity_checks",
    selection=dg.AssetSelection.checks(*integrity_checks),
    description="Every integrity suite, incrementally (what changed since the last successful run).",
    executor_def=dg.in_process_executor,
)

hourly_integrity_checks = dg.ScheduleDefinition(
    name="hourly_integrity_checks",
    job=integrity_check_job,
    cron_schedule="30 * * * *",  # between the pipeline runs at minute 0 (crmguard_run), never beside one
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(asset_checks=integrity_checks, jobs=[integrity_check_job], schedules=[hourly_integrity_checks])
