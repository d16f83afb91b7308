"""Incremental runs validate what changed since the last successful run; results are stored per run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmguard.errors import BadInput
from crmguard.quality.runner import FULL, INCREMENTAL, UNCHANGED, run_checks
from crmguard.quality.sample_world import build_sample_world
from crmguard.warehouse import connect

NEXT_SNAPSHOT = "timestamp '2026-01-03 00:00:00'"


@pytest.fixture()
def checked_world(tmp_path: Path) -> Path:
    """A clean world after one successful full run."""
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        build_sample_world(con)
    assert run_checks(path).success
    return path


def _edit(path: Path, sql: str) -> None:
    with connect(path) as con:
        con.execute(sql)


def _modes(report) -> dict[str, str]:
    return {s.name: s.mode for s in report.suites}


def test_second_run_skips_unchanged_suites(checked_world: Path) -> None:
    # In this world every run's writes were observed after the runs' own watermark; the first run saw
    # those observations, so nothing is rechecked until attribution gains rows.
    assert set(_modes(run_checks(checked_world)).values()) == {UNCHANGED}
    assert set(_modes(run_checks(checked_world)).values()) == {UNCHANGED}


def test_run_rechecked_only_when_a_new_snapshot_observes_its_writes(checked_world: Path) -> None:
    """A new attribution row for run r2 (observed after the last check) makes exactly r2 rechecked,
    once: the next run has seen that row, and the runs' own watermark has not moved."""
    _edit(checked_world,
          "insert into fct_change_attribution by name select 'oc_late' as attribution_id,"
          " 'observed_change' as record_type, 'ch_late' as change_id, object_type, object_id, field,"
          " (select max(window_end) from fct_change_attribution) + interval 1 day as window_end,"
          " updated_by, 'agent' as cause, agent_id, run_id from fct_change_attribution"
          " where attribution_id = (select min(attribution_id) from fct_change_attribution where run_id = 'r2')")
    runs = next(s for s in run_checks(checked_world).suites if s.name == "agent_runs")
    assert (runs.mode, runs.rows_checked) == (INCREMENTAL, 1)
    assert _modes(run_checks(checked_world))["agent_runs"] == UNCHANGED


def test_only_rows_of_a_newer_snapshot_are_validated(checked_world: Path) -> None:
    _edit(checked_world, f"update dim_crm_deals set amount = -1, captured_at = {NEXT_SNAPSHOT} where deal_id = 'd5'")
    report = run_checks(checked_world)
    deals = next(s for s in report.suites if s.name == "deals")
    assert (deals.mode, deals.rows_checked) == (INCREMENTAL, 1)
    assert [(o.expectation, o.sample_ids) for o in deals.failed] == [("amount_not_negative", ["d5"])]


def test_unchanged_bad_row_is_left_to_the_full_sweep(checked_world: Path) -> None:
    _edit(checked_world, "update dim_crm_deals set amount = -1 where deal_id = 'd5'")  # no new snapshot
    assert run_checks(checked_world).success
    assert not run_checks(checked_world, full=True).success


def test_enrollment_rechecked_when_its_contact_unsubscribes(checked_world: Path) -> None:
    _edit(checked_world, f"update dim_crm_contacts set email_opt_out = true, captured_at = {NEXT_SNAPSHOT}"
                         " where contact_id = 'c3'")
    report = run_checks(checked_world)
    enrollments = next(s for s in report.suites if s.name == "sequence_enrollments")
    assert enrollments.mode == INCREMENTAL
    assert [o.sample_ids for o in enrollments.failed] == [["en3"]]


def test_failed_run_keeps_the_watermark_so_failures_repeat_until_fixed(checked_world: Path) -> None:
    _edit(checked_world, f"update dim_crm_deals set amount = -1, captured_at = {NEXT_SNAPSHOT} where deal_id = 'd5'")
    assert not run_checks(checked_world, ["deals"]).success
    assert not run_checks(checked_world, ["deals"]).success
    _edit(checked_world, "update dim_crm_deals set amount = 1 where deal_id = 'd5'")
    assert run_checks(checked_world, ["deals"]).success
    assert run_checks(checked_world, ["deals"]).suites[0].mode == UNCHANGED


