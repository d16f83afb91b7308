"""Stand-in marts: tables shaped like the dbt marts restore reads (docs/marts.md), for the benchmark
and for tests that need a precise, hand-made history. The real marts come from `crmguard build`;
restore only relies on the columns created here, all of which docs/marts.md promises.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from crmguard.crm.objects import OBJECTS
from crmguard.warehouse import quote_ident

_CHANGE_COLUMNS = ("change_id varchar, object_type varchar, object_id varchar, field varchar, change_type varchar, "
                   "old_value varchar, new_value varchar, window_start timestamp, window_end timestamp, "
                   "updated_by varchar, updated_at timestamp")
MART_DDL = {
    "fct_crm_field_changes": _CHANGE_COLUMNS,
    "fct_change_attribution": (
        "attribution_id varchar, record_type varchar, change_id varchar, claim_id varchar, event_id varchar, "
        "object_type varchar, object_id varchar, field varchar, old_value varchar, new_value varchar, "
        "observed_value varchar, window_start timestamp, window_end timestamp, updated_by varchar, "
        "cause varchar, verification varchar, agent_id varchar, run_id varchar, rule varchar"
    ),
    "fct_agent_actions": (
        "event_id varchar, occurred_at timestamp, agent_id varchar, agent_version varchar, run_id varchar, "
        "step integer, actor_type varchar, actor_id varchar, actor_role varchar, tool_name varchar, "
        "target_object_type varchar, target_object_id varchar, target_account_id varchar, status varchar, "
        "dry_run boolean, call_id varchar, input json"
    ),
    "fct_claimed_changes": (
        "claim_id varchar, event_id varchar, occurred_at timestamp, agent_id varchar, actor_id varchar, "
        "run_id varchar, object_type varchar, object_id varchar, field varchar, old_value varchar, "
        "new_value varchar, dry_run boolean, status varchar"
    ),
    "dim_users": "user_id varchar, email varchar, name varchar, role varchar, team varchar, is_agent boolean",
}


def _object_columns(name: str) -> str:
    return ", ".join(f"{quote_ident(c)} {'timestamp' if c in ('starts_at', 'updated_at') else 'varchar'}"
                     for c in OBJECTS[name].columns)


def create_standin_marts(con: duckdb.DuckDBPyConnection) -> None:
    """Create empty mart-shaped tables in `main` (replacing any stand-ins of the same names)."""
    for table, columns in MART_DDL.items():
        con.execute(f"create or replace table main.{table} ({columns})")
    for name in OBJECTS:
        if name == "users":
            continue
        cols = _object_columns(name)
        con.execute(f"create or replace table main.scd_crm_{name} ({cols}, valid_from timestamp, "
                    "valid_to timestamp, is_deleted boolean)")
        con.execute(f"create or replace table main.dim_crm_{name} ({cols})")


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict]) -> None:
    """Insert dicts by column name (missing columns stay NULL), through Arrow in one statement."""
    if not rows:
        return
    columns = sorted({k for row in rows for k in row})
    batch = pa.table({c: [row.get(c) for row in rows] for c in columns})  # noqa: F841 (read by DuckDB)
    con.execute(f"insert into main.{table} by name select * from batch")
