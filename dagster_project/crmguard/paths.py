"""Where things live: the warehouse, the landing folder, the dbt project. One place decides."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
POLICIES_DIR = REPO_ROOT / "policies"
DEFAULT_POLICY = POLICIES_DIR / "default.yml"

# dbt-duckdb bakes the file stem into the manifest, so the file name is fixed; only the folder varies.
WAREHOUSE_FILENAME = "warehouse.duckdb"


def warehouse_path(explicit: str | os.PathLike | None = None) -> Path:
    """--warehouse, else CRMGUARD_WAREHOUSE, else ./data/warehouse.duckdb (CONTRACTS.md section 4)."""
    value = explicit or os.environ.get("CRMGUARD_WAREHOUSE") or Path("data") / WAREHOUSE_FILENAME
    return Path(value).expanduser().resolve()


def landing_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The folder the sensor and `crmguard run` ingest from: CRMGUARD_LANDING, default ./data/landing."""
    value = explicit or os.environ.get("CRMGUARD_LANDING") or Path("data") / "landing"
    return Path(value).expanduser().resolve()