def test_every_expectation_result_is_stored_with_its_run(checked_world: Path) -> None:
    _edit(checked_world, "update dim_crm_deals set stage = 'bogus' where deal_id in ('d1', 'd2')")
    report = run_checks(checked_world, ["deals"], full=True)
    with connect(checked_world) as con:
        rows = con.execute(
            "select expectation, severity, success, unexpected_count, sample_ids from quality.check_results"
            " where run_id = ? order by expectation", [report.run_id]).fetchall()
        runs = con.execute("select suite, mode, success, rows_checked from quality.check_runs where run_id = ?",
                           [report.run_id]).fetchall()
    assert len(rows) == len(report.suites[0].outcomes)
    failed = [r for r in rows if not r[2]]
    assert [(r[0], r[1], r[3], json.loads(r[4])) for r in failed] == [
        ("stage_known_for_pipeline", "critical", 2, ["d1", "d2"])]
    assert runs == [("deals", FULL, False, 200)]


def _stored(path: Path, run_id: str) -> list[tuple]:
    with connect(path) as con:
        return con.execute(
            "select suite, expectation, expectation_type, category, severity, success, observed, unexpected_count,"
            " sample_ids from quality.check_results where run_id = ? order by suite, expectation", [run_id]).fetchall()


def test_sql_screen_stores_what_gx_alone_stores(checked_world: Path, tmp_path: Path) -> None:
    """An incremental run screens the changed rows in SQL and hands GX only what the screen flags;
    its stored results (passes and failures, counts, values, ids) equal a run where GX validates
    every expectation of every changed suite."""
    _edit(checked_world,
          f"update dim_crm_deals set amount = -1, captured_at = {NEXT_SNAPSHOT} where deal_id in ('d5', 'd6');"
          f" update dim_crm_deals set captured_at = {NEXT_SNAPSHOT} where deal_id in ('d7', 'd8');"
          " insert into dim_crm_deals select * from dim_crm_deals where deal_id = 'd8';"  # a duplicate key
          f" update dim_crm_contacts set email_opt_out = true, captured_at = {NEXT_SNAPSHOT} where contact_id = 'c3';"
          f" update dim_crm_meetings set contact_id = null, captured_at = {NEXT_SNAPSHOT} where meeting_id = 'm10'")
    gx_only = tmp_path / "gx_only" / "warehouse.duckdb"
    gx_only.parent.mkdir()
    gx_only.write_bytes(checked_world.read_bytes())
    screened, unscreened = run_checks(checked_world), run_checks(gx_only, prescreen=False)
    assert _modes(screened) == _modes(unscreened)
    stored = _stored(checked_world, screened.run_id)
    assert stored == _stored(gx_only, unscreened.run_id)
    failed = {(r[0], r[1], r[7]) for r in stored if not r[5]}
    assert failed == {("deals", "amount_not_negative", 2), ("deals", "deal_id_unique", 2), ("meetings", "contact_exists", 1),
                      ("sequence_enrollments", "no_active_enrollment_for_unreachable_contact", 1)}
    assert sum(1 for r in stored if r[5]) > 20  # the passes the screen decided are stored too


def test_a_check_the_screen_cannot_run_is_left_to_gx(checked_world: Path) -> None:
    """A column a check reads is gone: the one-query screen cannot run, so it screens nothing; every
    changed suite goes to GX, which fails only the check that reads the column (with no count)."""
    _edit(checked_world, "alter table dim_crm_deals drop column discount_pct;"
                         f" update dim_crm_deals set captured_at = {NEXT_SNAPSHOT} where deal_id = 'd5'")
    deals = next(s for s in run_checks(checked_world).suites if s.name == "deals")
    assert (deals.mode, deals.rows_checked) == (INCREMENTAL, 1)
    assert [o.expectation for o in deals.failed] == ["discount_within_bounds"]
    assert deals.failed[0].unexpected_count is None


def test_a_suite_whose_changed_rows_cannot_be_read_is_named(checked_world: Path) -> None:
    _edit(checked_world, "alter table dim_crm_deals drop column captured_at")
    with pytest.raises(BadInput, match=r"suite deals: main.dim_crm_deals does not have the documented columns"):
        run_checks(checked_world)
