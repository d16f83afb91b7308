"""A fast, self-contained writer of contract-shaped action events for the ingest benchmark.

DuckDB writes the NDJSON itself (COPY ... FORMAT json), so a million ~400-byte events take a couple
of seconds and the benchmark does not depend on the demo-world generator's speed.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

_EVENTS_SQL = """
SELECT
  '1' AS schema_version,
  'evt-' || lpad(i::VARCHAR, 10, '0') AS event_id,
  'tool_call' AS event_type,
  strftime(TIMESTAMP '2026-01-05 08:00:00' + to_milliseconds(i * 250), '%Y-%m-%dT%H:%M:%S.%g')
    || CASE WHEN i % 3 = 0 THEN '+05:30' ELSE 'Z' END AS occurred_at,
  ['outbound-sdr', 'lead-router', 'deal-desk'][i % 3 + 1] AS agent_id,
  'v1.4.' || (i % 7)::VARCHAR AS agent_version,
  'run-' || (i // 20)::VARCHAR AS run_id,
  (i % 20)::INTEGER AS step,
  CASE WHEN i % 10 = 0 THEN 'sandbox' ELSE 'production' END AS environment,
  {'type': 'agent', 'id': 'u-agent-' || (i % 3)::VARCHAR, 'role': 'sdr_agent',
   'on_behalf_of': 'u-' || (i % 40)::VARCHAR} AS actor,
  {'name': 'send_email', 'call_id': 'call-' || i::VARCHAR, 'credential_scope': 'crm.write'} AS tool,
  {'object_type': 'contact', 'object_id': 'c-' || (i % 50000)::VARCHAR,
   'account_id': 'a-' || (i % 5000)::VARCHAR} AS target,
  {'template': 'intro-' || (i % 12)::VARCHAR, 'contact_id': 'c-' || (i % 50000)::VARCHAR} AS input,
  [] AS changes,
  {'model': 'm-2026', 'prompt_sha256': md5(i::VARCHAR)[:16]} AS context,
  {'status': 'succeeded', 'error': NULL::VARCHAR, 'attempt': 1} AS outcome,
  false AS dry_run,
  NULL::VARCHAR AS approval_id
FROM range($n) t(i)
"""


def write_events(path: Path, n: int) -> Path:
    """Write `n` valid tool_call events, one JSON object per line, to `path` (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        query = _EVENTS_SQL.replace("$n", str(int(n)))
        con.execute(f"COPY ({query}) TO '{partial}' (FORMAT json)")
    finally:
        con.close()
    partial.replace(path)
    return path
