"""Action logs (CONTRACTS.md section 1) into raw.agent_events, with rejects and duplicates kept.

Each line is read as bytes, never auto-detected: Arrow splits the file on newlines without copying
(exact 1-based line numbers, no quoting rules). DuckDB parses every line once into the fields a good
event needs and judges it on that fast path (`event_rules`); only refused lines go through the full
rule list for their reason. The stage keeps no text: the inserts read each line straight from the
Arrow table by position (POSITIONAL JOIN), so the event text is copied once, into raw.agent_events.
Good first-seen events, rejects, duplicate deliveries and the ledger row commit in one transaction.

`load_action_lines` is the extension point for other sources of native-shaped events (OTLP traces,
issue 8): give it an Arrow table of JSON lines and a `source_format`.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

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


def streamed_source(path: Path, kind: str = "actions", chunk: int = 1 << 24) -> Source:
    """The same identity computed through one small reused buffer: deciding to skip a file already
    loaded then costs a hash, not an allocation the size of the file."""
    digest, size, buffer = hashlib.sha256(), 0, bytearray(chunk)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            size += count
    return Source(str(path), kind, digest.hexdigest(), size)


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

    Zero-copy: each line is an Arrow string view (offset, length) into `content`, without its
    terminator (LF or CRLF). The column is `text` when the whole content is UTF-8, else `raw` (binary
    views) so that DuckDB rejects exactly the lines that are not.
    """
    data = np.frombuffer(content, dtype=np.uint8)
    newlines = _newline_positions(data)
    open_last = bool(content) and not content.endswith(b"\n")
    ends = np.append(newlines, len(data)) if open_last else newlines
    starts = np.concatenate([np.zeros(1, dtype=np.int64), newlines + 1])[: len(ends)]
    lengths = ends - starts
    lengths -= (lengths > 0) & (data[np.maximum(ends - 1, 0)] == 13)  # CRLF: drop the CR too
    views = _views(content, data, starts, lengths)
    text = pa.Array.from_buffers(pa.string_view(), len(starts), views.buffers())
    try:
        text.validate(full=True)
        column = {"text": text}
    except pa.ArrowInvalid:
        column = {"raw": views}
    numbers = pa.array(np.arange(1, len(starts) + 1, dtype=np.int64))
    return pa.table({"line_no": numbers, **column}), open_last


