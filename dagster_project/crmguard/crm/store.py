"""The local CRM service's data: one SQLite file holding the canonical objects and a write log.

SQLite rather than DuckDB because this is an OLTP store written row by row by concurrent HTTP
requests, and because it must never be the warehouse (a CRM and its audit warehouse are different
systems; DuckDB allows one writer per file). Every applied write is logged with the caller's
`objectWriteTraceId`, which is how tests and the benchmark prove that no item was written twice.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from crmguard.crm.objects import CRM_OBJECTS, WRITE_ORDER, CrmObject
from crmguard.errors import BadInput
from crmguard.warehouse import quote_ident

DB_FILENAME = "crm.sqlite"
RESTORE_USER = {
    "user_id": "usr_crmguard_restore", "email": "restore@crmguard.invalid", "name": "crmguard restore",
    "role": "agent", "team": "revops", "is_agent": "true",
}
_SNAPSHOT_SUFFIXES = (".csv", ".parquet", ".jsonl")


def utc_now_text() -> str:
    """Now as a canonical CRM timestamp (second precision, UTC, 'Z')."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CrmStore:
    """Canonical CRM records in SQLite, safe to share between the service's request threads."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / DB_FILENAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode=wal")
        # WAL + NORMAL: a committed write survives the service being killed (not a power cut), which is
        # the failure the tests inject; FULL would fsync every request and cap the benchmark on disk.
        self._db.execute("pragma synchronous=normal")
        self._create_schema()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _create_schema(self) -> None:
        with self._lock:
            for obj in CRM_OBJECTS.values():
                cols = ", ".join(f"{quote_ident(c)} text" for c in obj.columns)
                self._db.execute(
                    f"create table if not exists {quote_ident(obj.name)} ({cols}, "
                    f"_archived integer not null default 0, primary key ({quote_ident(obj.id_column)}))"
                )
            self._db.execute(
                "create table if not exists write_log (seq integer primary key autoincrement, "
                "trace_id text, object text not null, record_id text not null, operation text not null, "
                "properties text not null, written_by text, written_at text not null)"
            )
            self._db.execute("create index if not exists write_log_trace on write_log (trace_id)")

    # -- seeding and exporting canonical snapshots (CONTRACTS.md section 2) --------------------------

    def seed(self, snapshot_dir: str | Path) -> dict[str, int]:
        """Replace the store's records with a canonical snapshot directory; returns rows per object."""
        snapshot_dir = Path(snapshot_dir)
        if not snapshot_dir.is_dir():
            raise BadInput(f"{snapshot_dir}: not a snapshot directory (expected crm/<YYYYMMDDTHHMMSSZ>/)")
        counts: dict[str, int] = {}
        for name in WRITE_ORDER:
            source = _snapshot_file(snapshot_dir, name)
            if source is None:
                continue
            counts[name] = self.replace_rows(CRM_OBJECTS[name], _read_snapshot_file(source, CRM_OBJECTS[name]))
        if not counts:
            raise BadInput(f"{snapshot_dir}: no object files (accounts.csv, contacts.parquet, ...) found")
        self.replace_rows(CRM_OBJECTS["users"], [tuple(RESTORE_USER[c] for c in CRM_OBJECTS["users"].columns)],
                          keep_existing=True)
        return counts

    def replace_rows(self, obj: CrmObject, rows: Sequence[tuple], keep_existing: bool = False) -> int:
        """Load rows (canonical column order); drops the object's previous rows unless keep_existing."""
        marks = ", ".join("?" for _ in obj.columns)
        cols = ", ".join(quote_ident(c) for c in obj.columns)
        with self._lock:
            self._db.execute("begin")
            if not keep_existing:
                self._db.execute(f"delete from {quote_ident(obj.name)}")
            self._db.executemany(
                f"insert or replace into {quote_ident(obj.name)} ({cols}) values ({marks})", rows
            )
            self._db.execute("commit")
        return len(rows)

    def export(self, out_root: str | Path, captured_at: datetime | None = None) -> Path:
        """Write the live state as a canonical snapshot `out_root/crm/<YYYYMMDDTHHMMSSZ>/` and return it."""
        stamp = (captured_at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        target = Path(out_root) / "crm" / stamp
        if target.exists():
            raise BadInput(f"{target} already exists: snapshots are immutable, export again a second later")
        staging = target.with_name(f".{stamp}.partial")
        staging.mkdir(parents=True, exist_ok=False)
        counts = {}
        for name in WRITE_ORDER:
            obj = CRM_OBJECTS[name]
            if not obj.in_snapshots:
                continue
            rows = self.rows(obj)
            with open(staging / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(obj.columns)
                writer.writerows(rows)
            counts[name] = len(rows)
        manifest = {"captured_at": f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z",
                    "source": "crmguard-local-crm", "row_counts": counts}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        staging.rename(target)  # a reader never sees a half-written snapshot
        return target

    def rows(self, obj: CrmObject) -> list[tuple]:
        """Every live (not archived) record of an object, ordered by id."""
        cols = ", ".join(quote_ident(c) for c in obj.columns)
        with self._lock:
            return self._db.execute(
                f"select {cols} from {quote_ident(obj.name)} where _archived = 0 "
                f"order by {quote_ident(obj.id_column)}"
            ).fetchall()

    # -- record access used by the HTTP layer ------------------------------------------------------

    def read(self, obj: CrmObject, ids: Iterable[str]) -> dict[str, dict[str, str | None]]:
        """Live records by id (archived and unknown ids are absent)."""
        ids = list(ids)
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        cols = ", ".join(quote_ident(c) for c in obj.columns)
        with self._lock:
            found = self._db.execute(
                f"select {cols} from {quote_ident(obj.name)} where _archived = 0 "
                f"and {quote_ident(obj.id_column)} in ({marks})", ids
            ).fetchall()
        return {row[0]: dict(zip(obj.columns, row, strict=True)) for row in found}

    def write(self, obj: CrmObject, operation: str, items: Sequence[tuple[str, dict, str | None]],
              user: str) -> dict[str, dict[str, str | None]]:
        """Apply updates or creates in one transaction, log each with its trace id; returns new records.

        `items` are (record id, canonical properties, trace id). An update of an unknown or archived id
        is the caller's to refuse beforehand; here it would simply change nothing.
        """
        now = utc_now_text()
        with self._lock:
            self._db.execute("begin")
            for record_id, props, trace_id in items:
                stamped = {**props, "updated_at": now, "updated_by": user}
                if operation == "create":
                    values = {c: None for c in obj.columns} | stamped | {obj.id_column: record_id}
                    cols = ", ".join(quote_ident(c) for c in values)
                    self._db.execute(
                        f"insert or replace into {quote_ident(obj.name)} ({cols}, _archived) "
                        f"values ({', '.join('?' for _ in values)}, 0)", list(values.values())
                    )
                elif operation == "archive":
                    self._db.execute(
                        f"update {quote_ident(obj.name)} set _archived = 1 where {quote_ident(obj.id_column)} = ?",
                        [record_id],
                    )
                else:
                    sets = ", ".join(f"{quote_ident(c)} = ?" for c in stamped)
                    self._db.execute(
                        f"update {quote_ident(obj.name)} set {sets} where {quote_ident(obj.id_column)} = ?",
                        [*stamped.values(), record_id],
                    )
                self._db.execute(
                    "insert into write_log (trace_id, object, record_id, operation, properties, written_by, "
                    "written_at) values (?, ?, ?, ?, ?, ?, ?)",
                    [trace_id, obj.name, record_id, operation, json.dumps(props, sort_keys=True), user, now],
                )
            self._db.execute("commit")
        return self.read(obj, [i[0] for i in items])

    def write_counts(self) -> dict[str, int]:
        """Applied writes per trace id (a restore item's idempotency key); >1 means a duplicate write."""
        with self._lock:
            rows = self._db.execute(
                "select trace_id, count(*) from write_log where trace_id is not null group by trace_id"
            ).fetchall()
        return dict(rows)


def _snapshot_file(snapshot_dir: Path, name: str) -> Path | None:
    for suffix in _SNAPSHOT_SUFFIXES:
        candidate = snapshot_dir / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return None


def _read_snapshot_file(path: Path, obj: CrmObject) -> list[tuple]:
    """Rows of one snapshot file as canonical text tuples; a missing column is a one-line error."""
    reader = {
        ".csv": "read_csv(?, all_varchar = true, header = true)",
        ".parquet": "read_parquet(?)",
        ".jsonl": "read_json(?, format = 'newline_delimited')",
    }[path.suffix]
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        present = {r[0] for r in con.execute(f"describe select * from {reader}", [str(path)]).fetchall()}
        missing = [c for c in obj.columns if c not in present]
        if missing:
            raise BadInput(f"{path}: missing column(s) {', '.join(missing)} for object {obj.name}")
        cols = ", ".join(f"cast({quote_ident(c)} as varchar)" for c in obj.columns)
        # Values are kept as exported (text), so an export of an untouched store equals its seed.
        rows = con.execute(f"select {cols} from {reader}", [str(path)]).fetchall()
    finally:
        con.close()
    return rows
