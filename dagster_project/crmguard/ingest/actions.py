"""Action logs (CONTRACTS.md section 1) into raw.agent_events, with rejects and duplicates kept.

Each line is read as bytes, never auto-detected: Arrow splits the file on newlines (exact 1-based line
numbers, no quoting rules), DuckDB decodes, parses and validates every line in one pass of SQL
(`event_rules`), and the good, first-seen events are inserted together with the rejects, the duplicate
deliveries and the ledger row in one transaction.

`load_action_lines` is the extension point for other sources of native-shaped events (OTLP traces,
issue 8): give it an Arrow table of JSON lines and a `source_format`.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmguard.errors import BadInput
from crmguard.ingest import event_rules as rules
from crmguard.ingest.ledger import (
    STATUS_LOADED,
    FileResult,
    Source,
    atomic,
    record,
    sha256_bytes,
    utc_now,
)

Progress = Callable[[str], None]

_STAGE = "crmguard_ingest_stage"


def file_source(path: Path, stored: bytes, kind: str = "actions") -> Source:
    """The file's ledger identity: SHA-256 and size of the bytes as stored (compressed or not)."""
    return Source(str(path), kind, sha256_bytes(stored), len(stored))


def decompress(path: Path, stored: bytes) -> bytes:
    """The file's text bytes: gunzipped for .gz names; a broken gzip refuses the whole file."""
    if not path.name.lower().endswith(".gz"):
        return stored
    try:
        return gzip.decompress(stored)
    except (OSError, EOFError, zlib.error) as exc:
        raise BadInput(f"{path}: not a readable gzip file ({exc})") from None


def split_lines(content: bytes) -> tuple[pa.Table, bool]:
    """An Arrow table of the content's lines and whether the last one lacks its final newline.

    Zero-copy: each element spans one line including its newline (JSON ignores it; the SQL trims it).
    The column is `text` (large_string) when the whole content is UTF-8, else `raw` (large_binary) so
    DuckDB can reject exactly the lines that are not.
    """
    ends = _newline_ends(content)
    terminated = content.endswith(b"\n")
    if content and not terminated:
        ends = np.append(ends, len(content))
    offsets = np.concatenate([np.zeros(1, dtype=np.int64), ends])
    lines = pa.Array.from_buffers(pa.large_binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(content)])
    numbers = pa.array(np.arange(1, len(ends) + 1, dtype=np.int64))
    try:
        column = {"text": lines.cast(pa.large_string())}
    except pa.ArrowInvalid:
        column = {"raw": lines}
    return pa.table({"line_no": numbers, **column}), bool(content) and not terminated


