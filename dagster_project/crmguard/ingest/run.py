"""`ingest_paths`: the one entry point the CLI and the Dagster assets share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from crmguard.adapters.crm_exports import CrmMapping, load_mapping
from crmguard.adapters.otlp import map_otlp_file
from crmguard.errors import BadInput
from crmguard.ingest.actions import (
    Progress,
    decompress,
    file_source,
    load_action_lines,
    split_lines,
    streamed_source,
)
from crmguard.ingest.discover import Input, discover
from crmguard.ingest.ledger import (
    STATUS_REJECTED,
    STATUS_SKIPPED,
    FileResult,
    Source,
    loaded_before,
    new_load_id,
    record_refusal,
    utc_now,
)
from crmguard.ingest.schema import ensure_raw_schema
from crmguard.ingest.snapshots import load_snapshot, read_snapshot, snapshot_source
from crmguard.warehouse import connect


@dataclass
class IngestResult:
    """Per-input outcomes and totals; `to_json` is CONTRACTS.md section 5 `ingest`, key for key."""

    files: list[FileResult] = field(default_factory=list)

    @property
    def refused(self) -> list[FileResult]:
        """Inputs refused as a whole (a broken snapshot, an unreadable gzip): bad input, exit 2."""
        return [f for f in self.files if f.status == STATUS_REJECTED]

    def to_json(self) -> dict[str, object]:
        return {
            "files": [f.to_json() for f in self.files],
            "loaded": sum(f.loaded for f in self.files),
            "rejected": sum(f.rejected for f in self.files),
            "duplicates": sum(f.duplicates for f in self.files),
            "skipped_files": sum(f.status == STATUS_SKIPPED for f in self.files),
        }


def ingest_paths(warehouse: str | Path | duckdb.DuckDBPyConnection | None, paths: list[Path] | list[str],
                 progress: Progress | None = None, *, mapping: str | Path | None = None,
                 tool_mapping: str | Path | None = None) -> IngestResult:
    """Ingest every input under `paths` exactly once (sorted order), each in its own transaction.

    `warehouse`: an open connection, or a warehouse path (None: the configured default). A missing
    path raises BadInput before anything is written. `mapping`: snapshots are Salesforce/HubSpot
    exports (salesforce, hubspot or a YAML file, docs/mappings.md); `tool_mapping`: the per-tool
    target/changes mapping for OTLP traces (docs/otel.md).
    """
    inputs = discover([Path(p) for p in paths])
    adapters = Adapters(load_mapping(mapping) if mapping else None, tool_mapping)
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _ingest(warehouse, inputs, progress, adapters)
    with connect(warehouse) as con:
        return _ingest(con, inputs, progress, adapters)


def _ingest(con: duckdb.DuckDBPyConnection, inputs: list[Input], progress: Progress | None,
            adapters: Adapters) -> IngestResult:
    ensure_raw_schema(con)
    result = IngestResult()
    for number, item in enumerate(inputs, 1):
        if progress:
            progress(f"[{number}/{len(inputs)}] {item.kind} {item.path}")
        result.files.append(ingest_one(con, item, progress, adapters))
    return result


@dataclass(frozen=True)
class Adapters:
    """How non-native inputs are mapped: the CRM export mapping and the OTLP tool mapping (issue 8)."""

    mapping: CrmMapping | None = None
    tool_mapping: str | Path | None = None


def ingest_one(con: duckdb.DuckDBPyConnection, item: Input, progress: Progress | None = None,
               adapters: Adapters = Adapters()) -> FileResult:
    """One input: skipped when its bytes are in the ledger, refused whole on bad input, else loaded."""
    started_at, load_id = utc_now(), new_load_id()
    source = snapshot_source(item.path) if item.kind == "snapshot" else streamed_source(item.path, item.kind)
    if loaded_before(con, source.sha256):
        return FileResult(source.path, source.sha256, source.kind, STATUS_SKIPPED)
    try:
        if item.kind == "snapshot":
            return load_snapshot(con, read_snapshot(con, item.path, adapters.mapping), source, load_id)
        if item.kind == "otlp":
            return _load_otlp(con, item.path, source, load_id, progress, adapters.tool_mapping)
        stored = item.path.read_bytes()
        if file_source(item.path, stored).sha256 != source.sha256:
            raise BadInput(f"{item.path}: changed while being read (still being written?); ingest it again")
        lines, open_last = split_lines(decompress(item.path, stored))
        del stored  # the decompressed lines are what the load needs; free the file's bytes early
        return load_action_lines(con, lines, source, load_id, open_last_line=open_last, progress=progress)
    except BadInput as exc:
        if progress:
            progress(f"  refused: {exc}")
        return record_refusal(con, load_id, source, str(exc), started_at)


def _load_otlp(con: duckdb.DuckDBPyConnection, path: Path, source: Source, load_id: str,
               progress: Progress | None, tool_mapping: str | Path | None = None) -> FileResult:
    """OTLP traces mapped onto native events (crmguard.adapters.otlp), then loaded like a native log."""
    mapped = map_otlp_file(path, tool_mapping)
    lines = pa.table({"line_no": mapped.events["line"], "text": mapped.events["event_json"]})
    return load_action_lines(con, lines, source, load_id, source_format="otlp",
                             adapter_rejects=mapped.rejects, progress=progress)
