"""The Dagster code location: it loads, the graph is one lineage, the sensor and schedule behave."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from conftest import run_cli
from crmguard.defs.ingest import RAW_EVENTS, RAW_SNAPSHOTS, landing_sensor, raw_landing
from crmguard.paths import DBT_PROJECT_DIR
from crmguard.resources import LandingResource, WarehouseResource
from crmguard.transform import dagster_target_dir


@pytest.fixture(scope="module")
def defs(dbt_manifest: Path) -> dg.Definitions:
    from crmguard.definitions import defs

    return defs


def test_definitions_load_with_one_lineage_graph(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw/agent_events", "raw/crm_snapshots", "fct_agent_actions", "fct_change_attribution"} <= keys
    # dbt staging hangs off the ingest assets: the lineage is one graph, not two islands.
    ancestors, frontier = set(), {dg.AssetKey("fct_agent_actions")}
    while frontier:
        parents = {p for key in frontier for p in graph.get(key).parent_keys} - ancestors
        ancestors |= parents
        frontier = parents
    assert RAW_EVENTS in ancestors
    assert {job.name for job in defs.resolve_all_job_defs()} >= {"crmguard_run", "integrity_checks"}
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["hourly_crmguard_run"].cron_schedule == "0 * * * *"
    assert any(s.name == "landing_sensor" for s in defs.sensors)


def test_landing_sensor_requests_a_run_per_new_batch_and_keeps_a_cursor(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "actions").mkdir(parents=True)
    resource = LandingResource(path=str(landing))

    with dg.build_sensor_context(resources={"landing": resource}) as context:
        assert isinstance(landing_sensor(context), dg.SkipReason)

    (landing / "actions" / "a.jsonl").write_text("{}\n")
    with dg.build_sensor_context(resources={"landing": resource}) as context:
        first = landing_sensor(context)
        assert isinstance(first, dg.RunRequest) and first.run_key
        cursor = context.cursor
    assert json.loads(cursor) == ["actions/a.jsonl"]

    with dg.build_sensor_context(cursor=cursor, resources={"landing": resource}) as context:
        assert isinstance(landing_sensor(context), dg.SkipReason), "a file already seen must not start a run"

    (landing / "actions" / "b.jsonl").write_text("{}\n")
    with dg.build_sensor_context(cursor=cursor, resources={"landing": resource}) as context:
        second = landing_sensor(context)
        assert isinstance(second, dg.RunRequest) and second.run_key != first.run_key
        assert json.loads(context.cursor) == ["actions/a.jsonl", "actions/b.jsonl"]


def test_ingest_asset_loads_the_landing_folder_exactly_once(tmp_path: Path) -> None:
    world = tmp_path / "world"
    run_cli("generate", "--out", str(world), "--accounts", "50", "--days", "3", "--incidents", "none")
    landing = tmp_path / "landing"
    shutil.copytree(world / "actions", landing / "actions")
    shutil.copytree(world / "crm", landing / "crm")
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    resources = {"warehouse": WarehouseResource(path=str(warehouse)), "landing": LandingResource(path=str(landing))}

    first = dg.materialize([raw_landing], resources=resources)
    assert first.success
    meta = {m.asset_key: m.metadata for m in first.asset_materializations_for_node("raw_landing")}
    assert meta[RAW_EVENTS]["loaded"].value > 0
    assert RAW_SNAPSHOTS in meta

    second = dg.materialize([raw_landing], resources=resources)
    again = {m.asset_key: m.metadata for m in second.asset_materializations_for_node("raw_landing")}
    assert again[RAW_EVENTS]["loaded"].value == 0
    assert again[RAW_EVENTS]["skipped_files"].value == again[RAW_EVENTS]["files"].value

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        events = con.execute("select count(*) from raw.agent_events").fetchone()[0]
        lines = sum(1 for f in (world / "actions").iterdir() for _ in f.open())
    finally:
        con.close()
    assert events == lines == meta[RAW_EVENTS]["loaded"].value


def test_the_scheduled_job_is_a_whole_dbt_build(defs: dg.Definitions, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`crmguard_run` (ingest, dbt, checks) must run dbt as the whole project, not as a list of every
    node: only then does the build watermark advance, so the next scheduled run builds and tests the
    new loads alone, and does the verdicts' judged key test (a test with a source parent) run at all."""
    world = tmp_path / "world"
    run_cli("generate", "--out", str(world), "--accounts", "50", "--days", "3", "--incidents", "none")
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    monkeypatch.setenv("CRMGUARD_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CRMGUARD_LANDING", str(world))
    before = set((DBT_PROJECT_DIR / "target").glob("crmguard_dbt_assets-*"))
    result = defs.resolve_job_def("crmguard_run").execute_in_process()
    assert result.success
    # dbt's artifacts stay beside the warehouse, in one folder kept from run to run, not in the checkout
    assert (dagster_target_dir(warehouse) / "run_results.json").exists()
    assert set((DBT_PROJECT_DIR / "target").glob("crmguard_dbt_assets-*")) <= before
    with duckdb.connect(str(warehouse), read_only=True) as con:
        watermark, latest = con.execute("select (select max(built_through) from dbt_state.build_watermark), "
                                        "(select max(load_id) from raw.load_ledger)").fetchone()
    assert watermark == latest

    # A critical check that fails holds back the run's seal; the sensor seals and publishes after it,
    # as `crmguard run` does whenever the build succeeded. A bogus approval: dbt passes, GX does not.
    from crmguard.defs.export import DBT_STEP, seal_after_failed_checks

    with duckdb.connect(str(warehouse)) as con:
        con.execute("update main.fct_agent_actions set approval_id = 'apr_forged' "
                    "where event_id = (select min(event_id) from main.fct_agent_actions)")
    instance = dg.DagsterInstance.ephemeral()
    failed = defs.resolve_job_def("crmguard_run").execute_in_process(
        run_config={"ops": {"integrity_suites": {"config": {"full": True}}}}, instance=instance, raise_on_error=False)
    assert not failed.success
    context = dg.build_run_status_sensor_context(
        sensor_name="seal_after_failed_checks", dagster_event=failed.get_run_failure_event(),
        dagster_instance=instance, dagster_run=failed.dagster_run).for_run_failure()
    request = seal_after_failed_checks(context)
    assert isinstance(request, dg.RunRequest), request
    assert DBT_STEP in {e.step_key for e in failed.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert defs.resolve_job_def("seal_and_publish").execute_in_process(instance=instance).success
    for path in (warehouse, warehouse.parent / "published" / "warehouse.duckdb"):
        with duckdb.connect(str(path), read_only=True) as con:
            assert con.execute("select count(distinct seal_id) from audit.seals").fetchone() == (2,), path
            assert con.execute("select count(*) from main.fct_agent_actions where approval_id = 'apr_forged'"
                               ).fetchone() == (1,), path


def test_a_failed_run_is_sealed_after_only_when_its_build_succeeded_and_a_check_failed() -> None:
    from crmguard.defs.export import DBT_STEP, seal_after

    built = {"raw_landing", DBT_STEP}
    assert seal_after(built, built | {"integrity_suites"}, will_retry=False, failed_checks=1) is None
    assert "build did not succeed" in seal_after({"raw_landing"}, built, will_retry=False, failed_checks=1)
    assert "seal ran" in seal_after(built, built | {"audit_chain"}, will_retry=False, failed_checks=1)
    assert "retry" in seal_after(built, built, will_retry=True, failed_checks=1)
    assert "another reason" in seal_after(built, built, will_retry=False, failed_checks=0)


def test_the_ui_instance_runs_one_warehouse_writer_at_a_time(tmp_path: Path) -> None:
    """`make ui` gives the instance dagster_project/dagster.yaml: the `warehouse_writer` pool (every
    step that writes the DuckDB file) is limited to one step across runs; unlimited by default."""
    from crmguard.paths import REPO_ROOT
    from crmguard.resources import WAREHOUSE_POOL

    assert "cp dagster_project/dagster.yaml data/dagster_home/dagster.yaml" in (REPO_ROOT / "Makefile").read_text()
    shutil.copy(REPO_ROOT / "dagster_project" / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 1
    finally:
        instance.dispose()
