"""Runs the suites: plan (full or incremental per suite), validate with GX in DuckDB SQL, store results.

The warehouse is opened three times in sequence, never twice at once: to plan (read watermarks),
by GX (its own persisted SQLAlchemy connection, closed by `gx_session`), and to store the results.
DuckDB refuses two connections with different configurations to one file in one process.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
from great_expectations.core import ExpectationValidationResult
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.datasource.fluent.interfaces import Batch

from crmguard.errors import BadInput
from crmguard.paths import warehouse_path
from crmguard.quality import store
from crmguard.quality.catalog import select_suites
from crmguard.quality.gx_duckdb import gx_session
from crmguard.quality.spec import (
    COUNT_FORMAT,
    CRITICAL,
    SAMPLE_SIZE,
    ExpectNoOffendingRows,
    Suite,
    evidence,
    expectation_category,
    expectation_name,
)
from crmguard.warehouse import connect, table_exists

FULL, INCREMENTAL, UNCHANGED = "full", "incremental", "unchanged"


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict in one run, as stored and printed."""

    expectation: str
    expectation_type: str
    category: str
    severity: str
    success: bool
    observed: Any
    unexpected_count: int | None
    sample_ids: list[str]

    def failure_json(self) -> dict[str, Any]:
        return {"expectation": self.expectation, "severity": self.severity, "observed": self.observed,
                "unexpected_count": self.unexpected_count, "sample_ids": self.sample_ids}


@dataclass(frozen=True)
class SuiteRun:
    """One suite's run: which rows it covered and every expectation's outcome."""

    name: str
    mode: str
    rows_checked: int
    watermark_from: datetime | None
    watermark_to: datetime | None
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def success(self) -> bool:
        """A suite passes when no critical expectation failed; warnings are reported, not blocking."""
        return not any(o.severity == CRITICAL for o in self.failed)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "success": self.success, "mode": self.mode, "rows_checked": self.rows_checked,
                "expectations": len(self.outcomes), "failed": [o.failure_json() for o in self.failed]}


@dataclass(frozen=True)
class CheckReport:
    """Everything one `crmguard check` run decided (CONTRACTS.md section 5 `check`, plus run_id)."""

    run_id: str
    suites: list[SuiteRun]

    @property
    def success(self) -> bool:
        return all(s.success for s in self.suites)

    def to_json(self) -> dict[str, Any]:
        return {"success": self.success, "run_id": self.run_id, "suites": [s.to_json() for s in self.suites]}


@dataclass(frozen=True)
class _Plan:
    suite: Suite
    since: datetime | None
    upper: datetime | None
    rows: int

    @property
    def mode(self) -> str:
        if self.since is None:
            return FULL
        return INCREMENTAL if self.rows else UNCHANGED

    def batch_query(self) -> str:
        """The whole table, or on an incremental run the changed rows materialized by `_plan`."""
        return f"select * from {self.suite.table if self.since is None else store.batch_table(self.suite.name)}"


def changed_rows(suite: Suite, since: datetime) -> str:
    """SQL predicate: rows changed after `since`, rows without a watermark, and rows to recheck."""
    literal = f"timestamp '{since.isoformat(sep=' ')}'"
    predicates = [f"({suite.watermark}) > {literal}", f"({suite.watermark}) is null"]
    predicates += [f"({p.format(since=literal)})" for p in suite.also_recheck]
    return " or ".join(predicates)


def run_checks(warehouse: str | Path | None = None, suites: list[str] | None = None, full: bool = False,
               progress: Callable[[str], None] = lambda _: None) -> CheckReport:
    """Validate the named suites (all by default) and store the results; incremental unless `full`.

    `progress` receives one line per suite before it is validated (the CLI prints them on stderr).
    """
    path = warehouse_path(warehouse)
    chosen = select_suites(suites)
    run_id = f"chk_{datetime.now(UTC):%Y%m%dT%H%M%SZ}_{uuid.uuid4().hex[:8]}"
    with connect(path) as con:
        store.ensure_store(con)
        store.drop_batches(con)  # left over by a run that died before storing its results
        plans = [_plan(con, suite, full) for suite in chosen]
    started = _utc_now()
    with gx_session(path) as (_context, datasource):
        runs = []
        for plan in plans:
            progress(f"  {plan.suite.name}: {plan.mode}, {plan.rows} rows")
            runs.append(_validate(datasource, plan))
    finished = _utc_now()
    with connect(path) as con:
        store.save_run(con, *_store_rows(run_id, runs, started, finished))
        store.drop_batches(con)
    return CheckReport(run_id=run_id, suites=runs)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _plan(con, suite: Suite, full: bool) -> _Plan:
    """Decide what the suite validates: rows newer than the last successful watermark, else everything."""
    if not table_exists(con, suite.schema, suite.table_name):
        raise BadInput(f"suite {suite.name}: table {suite.table} does not exist; run `crmguard build` first")
    try:
        return _plan_rows(con, suite, full)
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0]
        raise BadInput(f"suite {suite.name}: {suite.table} does not have the documented columns ({reason}); "
                       "rebuild it with `crmguard build`") from None


def _plan_rows(con, suite: Suite, full: bool) -> _Plan:
    """The watermark range and the rows to validate (materialized when incremental)."""
    since = None if full else store.last_success_watermark(con, suite.name)
    if since is None:
        upper = con.execute(f"select max({suite.watermark}) from {suite.table}").fetchone()[0]
        return _Plan(suite, None, upper, _count(con, suite.table))
    # Materialized once: every GX metric re-reads its batch, and re-filtering the whole table for
    # each of them would cost as much as the full sweep. Every row newer than `since` is in the
    # batch, so the batch's newest watermark is the table's: no second scan of the whole table.
    batch = store.batch_table(suite.name)
    con.execute(f"create or replace table {batch} as select * from {suite.table} where {changed_rows(suite, since)}")
    rows, upper = con.execute(f"select count(*), max({suite.watermark}) from {batch}").fetchone()
    return _Plan(suite, since, max(upper, since) if upper else since, int(rows))


