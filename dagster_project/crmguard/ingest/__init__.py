"""Exactly-once ingestion of action logs and CRM snapshots into the raw layer (docs/raw-layer.md)."""
