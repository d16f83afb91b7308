"""Exactly-once ingestion of action logs, OTLP traces and CRM snapshots into the raw layer.

docs/raw-layer.md is the contract (tables and columns); docs/ingestion.md explains it for users.
`ingest_paths` is the entry point shared by the CLI and the Dagster assets; `load_action_lines` and
`load_snapshot` take Arrow tables, for adapters that produce native events or canonical rows.
"""

from crmguard.ingest.actions import load_action_lines
from crmguard.ingest.ledger import FileResult, Source
from crmguard.ingest.run import IngestResult, ingest_paths
from crmguard.ingest.schema import ensure_raw_schema
from crmguard.ingest.snapshots import Snapshot, SnapshotRejected, load_snapshot

__all__ = [
    "FileResult", "IngestResult", "Snapshot", "SnapshotRejected", "Source", "ensure_raw_schema",
    "ingest_paths", "load_action_lines", "load_snapshot",
]
