"""Rollback: restore plans from SCD2 history and attribution, approvals bound to the plan hash,
audited reverse-ETL apply through a CRM adapter, and verified receipts (docs/restore.md)."""
