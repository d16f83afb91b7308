"""The daily path: a whole build of the history, then one more day ingested and built incrementally.

The incremental build must give the rows a full build of every day gives, test only what the day
added, and still fail when the day brings a duplicate key (dbt_project/macros/build_watermark.sql).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from crmguard.ingest.run import ingest_paths
from crmguard.transform import bench, build, target_dir
from crmguard.warehouse import connect

# columns that differ between two ingests of the same files by construction (the load ids)
LOAD_COLUMNS = {"load_id", "loads_through"}


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path], Path]:
    """(history inputs, last-day inputs, a warehouse with the history built by a whole build)."""
    folder = tmp_path_factory.mktemp("daily")
    root = folder / "world"
    run_cli("generate", "--out", str(root), "--seed", "3", "--accounts", "300", "--days", "5", "--incidents", "all")
    history, last_day = bench.split_last_day(root)
    warehouse = folder / "history" / "warehouse.duckdb"
    ingest_paths(warehouse, history)
    result = build(warehouse)
    assert result.success, result.failures
    return history, last_day, warehouse


def _copy(warehouse: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(warehouse, folder / warehouse.name)
    return folder / warehouse.name


def _watermark(warehouse: Path) -> str | None:
    with connect(warehouse, read_only=True) as con:
        return con.execute("select max(built_through) from dbt_state.build_watermark").fetchone()[0]


def _latest_load(warehouse: Path) -> str:
    with connect(warehouse, read_only=True) as con:
        return con.execute("select max(load_id) from raw.load_ledger").fetchone()[0]


def _tables(warehouse: Path) -> dict[str, list[tuple]]:
    """Every table of main but the dbt snapshots (stamped with the build time), load ids left out."""
    out = {}
    with connect(warehouse, read_only=True) as con:
        names = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' and table_name not like 'snap_%'"
        ).fetchall()]
        for name in names:
            columns = [r[0] for r in con.execute(
                "select column_name from duckdb_columns() where schema_name = 'main' and table_name = ? "
                "order by column_index", [name]).fetchall() if r[0] not in LOAD_COLUMNS]
            select = ", ".join(f'"{c}"' for c in columns)
            out[name] = con.execute(f'select {select} from main."{name}" order by all').fetchall()
    return out


def test_daily_build_gives_the_rows_of_a_full_build(daily, tmp_path: Path) -> None:
    history, last_day, built_history = daily
    incremental = _copy(built_history, tmp_path / "inc")
    assert _watermark(incremental) == _latest_load(incremental)
    ingest_paths(incremental, last_day)
    result = build(incremental)
    assert result.success, result.failures
    assert _watermark(incremental) == _latest_load(incremental)  # a clean whole build advances it

    full = tmp_path / "full" / "warehouse.duckdb"
    ingest_paths(full, history + last_day)
    assert build(full).success
    left, right = _tables(incremental), _tables(full)
    assert left.keys() == right.keys() and left["fct_policy_violations"] and left["fct_change_attribution"]
    for name in left:
        assert left[name] == right[name], name


def test_the_daily_build_tests_the_new_loads_only(daily, tmp_path: Path) -> None:
    """The key tests of the raw layer read the loads after the watermark (a range on the load id)."""
    _, last_day, built_history = daily
    incremental = _copy(built_history, tmp_path / "inc")
    through = _watermark(incremental)
    ingest_paths(incremental, last_day)
    assert build(incremental).success
    compiled = target_dir(incremental) / "compiled" / "crmguard" / "models" / "staging" / "raw" / "_raw__sources.yml"
    scoped = [p for p in compiled.glob("*.sql") if p.name.startswith(("source_unique_combination", "source_unique_new_keys"))]
    assert len(scoped) == 7  # agent_events' event_id and the key of each of the six CRM objects
    for test_sql in scoped:
        assert f"_load_id > '{through}'" in test_sql.read_text(), test_sql.name


def test_a_duplicate_key_in_the_new_day_still_fails_the_build(daily, tmp_path: Path) -> None:
    _, last_day, built_history = daily
    incremental = _copy(built_history, tmp_path / "inc")
    through = _watermark(incremental)
    ingest_paths(incremental, last_day)
    with connect(incremental) as con:  # the day's contacts export lists a contact twice, its log an event twice
        con.execute("insert into raw.crm_contacts select * from raw.crm_contacts "
                    "where _load_id = (select max(_load_id) from raw.crm_contacts) limit 1")
        con.execute("insert into raw.agent_events select * from raw.agent_events "
                    "where _load_id = (select max(_load_id) from raw.agent_events) limit 1")
    result = build(incremental)
    assert not result.success
    failed = {f["node"] for f in result.failures}
    assert any("unique_combination_raw_crm_contacts" in node for node in failed), failed
    assert any("unique_new_keys_raw_agent_events_event_id" in node for node in failed), failed
    assert _watermark(incremental) == through  # a failed build does not advance it: the next one retests the day


def test_full_refresh_tests_every_row(daily, tmp_path: Path) -> None:
    """An old duplicate (below the watermark) is not the daily build's business, but --full-refresh finds it."""
    _, _, built_history = daily
    incremental = _copy(built_history, tmp_path / "inc")
    with connect(incremental) as con:
        con.execute("insert into raw.crm_contacts select * from raw.crm_contacts "
                    "where _load_id = (select min(_load_id) from raw.crm_contacts) limit 1")
    assert build(incremental).success
    refreshed = build(incremental, full_refresh=True)
    assert any("unique_combination_raw_crm_contacts" in f["node"] for f in refreshed.failures), refreshed.failures


def test_runs_split_across_loads_build_like_a_full_build(daily, tmp_path: Path) -> None:
    """The day's log arrives in two files: runs that straddle them are recomputed from both loads."""
    history, last_day, built_history = daily
    actions, snapshots = last_day[0], last_day[1:]
    lines = actions.read_text().splitlines(keepends=True)
    halves = tmp_path / "halves"
    halves.mkdir()
    first, second = halves / f"{actions.stem}.a.jsonl", halves / f"{actions.stem}.b.jsonl"
    first.write_text("".join(lines[: len(lines) // 2]))
    second.write_text("".join(lines[len(lines) // 2:]))
    incremental = _copy(built_history, tmp_path / "inc")
    ingest_paths(incremental, [first])
    assert build(incremental).success
    ingest_paths(incremental, [second, *snapshots])
    assert build(incremental).success
    with connect(incremental, read_only=True) as con:  # the split leaves runs with events in both loads
        (straddling,) = con.execute(
            "select count(*) from (select run_id from raw.agent_events where _load_id >= ("
            "  select min(_load_id) from raw.agent_events where _file like '%.a.jsonl')"
            " group by run_id having count(distinct _load_id) = 2)").fetchone()
    assert straddling > 0

    full = tmp_path / "full" / "warehouse.duckdb"
    ingest_paths(full, history + last_day)
    assert build(full).success
    left, right = _tables(incremental), _tables(full)
    assert left.keys() == right.keys()
    for name in left:
        assert left[name] == right[name], name
