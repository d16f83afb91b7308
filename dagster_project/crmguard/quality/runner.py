"""Runs the suites: plan (full or incremental per suite), screen, validate with GX in DuckDB SQL, store.

A full sweep validates every expectation with GX. An incremental run reads each changed suite's
rows once and counts every row check's offending rows over them, all in one SQL query
(`quality.screen`), and hands GX only the checks that query flagged, on a copy of their batch in
the warehouse; the others are stored as the pass GX would report.

The warehouse is opened at most three times in sequence, never twice at once: to plan and screen,
by GX (its own persisted SQLAlchemy connection, closed by `gx_session`), and to store the results.
DuckDB refuses two connections with different configurations to one file in one process. When
nothing needs GX the first connection stores the results and GX is never started.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.core import ExpectationValidationResult
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.datasource.fluent.interfaces import Batch

from crmguard.errors import BadInput
from crmguard.paths import warehouse_path
from crmguard.quality import store
from crmguard.quality.catalog import select_suites
from crmguard.quality.gx_duckdb import gx_session
from crmguard.quality.screen import changed_rows_screen_sql, row_checks
from crmguard.quality.spec import (
    COUNT_FORMAT,
    CRITICAL,
    SAMPLE_SIZE,
    VERDICT_FORMAT,
    ExpectNoOffendingRows,
    Suite,
    evidence,
    expectation_category,
    expectation_name,
)
from crmguard.warehouse import connect

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
    """What one suite validates in this run.

    `screened` (incremental runs) holds each row check's offending-row count from the SQL screen;
    None when the suite was not screened (full sweeps, `prescreen=False`, or a screen that could not
    run), in which case GX validates every expectation.
    """

    suite: Suite
    since: datetime | None
    upper: datetime | None
    rows: int
    screened: dict[str, int] | None = None

    @property
    def mode(self) -> str:
        if self.since is None:
            return FULL
        return INCREMENTAL if self.rows else UNCHANGED

    @property
    def for_gx(self) -> set[str] | None:
        """Names of the row checks GX must validate: all (None), or those the screen flagged."""
        if self.screened is None:
            return None
        return {name for name, unexpected in self.screened.items() if unexpected}

    @property
    def needs_gx(self) -> bool:
        return self.mode != UNCHANGED and self.for_gx != set()

    def batch_query(self) -> str:
        """The whole table, or on an incremental run the changed rows written by `store.persist_batch`."""
        return f"select * from {self.suite.table if self.since is None else store.batch_table(self.suite.name)}"


def changed_rows(suite: Suite, seen: dict[str, datetime]) -> str:
    """SQL predicate: rows changed after the suite's last successful run, rows without a watermark,
    and rows to recheck.

    `seen` is what that run had seen (`store.last_success_watermarks`): the suite's own watermark
    under its name, and the other suites' validated in the same run. In `also_recheck` predicates
    `{since}` is the suite's own watermark and `{seen[other]}` the other suite's, falling back to
    `{since}` when that run did not validate it.
    """
    literal = _timestamp(seen[suite.name])
    seen_literals = _SeenLiterals({name: _timestamp(mark) for name, mark in seen.items()}, default=literal)
    predicates = [f"({suite.watermark}) > {literal}", f"({suite.watermark}) is null"]
    predicates += [f"({p.format(since=literal, seen=seen_literals)})" for p in suite.also_recheck]
    return " or ".join(predicates)


def _timestamp(moment: datetime) -> str:
    return f"timestamp '{moment.isoformat(sep=' ')}'"


class _SeenLiterals(dict):
    """Watermark literals by suite name; a suite the last run did not validate reads as `{since}`."""

    def __init__(self, literals: dict[str, str], default: str) -> None:
        super().__init__(literals)
        self.default = default

    def __missing__(self, suite: str) -> str:
        return self.default


def run_checks(warehouse: str | Path | None = None, suites: list[str] | None = None, full: bool = False,
               progress: Callable[[str], None] = lambda _: None, prescreen: bool = True) -> CheckReport:
    """Validate the named suites (all by default) and store the results; incremental unless `full`.

    Incremental runs screen the changed rows first (`quality.screen`: every row check's offending
    rows counted in one SQL query) and hand GX only the checks the screen flagged; with
    `prescreen=False` GX validates every expectation of every changed suite. When nothing was
    flagged, GX is not started and the warehouse is opened once.

    `progress` receives one line per suite before it is validated (the CLI prints them on stderr).
    """
    path = warehouse_path(warehouse)
    chosen = select_suites(suites)
    run_id = f"chk_{datetime.now(UTC):%Y%m%dT%H%M%SZ}_{uuid.uuid4().hex[:8]}"
    with connect(path) as con:
        present = store.existing_tables(con)
        store.ensure_store(con, present)
        store.drop_batches(con, present)  # left over by a run that died before storing its results
        seen = {} if full else store.last_success_watermarks(con)
        plans = _plan(con, chosen, present, seen, prescreen)
        for plan in plans:
            if plan.mode == INCREMENTAL and plan.needs_gx:  # GX reads it through its own connection
                store.persist_batch(con, plan.suite.name, _changed_rows_query(plan.suite, seen[plan.suite.name]))
        started = _utc_now()
        if not any(plan.needs_gx for plan in plans):
            runs = [_validate(None, plan, progress) for plan in plans]
            store.save_run(con, *_store_rows(run_id, runs, started, _utc_now()))
            return CheckReport(run_id=run_id, suites=runs)
    with gx_session(path) as (_context, datasource):
        runs = [_validate(datasource, plan, progress) for plan in plans]
    finished = _utc_now()
    with connect(path) as con:
        store.save_run(con, *_store_rows(run_id, runs, started, finished))
        store.drop_batches(con)
    return CheckReport(run_id=run_id, suites=runs)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _plan(con, suites: tuple[Suite, ...], present: set[str], seen: dict[str, dict[str, datetime]],
          prescreen: bool) -> list[_Plan]:
    """What each suite validates: everything when it has no successful run yet (or on `--full`), else
    the rows changed since, measured (and screened, unless `prescreen` is off) in one query."""
    for suite in suites:
        if suite.table not in present:
            raise BadInput(f"suite {suite.name}: table {suite.table} does not exist; run `crmguard build` first")
    changed = _plan_changed(con, [suite for suite in suites if suite.name in seen], seen, prescreen)
    return [changed[suite.name] if suite.name in changed else _plan_full(con, suite) for suite in suites]


def _plan_full(con, suite: Suite) -> _Plan:
    try:
        rows, upper = con.execute(f"select count(*), max({suite.watermark}) from {suite.table}").fetchone()
    except duckdb.Error as exc:
        raise _missing_columns(suite, exc) from None
    return _Plan(suite, None, upper, int(rows))


def _plan_changed(con, suites: list[Suite], seen: dict[str, dict[str, datetime]], prescreen: bool) -> dict[str, _Plan]:
    """The incremental suites' changed-row counts and newest watermarks, and (`prescreen`) every row
    check's offending-row count over those rows, from one query (`screen.changed_rows_screen_sql`).

    A screen that cannot run (a check reading a missing column, say) screens nothing: GX then validates
    every expectation and reports each one's error on its own. A suite whose changed rows cannot be
    read at all is named.
    """
    if not suites:
        return {}
    predicates = [(suite, changed_rows(suite, seen[suite.name])) for suite in suites]
    try:
        rows = con.execute(changed_rows_screen_sql(predicates, screen=prescreen)).fetchall()
    except duckdb.Error as exc:
        if prescreen:
            return _plan_changed(con, suites, seen, prescreen=False)
        for suite, predicate in predicates:
            try:
                con.execute(f"select count(*), max({suite.watermark}) from {suite.table} where {predicate}")
            except duckdb.Error as broken:
                raise _missing_columns(suite, broken) from None
        raise exc
    measured = {suite: (int(count), upper) for suite, expectation, count, upper in rows if expectation is None}
    counts: dict[str, dict[str, int]] = {suite.name: {} for suite in suites}
    for suite, expectation, unexpected, _ in rows:
        if expectation is not None:
            counts[suite][expectation] = int(unexpected)
    plans = {}
    for suite in suites:
        since = seen[suite.name][suite.name]
        count, upper = measured[suite.name]
        # every row newer than `since` is among the changed rows, so their newest watermark is the table's
        plans[suite.name] = _Plan(suite, since, max(upper, since) if upper else since, count,
                                  counts[suite.name] if prescreen else None)
    return plans


def _missing_columns(suite: Suite, exc: duckdb.Error) -> BadInput:
    reason = str(exc).splitlines()[0]
    return BadInput(f"suite {suite.name}: {suite.table} does not have the documented columns ({reason}); "
                    "rebuild it with `crmguard build`")


def _changed_rows_query(suite: Suite, seen: dict[str, datetime]) -> str:
    return f"select * from {suite.table} where {changed_rows(suite, seen)}"


def _validate(datasource: SQLDatasource | None, plan: _Plan, progress: Callable[[str], None]) -> SuiteRun:
    """Run the suite's GX expectations on the planned batch (skipped when nothing changed).

    Types are read on the table asset (catalog metadata, table-level: full sweeps only, and dbt
    contracts pin mart types between them), rows on the planned query batch; the failed row checks
    are validated once more to collect their offending ids (`spec.evidence`). Row checks the screen
    passed are recorded as GX reports a pass; only the flagged ones reach GX.
    """
    flagged = plan.for_gx
    screened = "" if flagged is None else f", {len(flagged)} flagged by the SQL screen"
    progress(f"  {plan.suite.name}: {plan.mode}, {plan.rows} rows{screened}")
    run = SuiteRun(plan.suite.name, plan.mode, plan.rows, plan.since, plan.upper)
    if plan.mode == UNCHANGED:
        return run
    suite = plan.suite
    if flagged is not None:
        run.outcomes.extend(_passed(e) for e in row_checks(suite) if expectation_name(e) not in flagged)
    types = suite.gx_suite(metadata=True)
    if types is not None and plan.mode == FULL:
        table = datasource.add_table_asset(name=types.name, table_name=suite.table_name, schema_name=suite.schema)
        run.outcomes.extend(_outcome(r) for r in _batch(table).validate(types, result_format=COUNT_FORMAT).results)
    rows = suite.gx_suite(metadata=False, only=flagged)
    if rows is not None:
        batch = _batch(datasource.add_query_asset(name=rows.name, query=plan.batch_query()))
        results = batch.validate(rows, result_format=VERDICT_FORMAT).results
        evidence = _evidence(batch, suite, [r for r in results if _failed_cleanly(r)])
        run.outcomes.extend(_row_outcome(r, evidence.get(_name_of(r))) for r in results)
    run.outcomes.sort(key=lambda o: o.expectation)
    return run


def _passed(expectation) -> Outcome:
    """A row check the screen found no offending row for, stored as GX stores a pass in BASIC format."""
    no_rows = isinstance(expectation, ExpectNoOffendingRows)
    return Outcome(
        expectation=expectation_name(expectation), expectation_type=expectation.expectation_type,
        category=expectation_category(expectation), severity=str(expectation.severity.value), success=True,
        observed=0 if no_rows else [], unexpected_count=0, sample_ids=[],
    )


def _batch(asset) -> Batch:
    return asset.add_batch_definition_whole_table("batch").get_batch()


def _failed_cleanly(result: ExpectationValidationResult) -> bool:
    return not result.success and not result.exception_info.get("raised_exception")


def _name_of(result: ExpectationValidationResult) -> str:
    return expectation_name(result.expectation_config.to_domain_obj())


def _evidence(batch: Batch, suite: Suite, failed: list[ExpectationValidationResult]
              ) -> dict[str, ExpectationValidationResult]:
    """The failed checks validated again as their evidence twins (one validation per result format):
    unexpected count, offending values and offending ids."""
    groups: dict[str, tuple[dict, list]] = {}
    for result in failed:
        twin, fmt = evidence(result.expectation_config.to_domain_obj(), suite.key)
        groups.setdefault(fmt["result_format"], (fmt, []))[1].append(twin)
    found: dict[str, ExpectationValidationResult] = {}
    for fmt, twins in groups.values():
        evidence_suite = gx.ExpectationSuite(name=f"{suite.name}__evidence_{fmt['result_format']}", expectations=twins)
        for result in batch.validate(evidence_suite, result_format=fmt).results:
            found[_name_of(result)] = result
    return found


def _offending_ids(result: ExpectationValidationResult) -> list:
    body = result.result or {}
    if "details" in body:  # UnexpectedRowsExpectation: the query's first column is the offending id
        return [next(iter(row.values())) for row in body["details"].get("unexpected_rows") or []]
    key = (body.get("unexpected_index_column_names") or [None])[0]
    return [row.get(key) for row in body.get("partial_unexpected_index_list") or []]


def _row_outcome(result: ExpectationValidationResult, evidence: ExpectationValidationResult | None) -> Outcome:
    """A row check's verdict; a failure's count, values and ids come from its evidence validation."""
    expectation = result.expectation_config.to_domain_obj()
    if result.success:
        return _passed(expectation)
    if evidence is None or evidence.exception_info.get("raised_exception"):
        return _outcome(result)
    found = _outcome(evidence, _offending_ids(evidence))
    return replace(found, success=False, expectation_type=expectation.expectation_type)


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
    if isinstance(result.expectation_config.to_domain_obj(), gxe.UnexpectedRowsExpectation):
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
