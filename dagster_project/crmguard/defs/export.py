"""Export in Dagster: the audit chain is sealed after every build, and the governance report's key
figures are the report asset's metadata (the same `collect` the CLI page uses, so they agree).

No `from __future__ import annotations` here: Dagster inspects the type hints of the bodies.
"""

from pathlib import Path

import dagster as dg

from crmguard.defs.ingest import full_run_job
from crmguard.export.chain import seal
from crmguard.report.page import write_report
from crmguard.resources import WAREHOUSE_POOL, WarehouseResource
from crmguard.warehouse import publish

AUDIT_MARTS = ["fct_agent_actions", "fct_approvals", "fct_stop_events", "fct_policy_verdicts", "fct_stops"]
REPORT_FILE = "report.html"
DBT_STEP = "crmguard_dbt_assets"  # the dbt build's step in `crmguard_run` (a literal: importing the dbt
# assets here would need the parsed manifest; tests/test_definitions.py checks the job has this step)


@dg.asset(group_name="export", pool=WAREHOUSE_POOL, deps=[dg.AssetKey(name) for name in AUDIT_MARTS],
          description="Hash chain over the audit tables (schema audit), recomputed after each build; then "
                      "the read-only copy readers use while a run writes is published, as `crmguard run` does.")
def audit_chain(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Seal the chain, then publish the read-only copy; metadata: rows, days and head hash per table."""
    with warehouse.connect() as con:
        result = seal(con)
    context.log.info(f"seal {result.seal_id}; skipped: {result.skipped}")
    metadata = {f"{name} rows": t["rows"] for name, t in result.tables.items()}
    metadata.update({f"{name} head": t["head"] for name, t in result.tables.items()})
    copy = publish(warehouse.resolved_path())
    return dg.MaterializeResult(metadata={"seal_id": result.seal_id, **metadata,
                                          "published": dg.MetadataValue.path(str(copy))})


@dg.asset(group_name="export", deps=[audit_chain, dg.AssetKey("fct_policy_violations"),
                                     dg.AssetKey("fct_change_attribution")],
          description="The governance report (self-contained HTML beside the warehouse).")
def governance_report(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Write the report; its key numbers become the asset's metadata."""
    out = Path(warehouse.resolved_path()).parent / REPORT_FILE
    with warehouse.connect(read_only=True) as con:
        result = write_report(con, out)
    figures = {key: value for key, value in result["headline"].items() if value is not None}
    return dg.MaterializeResult(metadata={**figures, "path": dg.MetadataValue.path(str(out)),
                                          "not built yet": ", ".join(result["missing"]) or "none"})


seal_and_publish = dg.define_asset_job(
    "seal_and_publish", selection=dg.AssetSelection.assets(audit_chain, governance_report),
    executor_def=dg.in_process_executor,
    description="Seal the audit chain, publish the read-only copy, write the report (after a run whose checks failed).")


def seal_after(succeeded: set[str], started: set[str], will_retry: bool, failed_checks: int) -> str | None:
    """Why a failed `crmguard_run` needs no seal of its own, or None when it does: its build succeeded,
    a check failed (which holds back every export step of the run: blocking acts on the one check step),
    its seal never started, and no retry will run it."""
    if DBT_STEP not in succeeded:
        return "the build did not succeed: nothing new to seal (as `crmguard run`)"
    if audit_chain.op.name in started:
        return "its seal ran"
    if will_retry:
        return "a retry of the run will seal"
    if not failed_checks:
        return "it failed for another reason than a failed check"
    return None


@dg.run_failure_sensor(monitored_jobs=[full_run_job], request_job=seal_and_publish,
                       default_status=dg.DefaultSensorStatus.RUNNING)
def seal_after_failed_checks(context: dg.RunFailureSensorContext):
    """A critical check that fails holds back the run's audit seal, copy and report (blocking).
    `crmguard run` seals and publishes whenever the build succeeded, failed checks or not: so does
    this, in a run of its own (`seal_after` says when)."""
    run = context.dagster_run
    logs = context.instance.all_logs
    skip = seal_after(
        succeeded={e.step_key for e in logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)},
        started={e.step_key for e in logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)},
        will_retry=run.tags.get("dagster/will_retry") == "true",
        failed_checks=sum(not e.dagster_event.event_specific_data.passed
                          for e in logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)),
    )
    if skip:
        return dg.SkipReason(f"run {run.run_id}: {skip}")
    return dg.RunRequest(run_key=f"seal-after:{run.run_id}", tags={"crmguard/after_run": run.run_id})


defs = dg.Definitions(assets=[audit_chain, governance_report], jobs=[seal_and_publish],
                      sensors=[seal_after_failed_checks])
