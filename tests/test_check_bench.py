"""`bench check` compares GX with a plain-SQL twin of every expectation: the twin must count the same."""

from pathlib import Path

from crmguard.quality.bench import plain_sql, run
from crmguard.quality.catalog import all_suites
from crmguard.quality.runner import run_checks
from crmguard.quality.sample_world import build_sample_world
from crmguard.warehouse import connect


def test_plain_sql_twin_counts_what_gx_counts(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        build_sample_world(con)
        con.execute("update dim_crm_deals set amount = -1, stage = 'x' where deal_id in ('d1', 'd2')")
        con.execute("update dim_crm_contacts set account_id = 'gone', email_opt_out = null where contact_id = 'c4'")
        con.execute("insert into dim_crm_users select * from dim_crm_users where user_id = 'u1'")
        plain = {name: count for name, count in con.execute(plain_sql(all_suites())).fetchall() if count}
    report = run_checks(path, full=True)
    gx = {f"{s.name}.{o.expectation}": o.unexpected_count for s in report.suites for o in s.failed}
    assert plain == gx == {
        "deals.amount_not_negative": 2, "deals.stage_known_for_pipeline": 2, "contacts.account_exists": 1,
        "contacts.email_opt_out_not_null": 1, "users.user_id_unique": 2,
    }


def test_bench_reports_its_figures(tmp_path: Path) -> None:
    result = run(deals=2_000, accounts=100, data_dir=tmp_path, repeat=2)
    assert result.benchmark == "check" and result.target == 3.0 and not result.higher_is_better
    assert result.metrics["unexpected_rows_gx"] == result.metrics["unexpected_rows_plain_sql"] == 0
    assert result.metrics["rows_incremental"] < result.metrics["rows_full"] / 10
    # the six CRM tables and attribution changed; runs, actions, approvals and the ledger did not (the
    # new attribution rows are human edits: no run to recheck)
    assert result.metrics["incremental_success"] and result.metrics["suites_validated_incremental"] == 7
    assert result.metrics["incremental_failed_expectations"] == 0  # a sound CRM: the SQL screen passed everything
    assert result.metrics["all_runs_s"].count(",") == 3
    assert not (tmp_path / "check").exists()
