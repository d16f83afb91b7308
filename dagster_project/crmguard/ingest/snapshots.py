"""CRM snapshots (CONTRACTS.md section 2) into raw.crm_*, whole or not at all.

A snapshot directory `crm/<YYYYMMDDTHHMMSSZ>/` holds `manifest.json` and one file per canonical object
(.csv, .parquet or .jsonl). Values are stored as VARCHAR exactly as exported (staging casts them). Any
defect (manifest, a missing or extra column, a row count that disagrees with the manifest) refuses the
whole snapshot with one message naming the file and the column, because a partial snapshot would read
downstream as mass deletions.

`load_snapshot` is the extension point for mapped exports (Salesforce/HubSpot, issue 8): give it a
`Snapshot` whose objects are Arrow tables of canonical VARCHAR columns plus an optional `_extra` JSON
text column (custom fields) and an optional `_line` column.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from crmguard.adapters.crm_exports import CrmMapping, map_snapshot_dir, mapped_files
from crmguard.crm.objects import OBJECTS
from crmguard.errors import BadInput
from crmguard.ingest.ledger import STATUS_LOADED, FileResult, Source, atomic, record, utc_now
from crmguard.warehouse import quote_ident

SNAPSHOT_DIR_NAME = re.compile(r"^\d{8}T\d{6}Z$")
DATA_SUFFIXES = (".csv", ".parquet", ".jsonl")
MANIFEST = "manifest.json"
_LINEAGE_OPTIONAL = ("_line", "_extra")


class SnapshotRejected(BadInput):
    """The snapshot cannot be loaded; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Snapshot:
    """One snapshot ready to load: lineage plus one Arrow table of canonical rows per object."""

    snapshot_id: str
    captured_at: datetime
    source: str
    manifest: dict
    path: str
    objects: dict[str, pa.Table] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # object -> file path as given


def is_snapshot_dir(path: Path) -> bool:
    return path.is_dir() and bool(SNAPSHOT_DIR_NAME.match(path.name))


def snapshot_source(path: Path) -> Source:
    """Ledger identity of a snapshot: SHA-256 over every file's name and bytes, in name order."""
    digest, size = hashlib.sha256(), 0
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        data = file.read_bytes()
        digest.update(file.name.encode() + b"\0" + hashlib.sha256(data).digest())
        size += len(data)
    return Source(str(path), "snapshot", digest.hexdigest(), size)


def read_snapshot(con: duckdb.DuckDBPyConnection, path: Path, mapping: CrmMapping | None = None) -> Snapshot:
    """Read and check a snapshot directory; SnapshotRejected names the file and column at fault.

    With a `mapping` (Salesforce/HubSpot exports, crmguard.adapters.crm_exports) the files it claims are
    mapped onto canonical rows, the other objects are read as canonical files, and the manifest may be
    absent (CRM exports have none): its row counts are then the files' own.
    """
    manifest = None if mapping and not (path / MANIFEST).is_file() else _read_manifest(path)
    claimed = mapped_files(path, mapping) if mapping else {}
    files = _object_files(path, set(claimed.values()))
    missing = sorted(set(OBJECTS) - set(files) - set(claimed))
    if missing:
        raise SnapshotRejected(f"{path}: no file for object {missing[0]} (expected {missing[0]}.csv, "
                               ".parquet or .jsonl)")
    objects = map_snapshot_dir(path, mapping) if mapping else {}
    for name, file in sorted(files.items()):
        objects[name] = _read_object(con, file, OBJECTS[name].columns)
    if manifest is None:
        manifest = {"captured_at": path.name, "source": mapping.name,
                    "row_counts": {name: table.num_rows for name, table in sorted(objects.items())}}
    unlisted = sorted(set(OBJECTS) - set(manifest["row_counts"]))
    if unlisted:
        raise SnapshotRejected(f"{path / MANIFEST}: row_counts has no entry for object {unlisted[0]}")
    return Snapshot(
        snapshot_id=path.name, captured_at=_dir_instant(path), source=manifest["source"], manifest=manifest,
        path=str(path), objects=objects,
        files={name: str(file) for name, file in {**claimed, **files}.items()},
    )


