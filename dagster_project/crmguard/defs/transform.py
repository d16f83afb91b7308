"""The dbt models as Dagster assets, downstream of the ingest assets (one lineage graph).

No `from __future__ import annotations` here: Dagster inspects the `context` type hint.

dbt sources carry `meta.dagster.asset_key` (["raw", "agent_events"], ["raw", "crm_snapshots"]), so the
staging models hang off the ingest assets; the translator groups the rest by dbt folder.
"""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from crmguard.policy import publish_for_build
from crmguard.project import dbt_project
from crmguard.resources import WAREHOUSE_POOL, WarehouseResource
from crmguard.transform import NO_UNIT_TESTS, dagster_target_dir, dbt_executable, warehouse_env

_GROUPS = {"staging": "staging", "intermediate": "intermediate", "marts": "audit_marts",
           "policy": "policy", "quality": "quality", "snapshots": "crm_snapshots"}


class CrmguardDbtTranslator(DagsterDbtTranslator):
    """Asset keys are the table names in `main` (no schema prefix, whatever dbt-dagster's default does
    with `+schema`), groups follow the dbt folders, so the UI shows the layers of STYLE.md."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id)
        if node is None:  # a source: its key comes from meta.dagster.asset_key (the ingest asset)
            return spec
        fqn = node.get("fqn") or []
        layer = fqn[1] if len(fqn) > 2 else node["resource_type"] + "s"
        return spec.replace_attributes(key=dg.AssetKey([node["name"]]), group_name=_GROUPS.get(layer, "audit_marts"))


# Every crm_* source table is written by the one snapshot-ingest asset, hence duplicate source keys;
# source metadata stays off because with duplicate keys it collides (dagster-io/dagster#33782).
translator = CrmguardDbtTranslator(settings=DagsterDbtTranslatorSettings(
    enable_source_tests_as_checks=True, enable_duplicate_source_asset_keys=True, enable_source_metadata=False,
))


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=translator,
            pool=WAREHOUSE_POOL)
def crmguard_dbt_assets(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource) -> Iterator[Any]:
    """dbt build of the selected models, snapshots and tests on the configured warehouse.

    Cautious indirect selection: a partial materialization runs only the tests whose parents it builds.
    The dbt unit tests stay out of the scheduled job, as out of `crmguard build` (NO_UNIT_TESTS).
    """
    path = Path(warehouse.resolved_path())
    publish_for_build(path)  # the policy models read the active policy's tables
    with warehouse_env(path):
        yield from dbt.cli(["build", "--indirect-selection", "cautious", *NO_UNIT_TESTS], context=context,
                           target_path=dagster_target_dir(path)).stream()


# The dbt of this environment, so an unactivated venv works too (STACK.md).
dbt_resource = DbtCliResource(project_dir=dbt_project, profiles_dir=str(dbt_project.profiles_dir),
                              dbt_executable=dbt_executable())
