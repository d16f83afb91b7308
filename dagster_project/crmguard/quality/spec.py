"""The vocabulary of the suite definitions in `expectations/`: one `Suite` per guarded table.

A suite is a real GX `ExpectationSuite`; every expectation carries its own GX `severity`
(critical / warning) and, in `meta`, a stable `name` and a `category`, so the definition in
`expectations/` is the single source of truth for the runner, the Dagster checks and docs/checks.md.

Custom SQL checks use `UnexpectedRowsExpectation`. Their query reads the guarded rows as `{batch}`
(the whole table on a full sweep, only the rows changed since the last run incrementally) and must
return the offending id in its first column; GX keeps at most 200 of those rows as evidence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import great_expectations as gx
import great_expectations.expectations as gxe

Severity = Literal["critical", "warning"]
Category = Literal["schema", "referential", "business", "post_action", "audit_trail"]
CRITICAL: Severity = "critical"
WARNING: Severity = "warning"
SAMPLE_SIZE = 10


@dataclass(frozen=True)
class Suite:
    """The expectations guarding one warehouse table (one GX suite, one Dagster asset check).

    `watermark` is a SQL expression over the table's columns that grows when a row changes; the
    incremental run validates rows whose watermark is newer than the last successful run's. A suite
    without one is always swept in full. `also_recheck` holds SQL predicates over the table's rows,
    with `{since}` standing for that watermark, selecting unchanged rows whose verdict may still have
    changed because a row they refer to changed (an enrollment whose contact just unsubscribed).
    """

    name: str
    table: str
    key: str
    watermark: str | None
    asset_key: tuple[str, ...]
    description: str
    expectations: Sequence[gxe.Expectation] = field(default_factory=tuple)
    also_recheck: Sequence[str] = field(default_factory=tuple)

    @property
    def schema(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".", 1)[1]

    def gx_suites(self) -> list[tuple[bool, dict, gx.ExpectationSuite]]:
        """Fresh GX suites (GX binds a suite to one context), one per (metadata?, result format).

        Column-type checks read the table's catalog, which GX can only do on a table asset; row checks
        run on the (possibly incremental) query batch. GX applies one result format per validation
        and ignores an expectation's own, so expectations are grouped by the format they declare.
        """
        groups: dict[tuple[bool, str], list[gxe.Expectation]] = {}
        for expectation in self.expectations:
            fmt = json.dumps(expectation.result_format, sort_keys=True)
            groups.setdefault((is_metadata_check(expectation), fmt), []).append(expectation.copy(deep=True))
        return [
            (metadata, json.loads(fmt), gx.ExpectationSuite(name=f"{self.name}__{i}", expectations=chosen))
            for i, ((metadata, fmt), chosen) in enumerate(sorted(groups.items()))
        ]


def is_metadata_check(expectation: gxe.Expectation) -> bool:
    return isinstance(expectation, gxe.ExpectColumnValuesToBeOfType)


def expectation_name(expectation: gxe.Expectation) -> str:
    return str((expectation.meta or {})["name"])


def expectation_category(expectation: gxe.Expectation) -> str:
    return str((expectation.meta or {})["category"])


def _meta(name: str, category: Category) -> dict[str, str]:
    return {"name": name, "category": category}


def _column_result_format(key: str) -> dict:
    """SUMMARY plus the offending rows' key, so a failure names sample ids, not only values."""
    return {"result_format": "SUMMARY", "unexpected_index_column_names": [key], "partial_unexpected_count": SAMPLE_SIZE}


def not_null(key: str, column: str, severity: Severity = CRITICAL, why: str = "") -> gxe.Expectation:
    return gxe.ExpectColumnValuesToNotBeNull(
        column=column, severity=severity, meta=_meta(f"{column}_not_null", "schema"),
        description=why or f"every row has a {column}", result_format=_column_result_format(key),
    )


def unique(key: str, column: str, severity: Severity = CRITICAL, why: str = "") -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeUnique(
        column=column, severity=severity, meta=_meta(f"{column}_unique", "schema"),
        description=why or f"{column} identifies one row", result_format=_column_result_format(key),
    )


def in_set(key: str, column: str, values: Sequence[str], severity: Severity = CRITICAL, why: str = "") -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(
        column=column, value_set=list(values), severity=severity, meta=_meta(f"{column}_known", "schema"),
        description=why or f"{column} is one of {', '.join(values)}", result_format=_column_result_format(key),
    )


def between(
    key: str, column: str, name: str, min_value: float | None, max_value: float | None,
    category: Category = "business", severity: Severity = CRITICAL, why: str = "",
) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=min_value, max_value=max_value, severity=severity,
        meta=_meta(name, category), description=why or f"{column} within [{min_value}, {max_value}]",
        result_format=_column_result_format(key),
    )


def of_type(column: str, type_name: str, severity: Severity = CRITICAL) -> gxe.Expectation:
    """Column type as GX reports it on DuckDB: INTEGER, BOOLEAN, TIMESTAMP, DATE, and `Numeric` for
    DECIMAL (GX has no DuckDB dialect module and falls back to SQLAlchemy's generic type names)."""
    return gxe.ExpectColumnValuesToBeOfType(
        column=column, type_=type_name, severity=severity, meta=_meta(f"{column}_is_{type_name.lower()}", "schema"),
        description=f"{column} is stored as {type_name}",
    )


def no_rows(name: str, category: Category, query: str, why: str, severity: Severity = CRITICAL) -> gxe.Expectation:
    """A SQL check: `query` selects the offending rows of `{batch}`, offending id first."""
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=query, severity=severity, meta=_meta(name, category), description=why,
        result_format={"result_format": "COMPLETE"},
    )