def _newline_positions(data: np.ndarray, chunk: int = 1 << 23) -> np.ndarray:
    """Offsets of every newline, found in chunks so no file-sized mask is ever allocated."""
    parts = [np.flatnonzero(data[i:i + chunk] == 10) + i for i in range(0, len(data), chunk)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


_VIEW_BUFFER = 1 << 30  # view offsets are int32: address the content through 1 GiB windows


def _views(content: bytes, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """Binary views over `content` (Arrow BinaryView layout: 16 bytes per value, short values inline)."""
    count = len(starts)
    view = np.zeros((count, 4), dtype="<i4")
    view[:, 0] = lengths

    def gather(at: np.ndarray, width: int) -> np.ndarray:
        """Bytes at[i]..at[i]+width-1, zero past the end of the content."""
        idx = at[:, None] + np.arange(width)
        inside = idx < len(data)
        out = np.zeros(idx.shape, dtype=np.uint8)
        out[inside] = data[idx[inside]]
        return out

    long = lengths > 12
    long_starts = starts[long]
    view[long, 1] = gather(long_starts, 4).view("<i4").ravel()
    view[long, 2] = long_starts // _VIEW_BUFFER
    view[long, 3] = long_starts % _VIEW_BUFFER
    short = ~long
    inline = gather(starts[short], 12)
    inline[np.arange(12)[None, :] >= lengths[short][:, None]] = 0
    view.view(np.uint8).reshape(count, 16)[short, 4:] = inline
    windows = [pa.py_buffer(memoryview(content)[i:]) for i in range(0, max(len(content), 1), _VIEW_BUFFER)]
    return pa.Array.from_buffers(pa.binary_view(), count, [None, pa.py_buffer(view), *windows])


_COLUMNS = ("event_id", "schema_version", "event_type", "agent_id", "agent_version", "run_id", "environment")
_ACTOR = ("type", "id", "role", "on_behalf_of")
_LINES = "crmguard_ingest_lines"
_BATCH_ROWS = 1 << 16


def _text_sql(utf8: bool) -> str:
    """The line as text, NULL when it is not UTF-8."""
    return "l.text" if utf8 else "try(decode(l.raw))"


def _stored_text_sql(utf8: bool) -> str:
    """The line as kept in raw.rejects: bytes that are not UTF-8 shown escaped."""
    return "l.text" if utf8 else "coalesce(try(decode(l.raw)), CAST(l.raw AS VARCHAR))"


def _payload_sql(utf8: bool) -> str:
    """The event as JSON: the Arrow JSON view of the line itself (already parsed by the fast path)."""
    return "l.payload" if utf8 else "CAST(try(decode(l.raw)) AS JSON)"


def _stage_sql(open_last_line: int, utf8: bool, guarded: bool = True) -> str:
    """One row per line, in line order: `ok` (every rule accepts it) and the typed columns if ok.

    `guarded=False` skips the json_valid pass; DuckDB then raises on the first malformed line.
    """
    columns = {name: rules.fast_text_sql(name) for name in _COLUMNS}
    columns |= {f"actor_{key}": rules.fast_text_sql(f"actor.{key}") for key in _ACTOR}
    columns["occurred_at"] = rules.OCCURRED_AT_UTC
    columns["step"] = f"CAST({rules.fast_sql('step')} AS INTEGER)"
    typed = ",\n      ".join(f"CASE WHEN ok THEN {expr} END AS {name}" for name, expr in columns.items())
    text = _text_sql(utf8)
    occurred = rules.utc_timestamp_sql(rules.fast_text_sql("occurred_at"))
    parse = f"json_transform({text}, '{rules.fast_spec()}')"
    if guarded:
        parse = f"CASE WHEN json_valid({text}) THEN {parse} END"
    return f"""
    CREATE OR REPLACE TEMP TABLE {_STAGE} AS
    SELECT seq, line_no, ok, CAST(NULL AS VARCHAR) AS reason, false AS repeated,
      CAST(NULL AS VARCHAR) AS first_load_id,
      {typed}
    FROM (
      SELECT *, {rules.fast_valid_sql()} AS ok FROM (
        SELECT *, {occurred} AS {rules.OCCURRED_AT_UTC} FROM (
          SELECT l.seq, l.line_no,
                 {parse} AS v
          FROM {_LINES} AS l)))
    """


def _explain_sql(open_last_line: int, utf8: bool) -> str:
    """The reason for every line the fast path refused: the full rule list, run on those lines only."""
    paths = rules.paths_sql()
    return f"""
    UPDATE {_STAGE} SET reason = explained.reason FROM (
      SELECT seq, {rules.reject_reason_sql()} AS reason FROM (
        SELECT *, CASE WHEN t IS NOT NULL THEN json_extract_string(text, {paths}) END AS s FROM (
          SELECT *, CASE WHEN json_valid(text) THEN json_type(text, {paths}) END AS t FROM (
            SELECT s.seq, s.ok, s.line_no = {open_last_line} AS is_last, {_text_sql(utf8)} AS text
            FROM {_STAGE} AS s POSITIONAL JOIN {_LINES} AS l)
          WHERE NOT ok))
    ) AS explained
    WHERE {_STAGE}.seq = explained.seq
    """


def _mark_repeats_sql() -> str:
    """Flag the later deliveries of an event_id inside this input: the first line wins."""
    return f"""
    UPDATE {_STAGE} SET repeated = true FROM (
      SELECT event_id, min(seq) AS first_seq FROM {_STAGE} WHERE ok GROUP BY event_id HAVING count(*) > 1
    ) AS d
    WHERE {_STAGE}.event_id = d.event_id AND {_STAGE}.seq > d.first_seq
    """


def _mark_stored_sql() -> str:
    """Flag events already in the warehouse with the load that stored them (an anti-join on ids only)."""
    return f"""
    UPDATE {_STAGE} SET first_load_id = e._load_id FROM raw.agent_events AS e
    WHERE {_STAGE}.ok AND e.event_id = {_STAGE}.event_id
    """


def _insert_sql(source_format: str, utf8: bool) -> dict[str, str]:
    """The inserts of one load, in order; parameters: load id, file, time."""
    return {
        "rejected": f"""
            INSERT INTO raw.rejects
            SELECT $load_id, $file, s.line_no, s.reason, {_stored_text_sql(utf8)}, $now
            FROM {_STAGE} AS s POSITIONAL JOIN {_LINES} AS l WHERE NOT s.ok""",
        "duplicates": f"""
            INSERT INTO raw.duplicate_events
            SELECT $load_id, $file, line_no, event_id, coalesce(first_load_id, $load_id)
            FROM {_STAGE} WHERE ok AND (repeated OR first_load_id IS NOT NULL)""",
        "loaded": f"""
            INSERT INTO raw.agent_events
            SELECT s.event_id, s.schema_version, s.event_type, s.occurred_at, s.agent_id, s.agent_version,
                   s.run_id, s.step, s.environment, s.actor_type, s.actor_id, s.actor_role,
                   s.actor_on_behalf_of, {_payload_sql(utf8)}, '{source_format}', $load_id, $file, s.line_no
            FROM {_STAGE} AS s POSITIONAL JOIN {_LINES} AS l
            WHERE s.ok AND NOT s.repeated AND s.first_load_id IS NULL""",
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
    last, utf8 = (lines.num_rows if open_last_line else 0), "text" in lines.column_names
    con.register(_LINES, _with_seq_and_payload(lines))
    try:
        _stage(con, last, utf8)
        if con.execute(f"SELECT count(*) FROM {_STAGE} WHERE NOT ok").fetchone()[0]:
            con.execute(_explain_sql(last, utf8))
        con.execute(_mark_repeats_sql())
        if progress:
            progress(f"  {source.path}: {lines.num_rows} lines parsed, writing")
        result = _write(con, lines.num_rows, source, load_id, started_at, _insert_sql(source_format, utf8),
                        adapter_rejects)
    finally:
        con.unregister(_LINES)
        con.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    return result


def _stage(con: duckdb.DuckDBPyConnection, last: int, utf8: bool) -> None:
    """Parse optimistically (a clean log, the common case, is parsed once); if any line is not JSON,
    parse again with each line checked first."""
    try:
        con.execute(_stage_sql(last, utf8, guarded=False))
    except duckdb.InvalidInputException:
        con.execute(_stage_sql(last, utf8, guarded=True))


def _with_seq_and_payload(lines: pa.Table) -> pa.Table:
    """Add the input order (`seq`) and, for text, the same strings typed as JSON (zero-copy)."""
    lines = lines.append_column("seq", pa.array(np.arange(lines.num_rows, dtype=np.int64)))
    if "text" in lines.column_names:
        text = lines.column("text").combine_chunks()
        lines = lines.append_column("payload", pa.ExtensionArray.from_storage(pa.json_(text.type), text))
    # DuckDB scans an Arrow table one record batch per thread: slice it (zero-copy) so all cores parse.
    return pa.Table.from_batches(lines.to_batches(max_chunksize=_BATCH_ROWS), schema=lines.schema)


def _write(con: duckdb.DuckDBPyConnection, lines: int, source: Source, load_id: str, started_at: datetime,
           inserts: dict[str, str], adapter_rejects: pa.Table | None) -> FileResult:
    """The load's one transaction: rejects, duplicates, events and the ledger row, or nothing."""
    params = {"load_id": load_id, "file": source.path, "now": started_at}
    result = FileResult(source.path, source.sha256, source.kind, STATUS_LOADED, lines=lines)
    with atomic(con):
        con.execute(_mark_stored_sql())  # inside the transaction: what is stored cannot change under it
        for key, sql in inserts.items():
            used = {name: value for name, value in params.items() if f"${name}" in sql}
            setattr(result, key, con.execute(sql, used).fetchone()[0])
        if adapter_rejects is not None and adapter_rejects.num_rows:
            result.rejected += _store_adapter_rejects(con, adapter_rejects, params)
            result.lines += adapter_rejects.num_rows
        record(con, load_id, source, result, started_at)
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