def load_snapshot(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, source: Source, load_id: str) -> FileResult:
    """Check columns and row counts, then store every object, the snapshot row and the ledger row in
    one transaction. Raises SnapshotRejected (nothing stored) when anything disagrees."""
    started_at = utc_now()
    _check_not_loaded_differently(con, snapshot, source)
    for name, table in snapshot.objects.items():
        _check_columns(snapshot.files.get(name, name), table.column_names, OBJECTS[name].columns)
        expected = snapshot.manifest["row_counts"].get(name)
        if expected != table.num_rows:
            raise SnapshotRejected(
                f"{snapshot.files.get(name, name)}: {table.num_rows} rows but the manifest says {expected}")
    result = FileResult(source.path, source.sha256, source.kind, STATUS_LOADED)
    with atomic(con):
        for name, table in snapshot.objects.items():
            result.loaded += _insert_object(con, name, table, snapshot, load_id)
        con.execute(
            "INSERT INTO raw.crm_snapshots VALUES (?, ?, ?, ?, ?, ?)",
            [snapshot.snapshot_id, snapshot.captured_at, snapshot.source,
             json.dumps(snapshot.manifest, sort_keys=True), snapshot.path, load_id],
        )
        result.lines = result.loaded
        record(con, load_id, source, result, started_at)
    return result


def _insert_object(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, snapshot: Snapshot,
                   load_id: str) -> int:
    columns = OBJECTS[name].columns
    names = ", ".join(quote_ident(c) for c in columns)
    values = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR)" for c in columns)
    line = "CAST(_line AS BIGINT)" if "_line" in table.column_names else "NULL"
    extra = "CAST(_extra AS JSON)" if "_extra" in table.column_names else "NULL"
    con.register("crmguard_snapshot_object", table)
    try:
        return con.execute(
            f"INSERT INTO raw.{quote_ident('crm_' + name)} "
            f"({names}, _snapshot_id, _captured_at, _load_id, _file, _line, _extra) "
            f"SELECT {values}, ?, ?, ?, ?, {line}, {extra} FROM crmguard_snapshot_object",
            [snapshot.snapshot_id, snapshot.captured_at, load_id, snapshot.files.get(name, snapshot.path)],
        ).fetchone()[0]
    finally:
        con.unregister("crmguard_snapshot_object")


def _check_not_loaded_differently(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, source: Source) -> None:
    """A snapshot is immutable: the same captured_at from other bytes would fork history."""
    row = con.execute(
        "SELECT s._load_id, l.sha256 FROM raw.crm_snapshots s JOIN raw.load_ledger l ON l.load_id = s._load_id "
        "WHERE s.snapshot_id = ? LIMIT 1", [snapshot.snapshot_id],
    ).fetchone()
    if row and row[1] != source.sha256:
        raise SnapshotRejected(
            f"{snapshot.path}: snapshot {snapshot.snapshot_id} was already loaded from different content "
            f"(load {row[0]}); snapshots are immutable, export a new one instead")


def _check_columns(file: str, actual: list[str], canonical: tuple[str, ...]) -> None:
    present = [c for c in actual if c not in _LINEAGE_OPTIONAL]
    missing = [c for c in canonical if c not in present]
    if missing:
        raise SnapshotRejected(f"{file}: missing column {missing[0]}")
    extra = [c for c in present if c not in canonical]
    if extra:
        raise SnapshotRejected(f"{file}: unexpected column {extra[0]} (canonical: {', '.join(canonical)})")
    if len(present) != len(set(present)):
        raise SnapshotRejected(f"{file}: a column appears twice in the header")


def _dir_instant(path: Path) -> datetime:
    try:
        return datetime.strptime(path.name, "%Y%m%dT%H%M%SZ")
    except ValueError:
        raise SnapshotRejected(f"{path}: directory name is not a UTC instant YYYYMMDDTHHMMSSZ") from None


