"""Export in Dagster: the audit chain is sealed after every build, and the governance report's key
figures are the report asset's metadata (the same `collect` the CLI page uses, so they agree).

No `from __future__ import annotations` here: Dagster inspects the type hints of the bodies.
"""

from pathlib import Path

import dagster as dg

from crmguard.export.chain import seal
from crmguard.report.page import write_report
from crmguard.resources import WarehouseResource
from crmguard.warehouse import publish

WAREHOUSE_POOL = "warehouse_writer"
AUDIT_MARTS = ["fct_agent_actions", "fct_approvals", "fct_stop_events", "fct_policy_verdicts", "fct_stops"]
REPORT_FILE = "report.html"


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


defs = dg.Definitions(assets=[audit_chain, governance_report])
