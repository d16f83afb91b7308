"""The key promise of issue 8: a traced agent and a CRM export land in the warehouse like native input.

The session's generated world (conftest `built_world`, ingested natively and built) is rewritten as
OTLP/JSON GenAI traces plus Salesforce or HubSpot export files (crmguard.adapters.world_export), ingested
through `crmguard ingest --mapping ...` (Salesforce: `crmguard run` with CRMGUARD_MAPPING, the scheduled
job's path) and built with the real dbt project. Every agent action fact, every
observed CRM change and every flag (attribution, runs, policy verdicts) must be the same; only
`source_format` (and the load that stored it) may differ.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from conftest import CRMGUARD, World, run_cli
from crmguard.adapters.world_export import export_world
from crmguard.transform import build

# (mart, columns compared: everything but where the row was loaded from)
COMPARED = (
    ("fct_agent_actions", "* EXCLUDE (source_format, load_id)"),
    ("fct_crm_field_changes", "*"),
    ("fct_flags", "kind, event_id, object_type, object_id, field, source_model"),
)


def _difference(con: duckdb.DuckDBPyConnection, table: str, columns: str, left: str, right: str) -> int:
    """Rows of `left` not matched one-for-one in `right` (JSON columns compared as text)."""
    return con.execute(
        f"SELECT count(*) FROM (SELECT {columns} FROM {left}.main.{table} "
        f"EXCEPT ALL SELECT {columns} FROM {right}.main.{table})"
    ).fetchone()[0]


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_otlp_traces_and_crm_exports_give_the_native_facts(
    built_world: World, tmp_path: Path, crm: str
) -> None:
    converted = tmp_path / "converted"
    counts = export_world(built_world.root, converted, crm)
    assert counts["traces"] > 0 and counts["snapshots"] > 0
    assert not [p for p in (converted / "actions").iterdir() if not p.name.endswith(".otlp.jsonl")]
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    if crm == "salesforce":  # exit 1: the world's incidents fail critical integrity checks, as they should
        proc = subprocess.run([CRMGUARD, "run", "--landing", str(converted), "--warehouse", str(warehouse), "--json"],
                              capture_output=True, text=True, env={**os.environ, "CRMGUARD_MAPPING": crm})
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        assert json.loads(proc.stdout)["build"]["success"]
    else:
        run_cli("ingest", str(converted), "--mapping", crm, "--warehouse", str(warehouse))
        result = build(warehouse)
        assert result.success, result.failures

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{built_world.warehouse}' AS native (READ_ONLY)")
        con.execute(f"ATTACH '{warehouse}' AS mapped (READ_ONLY)")
        formats = con.execute("SELECT DISTINCT source_format FROM mapped.main.fct_agent_actions").fetchall()
        assert formats == [("otlp",)]
        for table, columns in COMPARED:
            total = con.execute(f"SELECT count(*) FROM native.main.{table}").fetchone()[0]
            assert total > 0, table
            assert _difference(con, table, columns, "native", "mapped") == 0, table
            assert _difference(con, table, columns, "mapped", "native") == 0, table
        rejects = con.execute("SELECT count(*) FROM mapped.raw.rejects").fetchone()[0]
        assert rejects == con.execute("SELECT count(*) FROM native.raw.rejects").fetchone()[0]
    finally:
        con.close()
