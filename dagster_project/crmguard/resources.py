"""Dagster resources. One place decides which warehouse an environment gets (local DuckDB by default)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from crmguard import paths, warehouse

# Every step that writes the warehouse is in this pool: DuckDB allows one writing process per file, and
# the instance limits the pool to one step at a time (dagster_project/dagster.yaml, installed by `make ui`).
WAREHOUSE_POOL = "warehouse_writer"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Connections are short-lived: DuckDB allows one writer per file."""

    path: str | None = None

    def resolved_path(self) -> str:
        return str(paths.warehouse_path(self.path))

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.resolved_path(), read_only=read_only) as con:
            yield con


class LandingResource(dg.ConfigurableResource):
    """The landing folder that agent runtimes and CRM exports drop files into."""

    path: str | None = None

    def resolved_path(self) -> str:
        return str(paths.landing_dir(self.path))
