"""Which audit tables carry the hash chain and go into exports, and how to read each one.

The audit facts are built by several capabilities (dbt marts, policy, checks, restore) that land at
different times. The chain and the exports therefore work on whichever registered tables exist: a
table that is not built yet is skipped and reported, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from crmguard.warehouse import quote_ident


@dataclass(frozen=True)
class PiiJsonKeys:
    """A JSON object column whose listed top-level keys hold personal data (e.g. `input.to`)."""

    column: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class PiiChanges:
    """A JSON list of `{object_type, object_id, field, old, new}` whose values are personal data
    when `field` is one of the listed fields."""

    column: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class PiiFieldValues:
    """Value columns that hold personal data when the row's `field_column` names a PII field."""

    field_column: str
    value_columns: tuple[str, ...]
    fields: tuple[str, ...]


@dataclass(frozen=True)
class PiiColumn:
    """A column that is personal data as a whole (an email address, a person's name)."""

    column: str


PiiSpec = PiiJsonKeys | PiiChanges | PiiFieldValues | PiiColumn


@dataclass(frozen=True)
class AuditTable:
    """One audit table: its key (unique per row), the time that places a row in a day, its PII."""

    schema: str
    table: str
    key_columns: tuple[str, ...]
    time_column: str
    pii: tuple[PiiSpec, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        """Qualified name, also the stem of the exported file (`restore.restore_writes`)."""
        return f"{self.schema}.{self.table}"

    @property
    def relation(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.table)}"

    def required_columns(self) -> set[str]:
        return {*self.key_columns, self.time_column}


# Field names whose values identify a person (contacts: email and names; users: email and name).
PII_FIELDS = ("email", "first_name", "last_name", "name", "from_address", "to", "to_address")
# Top-level keys of a tool call's `input` that carry a person's address or name.
PII_INPUT_KEYS = ("to", "to_address", "email", "from_address", "first_name", "last_name", "contact_name", "cc")

REGISTRY: tuple[AuditTable, ...] = (
    AuditTable(
        "main",
        "fct_agent_actions",
        ("event_id",),
        "occurred_at",
        (PiiJsonKeys("input", PII_INPUT_KEYS), PiiChanges("changes", PII_FIELDS)),
    ),
    AuditTable("main", "fct_approvals", ("approval_id",), "requested_at"),
    AuditTable("main", "fct_stop_events", ("event_id",), "occurred_at"),
    # Violations, not every verdict: fct_policy_verdicts is a view (a row per call and rule, nearly all
    # passes) recomputed from chained facts and the versioned policy; the violations are the persisted facts.
    AuditTable("main", "fct_policy_violations", ("violation_id",), "occurred_at"),
    AuditTable("main", "fct_stops", ("stop_id",), "fired_at"),
    AuditTable("main", "fct_check_results", ("run_id", "suite", "expectation"), "checked_at"),
    # Restore writes: one row per item outcome (attempted, written, skipped, conflict, failed). The live
    # value can be any CRM field, an email included, so it is always pseudonymized.
    AuditTable("restore", "plans", ("plan_id",), "created_at"),
    AuditTable("restore", "approvals", ("approval_id",), "approved_at"),
    AuditTable("restore", "apply_log", ("apply_id", "item_no", "outcome", "logged_at"), "logged_at",
               (PiiColumn("live_value"),)),
    AuditTable("restore", "receipts", ("receipt_id",), "verified_at"),
)


def table_columns(con: duckdb.DuckDBPyConnection, table: AuditTable) -> list[str]:
    """The table's columns in table order; empty when the table does not exist."""
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [table.schema, table.table],
    ).fetchall()
    return [r[0] for r in rows]


def present_tables(
    con: duckdb.DuckDBPyConnection, registry: tuple[AuditTable, ...] = REGISTRY
) -> tuple[list[tuple[AuditTable, list[str]]], dict[str, str]]:
    """The registered tables that exist with their key and time columns, plus why others were skipped."""
    present: list[tuple[AuditTable, list[str]]] = []
    skipped: dict[str, str] = {}
    for table in registry:
        columns = table_columns(con, table)
        if not columns:
            skipped[table.name] = "not built yet"
            continue
        missing = sorted(table.required_columns() - set(columns))
        if missing:
            skipped[table.name] = f"missing column(s) {', '.join(missing)}"
            continue
        present.append((table, columns))
    return present, skipped
