"""The SQL twin of every row expectation: its offending-row count as one DuckDB query.

Two users:
- the incremental run's **screen**: every changed suite's row checks counted in one UNION ALL query
  over the changed rows. A check with no offending row has passed (GX would report exactly that:
  success, unexpected count 0, no offending values); only checks the screen flags are validated by
  GX, which decides their verdict and collects their evidence. Full sweeps never screen: every
  expectation goes through GX.
- `crmguard bench check`'s plain-SQL baseline (the same checks over whole tables).

The twin must count what GX counts, or the screen would pass what GX fails:
`tests/test_check_suites.py` compares both on every breakage the suites are tested with, and
`tests/test_check_incremental.py` compares the stored results of a screened run with a GX-only run.
Column-map twins skip NULLs as GX does (except `not_null`); `unique` counts every row of a duplicated
value, as GX's `unexpected_count` does.
"""

from __future__ import annotations

from collections.abc import Iterable

import great_expectations.expectations as gxe

from crmguard.quality.spec import Suite, expectation_name, is_metadata_check


def row_checks(suite: Suite) -> list[gxe.Expectation]:
    """The suite's expectations that read rows (column types read the catalog: full sweeps only)."""
    return [e for e in suite.expectations if not is_metadata_check(e)]


def offending_condition(expectation: gxe.Expectation) -> str | None:
    """The row predicate of a column check that judges each row alone (not null, in set, between), or
    None for the others (uniqueness, SQL checks, types), which need a query of their own."""
    column = getattr(expectation, "column", None)
    if isinstance(expectation, gxe.ExpectColumnValuesToNotBeNull):
        return f"{column} is null"
    if isinstance(expectation, gxe.ExpectColumnValuesToBeInSet):
        values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in expectation.value_set)
        return f"{column} is not null and {column} not in ({values})"
    if isinstance(expectation, gxe.ExpectColumnValuesToBeBetween):
        bounds = [f"{column} < {expectation.min_value}" if expectation.min_value is not None else None,
                  f"{column} > {expectation.max_value}" if expectation.max_value is not None else None]
        return " or ".join(b for b in bounds if b)
    return None


def unexpected_count_sql(suite: Suite, expectation: gxe.Expectation, relation: str) -> str:
    """A scalar query: how many rows of `relation` (the suite's table or batch) the expectation rejects."""
    column = getattr(expectation, "column", None)
    condition = offending_condition(expectation)
    if condition is not None:
        return f"select count(*) from {relation} where {condition}"
    if isinstance(expectation, gxe.UnexpectedRowsExpectation):
        return f"select count(*) from ({expectation.unexpected_rows_query.replace('{batch}', relation)})"
    if isinstance(expectation, gxe.ExpectColumnValuesToBeUnique):
        return (f"select coalesce(sum(n), 0) from (select count(*) as n from {relation} where {column} is not null"
                f" group by {column} having count(*) > 1)")
    if isinstance(expectation, gxe.ExpectColumnValuesToBeOfType):
        return (f"select count(*) from information_schema.columns where table_schema = '{suite.schema}'"
                f" and table_name = '{suite.table_name}' and column_name = '{column}' and data_type is null")
    raise ValueError(f"suite {suite.name}: no SQL twin for {type(expectation).__name__}; add one to quality/screen.py")


def _counts(checks: Iterable[tuple[Suite, gxe.Expectation, str]], measured: dict[str, tuple[str, str]],
            flags_only: bool = False) -> str:
    """Rows of (suite, expectation, unexpected, upper): every check's offending-row count, and per
    `measured` suite (name -> (relation, watermark)) one row with expectation NULL, its row count and
    newest watermark.

    The measure and the checks that judge each row alone are one aggregate per (suite, relation), a
    `count(*) filter` each, unnested into rows: one scan and far fewer subqueries for DuckDB to plan.
    `flags_only` (the screen, which only asks whether a check has an offending row): uniqueness joins
    the aggregate as `count(col) - count(distinct col)`, zero exactly when GX's count is zero.
    """
    grouped: dict[tuple[str, str], tuple[Suite, list[gxe.Expectation]]] = {}
    for suite, expectation, relation in checks:
        grouped.setdefault((suite.name, relation), (suite, []))[1].append(expectation)
    for name, (relation, _) in measured.items():
        grouped.setdefault((name, relation), (None, []))
    parts = []
    for (name, relation), (suite, expectations) in grouped.items():
        watermark = measured[name][1] if measured.get(name, (None,))[0] == relation else None
        folded = [(f"'{expectation_name(e)}'", _folded_count(e, flags_only))
                  for e in expectations if _folded_count(e, flags_only) is not None]
        if watermark is not None:
            folded.insert(0, ("null", "count(*)"))
        if folded:
            labels = ", ".join(label for label, _ in folded)
            counts = ", ".join(f"({count})::bigint" for _, count in folded)
            upper = f"max({watermark})::timestamp" if watermark is not None else "null::timestamp"
            parts.append(f"select '{name}' as suite, unnest([{labels}]::varchar[]) as expectation,"
                         f" unnest([{counts}]) as unexpected, {upper} as upper from {relation}")
        parts += [f"select '{name}', '{expectation_name(e)}', ({unexpected_count_sql(suite, e, relation)})::bigint,"
                  " null::timestamp" for e in expectations if _folded_count(e, flags_only) is None]
    return "\nunion all\n".join(parts)


def _folded_count(expectation: gxe.Expectation, flags_only: bool) -> str | None:
    """The expectation as one aggregate of its suite's fold, or None when it needs a query of its own."""
    condition = offending_condition(expectation)
    if condition is not None:
        return f"count(*) filter (where {condition})"
    if flags_only and isinstance(expectation, gxe.ExpectColumnValuesToBeUnique):
        return f"count({expectation.column}) - count(distinct {expectation.column})"
    return None


def counts_sql(checks: Iterable[tuple[Suite, gxe.Expectation, str]]) -> str:
    """One query over (suite, expectation, relation) triples: rows of (suite, expectation, unexpected)."""
    return f"select suite, expectation, unexpected from ({_counts(checks, {})})"


def changed_rows_screen_sql(changed: list[tuple[Suite, str]], screen: bool = True) -> str:
    """The incremental run's plan and screen in one query, for (suite, changed-rows predicate) pairs.

    Each suite's changed rows are a materialized CTE, read once (DuckDB reads only the columns the
    checks use); the query returns (suite, expectation, unexpected, upper) rows: per suite one row
    with expectation NULL, its changed-row count and newest watermark, then (`screen`) every row
    check's offending-row count over those rows, or for uniqueness a count that is zero exactly when
    GX's is (the runner only asks which checks have offending rows).
    """
    def cte(suite: Suite) -> str:
        return '"_changed_' + suite.name + '"'

    changed_ctes = ", ".join(f"{cte(suite)} as materialized (select * from {suite.table} where {predicate})"
                             for suite, predicate in changed)
    checks = [(suite, e, cte(suite)) for suite, _ in changed for e in row_checks(suite)] if screen else []
    measured = {suite.name: (cte(suite), suite.watermark) for suite, _ in changed}
    return f"with {changed_ctes} {_counts(checks, measured, flags_only=True)}"
