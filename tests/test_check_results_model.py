"""fct_check_results (dbt) exposes every stored check run, including runs after the last build."""

from pathlib import Path

from crmguard.quality.runner import run_checks
from crmguard.quality.sample_world import build_sample_world
from crmguard.transform import run_dbt
from crmguard.warehouse import connect


def test_view_shows_every_run_with_its_scope(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        build_sample_world(con)
    first = run_checks(path, ["deals"])
    built = run_dbt("build", path, ["--select", "fct_check_results"])
    assert built.failures == [] and built.counts["model"] == {"success": 1}
    with connect(path) as con:
        con.execute("update dim_crm_deals set amount = -3 where deal_id = 'd9'")
    second = run_checks(path, ["deals"], full=True)
    with connect(path) as con:
        rows = con.execute(
            "select run_id, mode, rows_checked, count(*), count(*) filter (where not success),"
            " max(case when not success then sample_ids::varchar end)"
            " from main.fct_check_results group by all order by min(checked_at)").fetchall()
    expectations = len(first.suites[0].outcomes)
    assert rows == [(first.run_id, "full", 200, expectations, 0, None),
                    (second.run_id, "full", 200, expectations, 1, '["d9"]')]
