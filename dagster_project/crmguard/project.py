"""The one DbtProject: where the dbt project lives and where its manifest is prepared.

`prepare_if_dev()` parses the project under `dagster dev`; tests prepare it in conftest and packaging
runs `dagster-dbt project prepare-and-package` (it does nothing under pytest or CI, STACK.md).
"""

from __future__ import annotations

from dagster_dbt import DbtProject

from crmguard.paths import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