def _newline_ends(content: bytes, chunk: int = 1 << 23) -> np.ndarray:
    """Offsets just past every newline, found in chunks so no file-sized mask is ever allocated."""
    data = np.frombuffer(content, dtype=np.uint8)
    parts = [np.flatnonzero(data[i:i + chunk] == 10) + (i + 1) for i in range(0, len(data), chunk)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _stage_sql(relation: str, open_last_line: int, utf8: bool) -> str:
    """Decode, parse and judge every line once; typed columns only for the good ones."""
    paths = rules.paths_sql()
    good = "reason IS NULL"
    occurred = rules.utc_timestamp_sql(rules.text_sql("occurred_at"))
    columns = {
        "event_id": rules.text_sql("event_id"),
        "schema_version": rules.text_sql("schema_version"),
        "event_type": rules.text_sql("event_type"),
        "occurred_at": occurred,
        "agent_id": rules.text_sql("agent_id"),
        "agent_version": rules.text_sql("agent_version"),
        "run_id": rules.text_sql("run_id"),
        "step": f"CAST({rules.text_sql('step')} AS INTEGER)",
        "environment": rules.text_sql("environment"),
        "actor_type": rules.text_sql("actor.type"),
        "actor_id": rules.text_sql("actor.id"),
        "actor_role": rules.text_sql("actor.role"),
        "actor_on_behalf_of": rules.text_sql("actor.on_behalf_of"),
    }
    text = "text" if utf8 else "try(decode(raw))"
    raw_text = "NULL" if utf8 else "CAST(raw AS VARCHAR)"
    # The line without its terminator; JSON parsing ignores it, so only the stored text pays for this.
    line = ("CASE WHEN ends_with(text, e'\\r\\n') THEN left(text, -2) "
            "WHEN ends_with(text, e'\\n') THEN left(text, -1) ELSE coalesce(text, raw_text) END")
    typed = ",\n        ".join(f"CASE WHEN {good} THEN {expr} END AS {name}" for name, expr in columns.items())
    return f"""
    CREATE OR REPLACE TEMP TABLE {_STAGE} AS
    WITH decoded AS (
      SELECT seq, line_no, {text} AS text, {raw_text} AS raw_text, line_no = {open_last_line} AS is_last
      FROM {relation}
    ), parsed AS (
      SELECT *, try(json_type(text, {paths})) AS t FROM decoded
    ), fields AS (
      SELECT *, CASE WHEN t IS NOT NULL THEN json_extract_string(text, {paths}) END AS s FROM parsed
    ), judged AS (
      SELECT *, {rules.reject_reason_sql()} AS reason FROM fields
    )
    SELECT *, min(seq) OVER (PARTITION BY event_id) AS first_seq FROM (
      SELECT seq, line_no, reason, {line} AS text,
        {typed}
      FROM judged
    )
    """


def _insert_sql(source_format: str) -> dict[str, str]:
    """The three inserts of one load, all reading the stage; parameters: load id, file, time."""
    return {
        "rejected": f"""
            INSERT INTO raw.rejects
            SELECT $load_id, $file, line_no, reason, text, $now FROM {_STAGE} WHERE reason IS NOT NULL""",
        "duplicates": f"""
            INSERT INTO raw.duplicate_events
            SELECT $load_id, $file, s.line_no, s.event_id, coalesce(e._load_id, $load_id)
            FROM {_STAGE} s LEFT JOIN raw.agent_events e ON e.event_id = s.event_id
            WHERE s.reason IS NULL AND (s.seq > s.first_seq OR e.event_id IS NOT NULL)""",
        "loaded": f"""
            INSERT INTO raw.agent_events
            SELECT event_id, schema_version, event_type, occurred_at, agent_id, agent_version, run_id, step,
                   environment, actor_type, actor_id, actor_role, actor_on_behalf_of, text,
                   '{source_format}', $load_id, $file, line_no
            FROM {_STAGE} s
            WHERE reason IS NULL AND seq = first_seq
              AND NOT EXISTS (SELECT 1 FROM raw.agent_events e WHERE e.event_id = s.event_id)""",
    }


def load_action_lines(con: duckdb.DuckDBPyConnection, lines: pa.Table, source: Source, load_id: str, *,
                      open_last_line: bool = False, source_format: str = "native",
                      adapter_rejects: pa.Table | None = None, progress: Progress | None = None) -> FileResult:
    """Load one input's events exactly once, in one transaction.

    `lines`: Arrow table with `line_no` and `text` (or `raw` bytes), one native-shaped JSON event per
    row in input order, as `split_lines` makes it; an adapter (OTLP) may give several rows one line_no.
    `open_last_line`: the input ended without a newline, so an unparseable last line is truncated.
    `adapter_rejects`: (line, reason, raw_text) rows an adapter refused before mapping, stored and
    counted with this load. Returns the counts; `lines = loaded + rejected + duplicates` always holds.
    """
    started_at = utc_now()
    last = lines.num_rows if open_last_line else 0
    numbered = lines.append_column("seq", pa.array(np.arange(lines.num_rows, dtype=np.int64)))
    con.register("crmguard_ingest_lines", numbered)
    try:
        con.execute(_stage_sql("crmguard_ingest_lines", last, "text" in lines.column_names))
    finally:
        con.unregister("crmguard_ingest_lines")
    if progress:
        progress(f"  {source.path}: {lines.num_rows} lines parsed, writing")
    params = {"load_id": load_id, "file": source.path, "now": started_at}
    result = FileResult(source.path, source.sha256, source.kind, STATUS_LOADED, lines=lines.num_rows)
    try:
        with atomic(con):
            for key, sql in _insert_sql(source_format).items():
                used = {name: value for name, value in params.items() if f"${name}" in sql}
                setattr(result, key, con.execute(sql, used).fetchone()[0])
            if adapter_rejects is not None and adapter_rejects.num_rows:
                result.rejected += _store_adapter_rejects(con, adapter_rejects, params)
                result.lines += adapter_rejects.num_rows
            record(con, load_id, source, result, started_at)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    return result


def _store_adapter_rejects(con: duckdb.DuckDBPyConnection, rejects: pa.Table, params: dict) -> int:
    con.register("crmguard_adapter_rejects", rejects)
    try:
        return con.execute(
            "INSERT INTO raw.rejects SELECT $load_id, $file, line, reason, raw_text, $now "
            "FROM crmguard_adapter_rejects", params,
        ).fetchone()[0]
    finally:
        con.unregister("crmguard_adapter_rejects")
