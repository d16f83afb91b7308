"""Restore in Dagster: the `restore_crm_state` job (run config: the plan id) and a sensor that
PROPOSES a plan (never applies one) when a run breaks a critical stop rule.

No `from __future__ import annotations` here: Dagster inspects the type hints of the bodies.
Bodies are one or two calls into crmguard.restore, which the CLI calls too.
"""

from pathlib import Path

import dagster as dg

from crmguard.crm.adapters import target_adapter
from crmguard.errors import BadInput, CheckFailed, WarehouseLocked
from crmguard.resources import WAREHOUSE_POOL, WarehouseResource
from crmguard.restore.flow import (
    apply_with_audit,
    check_batch_size,
    propose_plan,
    raise_if_items_failed,
    runs_breaking_critical_stops,
)
from crmguard.restore.verify import verify_plan


class RestoreConfig(dg.Config):
    """Launchpad: which approved plan to apply, and where."""

    plan_id: str
    target: str = "local"
    crm_url: str | None = None
    rate: float | None = None
    batch_size: int = 100


class ProposeConfig(dg.Config):
    run_id: str


@dg.op(pool=WAREHOUSE_POOL)
def apply_restore_plan(context: dg.OpExecutionContext, config: RestoreConfig, warehouse: WarehouseResource) -> dict:
    """Apply the approved plan (refused when unapproved, expired or altered) and audit its writes.

    Its output hands the plan and target on to `verify_restore_plan`, so the launchpad asks for them once."""
    check_batch_size(config.batch_size)
    adapter = target_adapter(config.target, crm_url=config.crm_url, rate=config.rate)
    with warehouse.connect() as con:
        result = apply_with_audit(con, config.plan_id, adapter, Path(warehouse.resolved_path()).parent / "restore_audit",
                                  batch_size=config.batch_size)
    context.add_output_metadata({"outcomes": result["outcomes"], "written_now": result["written_now"]})
    raise_if_items_failed(result)  # as `crmguard restore apply`: rerun the job to complete the plan
    return {"plan_id": config.plan_id, "target": config.target, "crm_url": config.crm_url, "rate": config.rate}


@dg.op(pool=WAREHOUSE_POOL)
def verify_restore_plan(context: dg.OpExecutionContext, warehouse: WarehouseResource, applied: dict) -> None:
    """Read every item back and store the receipt; the step fails unless the plan is verified.

    A file target has nothing to read back until someone imports the files: the step says so and
    passes (verify against the CRM after the import: `crmguard restore verify PLAN --target ...`)."""
    adapter = target_adapter(applied["target"], crm_url=applied["crm_url"], rate=applied["rate"])
    if not adapter.reads_live:
        context.add_output_metadata({"status": "exported, not verified",
                                     "next": f"import the files, then crmguard restore verify {applied['plan_id']}"})
        return
    with warehouse.connect() as con:
        receipt = verify_plan(con, applied["plan_id"], adapter)
    context.add_output_metadata({"status": receipt.status, "counts": receipt.counts})
    if receipt.status != "verified":
        raise CheckFailed(f"plan {applied['plan_id']} is {receipt.status}: {receipt.counts}")


@dg.job(executor_def=dg.in_process_executor, description="Apply an approved restore plan, then verify it.")
def restore_crm_state():
    verify_restore_plan(apply_restore_plan())


@dg.op(pool=WAREHOUSE_POOL)
def propose_restore_plan(context: dg.OpExecutionContext, config: ProposeConfig, warehouse: WarehouseResource) -> None:
    """Plan the undo of a run (no CRM write); ops review it with `crmguard restore show`."""
    with warehouse.connect() as con:
        summary = propose_plan(con, config.run_id)
    context.add_output_metadata({"plan_id": summary.plan_id, "items": summary.items, "by_class": summary.by_class})


@dg.job(executor_def=dg.in_process_executor, description="Propose (never apply) a restore plan for a run.")
def propose_restore():
    propose_restore_plan()


@dg.sensor(job=propose_restore, minimum_interval_seconds=300)
def critical_stop_restore_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    """One proposal per run that broke a critical stop rule (the run key makes it once per run)."""
    try:
        with warehouse.connect(read_only=True) as con:
            runs = runs_breaking_critical_stops(con)
    except (WarehouseLocked, BadInput) as exc:  # being written, or not built yet: try next tick
        return dg.SkipReason(str(exc))
    if not runs:
        return dg.SkipReason("no run broke a critical stop rule")
    return [dg.RunRequest(run_key=f"restore-proposal:{run_id}", tags={"crmguard/rule_id": rule_id},
                          run_config={"ops": {"propose_restore_plan": {"config": {"run_id": run_id}}}})
            for run_id, rule_id, _ in runs]


defs = dg.Definitions(jobs=[restore_crm_state, propose_restore], sensors=[critical_stop_restore_sensor])