def _count(con, table: str) -> int:
    return int(con.execute(f"select count(*) from {table}").fetchone()[0])


def _validate(datasource: SQLDatasource, plan: _Plan) -> SuiteRun:
    """Run the suite's GX expectations on the planned batch (skipped when nothing changed).

    Types are read on the table asset (catalog metadata, table-level: full sweeps only, and dbt
    contracts pin mart types between them), rows on the planned query batch; the failed row checks
    are validated once more to collect their offending ids (`spec.evidence`).
    """
    run = SuiteRun(plan.suite.name, plan.mode, plan.rows, plan.since, plan.upper)
    if plan.mode == UNCHANGED:
        return run
    suite = plan.suite
    types = suite.gx_suite(metadata=True)
    if types is not None and plan.mode == FULL:
        table = datasource.add_table_asset(name=types.name, table_name=suite.table_name, schema_name=suite.schema)
        run.outcomes.extend(_outcome(r) for r in _batch(table).validate(types, result_format=COUNT_FORMAT).results)
    rows = suite.gx_suite(metadata=False)
    if rows is not None:
        batch = _batch(datasource.add_query_asset(name=rows.name, query=plan.batch_query()))
        results = batch.validate(rows, result_format=COUNT_FORMAT).results
        samples = _samples(batch, suite, [r for r in results if _failed_cleanly(r)])
        run.outcomes.extend(_outcome(r, samples.get(_name_of(r), [])) for r in results)
    run.outcomes.sort(key=lambda o: o.expectation)
    return run


def _batch(asset) -> Batch:
    return asset.add_batch_definition_whole_table("batch").get_batch()


def _failed_cleanly(result: ExpectationValidationResult) -> bool:
    return not result.success and not result.exception_info.get("raised_exception")


def _name_of(result: ExpectationValidationResult) -> str:
    return expectation_name(result.expectation_config.to_domain_obj())


def _samples(batch: Batch, suite: Suite, failed: list[ExpectationValidationResult]) -> dict[str, list]:
    """Offending ids of the failed checks: their evidence twins, one validation per result format."""
    groups: dict[str, tuple[dict, list]] = {}
    for result in failed:
        twin, fmt = evidence(result.expectation_config.to_domain_obj(), suite.key)
        groups.setdefault(fmt["result_format"], (fmt, []))[1].append(twin)
    samples: dict[str, list] = {}
    for fmt, twins in groups.values():
        evidence_suite = gx.ExpectationSuite(name=f"{suite.name}__evidence_{fmt['result_format']}", expectations=twins)
        for result in batch.validate(evidence_suite, result_format=fmt).results:
            samples[_name_of(result)] = _offending_ids(result)
    return samples


def _offending_ids(result: ExpectationValidationResult) -> list:
    body = result.result or {}
    if "details" in body:  # UnexpectedRowsExpectation: the query's first column is the offending id
        return [next(iter(row.values())) for row in body["details"].get("unexpected_rows") or []]
    key = (body.get("unexpected_index_column_names") or [None])[0]
    return [row.get(key) for row in body.get("partial_unexpected_index_list") or []]


def _outcome(result: ExpectationValidationResult, samples: list | None = None) -> Outcome:
    """Flatten a GX result: observed value, unexpected count and a sorted sample of offending ids."""
    expectation = result.expectation_config.to_domain_obj()
    observed, count = _observed(result)
    return Outcome(
        expectation=expectation_name(expectation), expectation_type=expectation.expectation_type,
        category=expectation_category(expectation), severity=str(expectation.severity.value),
        success=bool(result.success), observed=observed, unexpected_count=count,
        sample_ids=sorted({str(s) for s in samples or [] if s is not None})[:SAMPLE_SIZE],
    )


def _observed(result: ExpectationValidationResult) -> tuple[Any, int | None]:
    """(observed, unexpected count) from the shapes of GX result the suites produce."""
    body = result.result or {}
    if result.exception_info.get("raised_exception"):
        message = str(result.exception_info.get("exception_message", "")).splitlines()[0]
        return f"error: {message}", None
    if "unexpected_count" in body:  # column map: the offending values
        return sorted({str(v) for v in body.get("partial_unexpected_list", [])}), body["unexpected_count"]
    if isinstance(result.expectation_config.to_domain_obj(), ExpectNoOffendingRows):
        return body.get("observed_value"), body.get("observed_value")
    return body.get("observed_value"), None  # column type


def _store_rows(run_id: str, runs: list[SuiteRun], started: datetime, finished: datetime) -> tuple[list, list]:
    suite_rows = [
        {"run_id": run_id, "suite": r.name, "mode": r.mode, "started_at": started, "finished_at": finished,
         "success": r.success, "rows_checked": r.rows_checked, "watermark_from": r.watermark_from,
         "watermark_to": r.watermark_to}
        for r in runs
    ]
    result_rows = [
        {"run_id": run_id, "suite": r.name, "expectation": o.expectation, "expectation_type": o.expectation_type,
         "category": o.category, "severity": o.severity, "success": o.success,
         "observed": json.dumps(o.observed, sort_keys=True, default=str), "unexpected_count": o.unexpected_count,
         "sample_ids": json.dumps(o.sample_ids), "checked_at": finished}
        for r in runs for o in r.outcomes
    ]
    return suite_rows, result_rows
