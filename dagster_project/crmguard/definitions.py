"""The one Dagster code location: every capability's definitions, merged, with the shared resources."""

import dagster as dg

from crmguard.defs import export, ingest, quality, restore, transform
from crmguard.resources import LandingResource, WarehouseResource

defs = dg.Definitions.merge(
    ingest.defs,
    dg.Definitions(assets=[transform.crmguard_dbt_assets]),
    quality.defs,
    restore.defs,
    export.defs,
    dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "landing": LandingResource(),
            "dbt": transform.dbt_resource,
        }
    ),
)
