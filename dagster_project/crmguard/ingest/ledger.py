"""The load ledger: what was loaded, from which bytes, when, and with what result.

A file is identified by the SHA-256 of its bytes, so the same content is loaded once even when it
arrives again under another name. The ledger row is written in the same transaction as the data it
describes, so "in the ledger" and "in the tables" can never disagree.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

STATUS_LOADED, STATUS_REJECTED, STATUS_SKIPPED = "loaded", "rejected", "skipped"


@dataclass(frozen=True)
class Source:
    """One input as the ledger records it: a file, or a snapshot directory hashed as a whole."""

    path: str
    kind: str  # actions | snapshot | otlp
    sha256: str
    size_bytes: int


@dataclass
class FileResult:
    """The outcome of one input; `to_json` gives exactly the keys of CONTRACTS.md section 5."""

    path: str
    sha256: str
    kind: str
    status: str
    lines: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicates: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path, "sha256": self.sha256, "lines": self.lines, "loaded": self.loaded,
            "rejected": self.rejected, "duplicates": self.duplicates, "status": self.status,
        }


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def new_load_id() -> str:
    """A load id that sorts by time and never collides (UTC stamp + random suffix)."""
    return f"{utc_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


def utc_now() -> datetime:
    """Naive UTC, the way the raw layer stores every timestamp."""
    return datetime.now(UTC).replace(tzinfo=None)


def loaded_before(con: duckdb.DuckDBPyConnection, sha256: str) -> str | None:
    """The load id that already stored these exact bytes, if any."""
    row = con.execute(
        "SELECT load_id FROM raw.load_ledger WHERE sha256 = ? AND status = 'loaded' ORDER BY started_at LIMIT 1",
        [sha256],
    ).fetchone()
    return row[0] if row else None


def record(con: duckdb.DuckDBPyConnection, load_id: str, source: Source, result: FileResult,
           started_at: datetime) -> None:
    """Write the ledger row (inside the caller's transaction when there is one)."""
    con.execute(
        "INSERT INTO raw.load_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [load_id, source.kind, source.path, source.sha256, source.size_bytes, result.lines, result.loaded,
         result.rejected, result.duplicates, result.status, result.error, started_at, utc_now()],
    )


def record_refusal(con: duckdb.DuckDBPyConnection, load_id: str, source: Source, error: str,
                   started_at: datetime) -> FileResult:
    """A whole input refused: one ledger row and one raw.rejects row (line NULL), committed together."""
    result = FileResult(source.path, source.sha256, source.kind, STATUS_REJECTED, error=error)
    with atomic(con):
        con.execute("INSERT INTO raw.rejects VALUES (?, ?, NULL, ?, NULL, ?)",
                    [load_id, source.path, error, utc_now()])
        record(con, load_id, source, result, started_at)
    return result


@contextmanager
def atomic(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: everything inside commits together or not at all (also on a crash)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