def _read_manifest(path: Path) -> dict:
    file = path / MANIFEST
    if not file.is_file():
        raise SnapshotRejected(f"{file}: missing (a snapshot needs captured_at, source and row_counts)")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotRejected(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise SnapshotRejected(f"{file}: must be a JSON object")
    for key, kind in (("captured_at", str), ("source", str), ("row_counts", dict)):
        if not isinstance(manifest.get(key), kind):
            raise SnapshotRejected(f"{file}: field {key} is missing or not a {kind.__name__}")
    if _manifest_instant(file, manifest["captured_at"]) != _dir_instant(path):
        raise SnapshotRejected(f"{file}: captured_at {manifest['captured_at']} does not match the directory "
                               f"name {path.name}")
    for name, count in manifest["row_counts"].items():
        if name not in OBJECTS:
            raise SnapshotRejected(f"{file}: row_counts names unknown object {name}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise SnapshotRejected(f"{file}: row_counts.{name} must be a non-negative integer")
    return manifest


def _manifest_instant(file: Path, value: str) -> datetime:
    """captured_at as naive UTC, written either like the directory name or as RFC 3339 with offset."""
    try:
        if SNAPSHOT_DIR_NAME.match(value):
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ")
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise SnapshotRejected(f"{file}: captured_at {value!r} is not a time") from None
    if parsed.tzinfo is None:
        raise SnapshotRejected(f"{file}: captured_at {value!r} has no UTC offset")
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _object_files(path: Path, mapped: set[Path] = frozenset()) -> dict[str, Path]:
    """object name -> its one data file; unknown or doubled objects refuse the snapshot."""
    found: dict[str, Path] = {}
    for file in sorted(p for p in path.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES and p not in mapped):
        name = file.stem
        if name not in OBJECTS:
            raise SnapshotRejected(f"{file}: not a canonical object (expected one of {', '.join(OBJECTS)})")
        if name in found:
            raise SnapshotRejected(f"{file}: object {name} also exported as {found[name].name}; keep one file")
        found[name] = file
    return found


def _read_object(con: duckdb.DuckDBPyConnection, file: Path, canonical: tuple[str, ...]) -> pa.Table:
    """One export file as an Arrow table of VARCHAR columns plus `_line`, columns checked exactly."""
    reader = {".csv": _read_csv, ".parquet": _read_parquet, ".jsonl": _read_jsonl}[file.suffix]
    try:
        return reader(con, file, canonical)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise SnapshotRejected(f"{file}: cannot read: {first}") from None


def _literal(path: Path) -> str:
    """A file path as a SQL string literal (bound paths would still expand glob characters)."""
    return "'" + str(path).replace("'", "''") + "'"


def _read_csv(con: duckdb.DuckDBPyConnection, file: Path, canonical: tuple[str, ...]) -> pa.Table:
    with file.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    _check_columns(str(file), header, canonical)
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "}"
    rel = con.sql(
        f"SELECT *, row_number() OVER () + 1 AS _line FROM read_csv({_literal(file)}, header = true, "
        f"auto_detect = false, delim = ',', quote = '\"', escape = '\"', columns = {columns}, strict_mode = true)"
    )
    return rel.to_arrow_table()


def _read_parquet(con: duckdb.DuckDBPyConnection, file: Path, canonical: tuple[str, ...]) -> pa.Table:
    names = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_literal(file)})").fetchall()]
    _check_columns(str(file), names, canonical)
    values = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in canonical)
    return con.sql(
        f"SELECT {values}, file_row_number + 1 AS _line "
        f"FROM read_parquet({_literal(file)}, file_row_number = true)"
    ).to_arrow_table()


def _read_jsonl(con: duckdb.DuckDBPyConnection, file: Path, canonical: tuple[str, ...]) -> pa.Table:
    rows = f"(SELECT json, row_number() OVER () AS _line FROM read_json_objects({_literal(file)}, format = 'newline_delimited'))"
    keys = con.execute(
        f"SELECT k, count(*), min(_line) FROM (SELECT unnest(json_keys(json)) AS k, _line FROM {rows}) GROUP BY k"
    ).fetchall()
    total = con.execute(f"SELECT count(*) FROM {rows}").fetchone()[0]
    _check_columns(str(file), sorted(k for k, _, _ in keys), canonical)
    partial = sorted(k for k, n, _ in keys if n < total)
    if partial:
        raise SnapshotRejected(f"{file}: column {partial[0]} is missing on some lines")
    values = ", ".join(f"json_extract_string(json, '$.\"{c}\"') AS {quote_ident(c)}" for c in canonical)
    return con.sql(f"SELECT {values}, _line FROM {rows}").to_arrow_table()
