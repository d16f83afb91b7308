"""The daily path: a whole build of the history, then one more day ingested and built incrementally.

The incremental build must give the rows a full build of every day gives, test only what the day
added, and still fail when the day brings a duplicate key (dbt_project/macros/build_watermark.sql).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
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


@pytest.fixture(scope="module")
def full_rows(daily, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    """The tables of one whole build of every input (history and last day) in a fresh warehouse."""
    history, last_day, _ = daily
    full = tmp_path_factory.mktemp("full") / "warehouse.duckdb"
    ingest_paths(full, history + last_day)
    assert build(full).success
    return _tables(full)


def _assert_same_rows(warehouse: Path, expected: dict[str, list[tuple]]) -> None:
    _assert_same(_tables(warehouse), expected)


def _assert_same(rows: dict[str, list[tuple]], expected: dict[str, list[tuple]]) -> None:
    assert rows.keys() == expected.keys() and rows["fct_policy_violations"] and rows["fct_change_attribution"]
    for name in rows:
        assert rows[name] == expected[name], name


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


@pytest.fixture(scope="module")
def day_built(daily, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The history's warehouse with the last day ingested and built once (the daily build), then built
    again with nothing new: what the three tests below read of each step, taken as it happened (the
    second build recompiles the tests and moves nothing else)."""
    _, last_day, built_history = daily
    warehouse = _copy(built_history, tmp_path_factory.mktemp("day") / "inc")
    with connect(warehouse, read_only=True) as con:
        first_call, last_before = con.execute("select min(occurred_at), max(occurred_at) from main.fct_agent_actions").fetchone()
    state = {"watermark_before": _watermark(warehouse), "latest_before": _latest_load(warehouse),
             "judged_before": _judged(warehouse), "first_call": first_call, "last_before": last_before}
    ingest_paths(warehouse, last_day)
    state["result"] = build(warehouse)
    compiled = target_dir(warehouse) / "compiled" / "crmguard" / "models" / "staging" / "raw" / "_raw__sources.yml"
    state |= {"watermark_after": _watermark(warehouse), "latest_after": _latest_load(warehouse),
              "judged_after": _judged(warehouse), "tables_after": _tables(warehouse),
              "scoped_tests": {p.name: p.read_text() for p in compiled.glob("*.sql")
                               if p.name.startswith(("source_unique_combination", "source_unique_new_keys"))}}
    state["rebuild"] = build(warehouse)
    state |= {"judged_rebuild": _judged(warehouse), "tables_rebuild": _tables(warehouse)}
    return state


def test_daily_build_gives_the_rows_of_a_full_build(day_built, full_rows) -> None:
    assert day_built["result"].success, day_built["result"].failures
    assert day_built["watermark_before"] == day_built["latest_before"]
    assert day_built["watermark_after"] == day_built["latest_after"]  # a clean whole build advances it
    _assert_same(day_built["tables_after"], full_rows)


def test_the_daily_build_tests_the_new_loads_only(day_built) -> None:
    """The key tests of the raw layer read the loads after the watermark (a range on the load id)."""
    scoped = day_built["scoped_tests"]
    assert len(scoped) == 7  # agent_events' event_id and the key of each of the six CRM objects
    for name, test_sql in scoped.items():
        assert f"_load_id > '{day_built['watermark_before']}'" in test_sql, name


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
    with connect(incremental) as con:  # one contact twice in the first snapshot. Not "the first load": load ids
        # made in the same second order by their random suffix, and a duplicate in the latest snapshot is one
        # the daily build rightly finds (the current-state tests read it)
        con.execute("insert into raw.crm_contacts select * from raw.crm_contacts "
                    "where _captured_at = (select min(_captured_at) from raw.crm_contacts) order by contact_id limit 1")
    assert build(incremental).success
    refreshed = build(incremental, full_refresh=True)
    assert any("unique_combination_raw_crm_contacts" in f["node"] for f in refreshed.failures), refreshed.failures


def test_runs_split_across_loads_build_like_a_full_build(daily, full_rows, tmp_path: Path) -> None:
    """The day's log arrives in two files: runs that straddle them are recomputed from both loads."""
    _, last_day, built_history = daily
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
    _assert_same_rows(incremental, full_rows)


def _judged(warehouse: Path) -> tuple:
    with connect(warehouse, read_only=True) as con:
        return con.execute("select judged_from, judged_through from dbt_state.policy_judged "
                           "where violations = 'main.fct_policy_violations'").fetchone()


def test_the_daily_build_judges_the_policy_from_the_new_day_only(day_built) -> None:
    """The violations of calls no new input can change are kept; only the day's window is judged
    again (macros/policy_judged.sql), and a build with nothing new judges nothing."""
    assert day_built["judged_before"][0] is None  # the whole build judged every call
    judged_from, judged_through = day_built["judged_after"]
    assert day_built["first_call"] < judged_from <= day_built["last_before"]  # the window the new day closes
    assert judged_through == day_built["latest_after"]
    assert day_built["rebuild"].success  # nothing new: nothing judged, nothing changed
    assert day_built["judged_rebuild"][0] == datetime.max
    assert day_built["tables_rebuild"]["fct_policy_violations"] == day_built["tables_after"]["fct_policy_violations"]


def test_a_snapshot_a_build_after_its_log_builds_like_a_full_build(daily, full_rows, tmp_path: Path) -> None:
    """The log through the day of a dry run that wrote is built with the snapshots up to that call; the
    snapshots after it (and the rest of the log) a build later. The first of them closes the window of
    the dry run judged a build earlier (dry-run integrity reads its attribution), so it is judged again
    though it precedes every new input."""
    history, last_day, _ = daily
    files = sorted(p for p in history + last_day if p.is_file())
    snapshots = sorted(p for p in history + last_day if p.is_dir())
    times = {e: (t, f) for f in files for e, t in _event_times(f).items()}
    written = [times[e] for e in _incident_events(files[0], "dry_run_wrote") if e in times]
    assert written, "the world has no dry run that wrote: pick another seed"
    dry_run, log = max(written)
    first_inputs = [f for f in files if f <= log] + [s for s in snapshots if _captured_at(s) < dry_run]
    incremental = tmp_path / "inc" / "warehouse.duckdb"
    ingest_paths(incremental, first_inputs)
    assert build(incremental).success
    ingest_paths(incremental, [p for p in files + snapshots if p not in first_inputs])
    assert build(incremental).success
    assert _judged(incremental)[0] < dry_run
    with connect(incremental, read_only=True) as con:
        (flagged,) = con.execute("select count(*) from main.fct_policy_violations where rule_kind = 'dry_run_integrity' "
                                 "and occurred_at = ?", [dry_run]).fetchone()
    assert flagged  # judged a build before the snapshot showed what it wrote
    _assert_same_rows(incremental, full_rows)


def test_a_run_over_its_blast_radius_across_a_snapshot_and_two_loads(daily, tmp_path: Path) -> None:
    """A mass reassignment's run: its first call arrives with a snapshot taken just after it, the rest
    of the run a build later. The run total that makes every call of it a violation only exists then,
    and its first call precedes both the new input and the window it opens: it is judged again because
    its run is."""
    history, last_day, _ = daily
    root = last_day[0].parent.parent
    files = sorted((root / "actions").glob("*.jsonl"))
    times = {e: t for f in files for e, t in _event_times(f).items()}
    first = min(times[e] for e in _incident_events(files[0], "mass_reassignment") if e in times)
    split = first + timedelta(seconds=1)
    parts = tmp_path / "parts"
    parts.mkdir()
    early, late = parts / "early.jsonl", parts / "late.jsonl"
    lines = [line for f in files for line in f.read_text().splitlines(keepends=True)]
    early.write_text("".join(line for line in lines if _time_of(line) <= split))
    late.write_text("".join(line for line in lines if _time_of(line) > split))
    snapshots = sorted(p for p in (root / "crm").iterdir() if p.is_dir())
    before = [s for s in snapshots if _captured_at(s) < first]
    mid_run = parts / split.strftime("%Y%m%dT%H%M%SZ")  # the CRM as the last snapshot before the run saw it
    shutil.copytree(before[-1], mid_run)
    manifest = json.loads((mid_run / "manifest.json").read_text())
    manifest["captured_at"] = split.strftime("%Y-%m-%dT%H:%M:%SZ")
    (mid_run / "manifest.json").write_text(json.dumps(manifest))
    after = [s for s in snapshots if s not in before]

    incremental = tmp_path / "inc" / "warehouse.duckdb"
    ingest_paths(incremental, [early, *before, mid_run])
    assert build(incremental).success
    ingest_paths(incremental, [late, *after])
    assert build(incremental).success
    judged_from = _judged(incremental)[0]
    assert judged_from <= first < split  # the run's start, before the window the mid-run snapshot opens
    full = tmp_path / "full" / "warehouse.duckdb"
    ingest_paths(full, [early, late, *snapshots, mid_run])
    assert build(full).success
    with connect(incremental, read_only=True) as con:
        (flagged,) = con.execute("select count(*) from main.fct_policy_violations where rule_kind = 'blast_radius' "
                                 "and occurred_at = ?", [first]).fetchone()
    assert flagged  # the run's first call, judged a build before its run went over the limit
    _assert_same_rows(incremental, _tables(full))


def _time_of(line: str) -> datetime:
    return datetime.fromisoformat(json.loads(line)["occurred_at"]).astimezone(UTC).replace(tzinfo=None)


def _event_times(actions: Path) -> dict[str, datetime]:
    return {json.loads(line)["event_id"]: _time_of(line) for line in actions.read_text().splitlines()}


def _incident_events(actions: Path, kind: str) -> list[str]:
    """The event ids of the ground truth's incidents of `kind` (the tests read it; the code never does)."""
    truth = actions.parent.parent / "ground_truth.jsonl"
    return [e for line in truth.read_text().splitlines() if json.loads(line)["kind"] == kind
            for e in json.loads(line)["event_ids"]]


def _captured_at(snapshot: Path) -> datetime:
    return datetime.strptime(snapshot.name, "%Y%m%dT%H%M%SZ")


@pytest.fixture(scope="module")
def late_approval(daily, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The daily world with one approval decided after the call that cites it, a minute after the
    snapshot that closes the call's window, in a file of its own; and the tables of a full build."""
    history, last_day, _ = daily
    root = last_day[0].parent.parent
    folder = tmp_path_factory.mktemp("late_approval")
    files = sorted((root / "actions").glob("*.jsonl"))
    events = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    calls = {e["tool"]["call_id"]: e for e in events if e["event_type"] == "tool_call" and e.get("approval_id")}
    decision = next(e for e in events if e["event_type"] == "approval_decided"
                    and e["approval"].get("decision") == "approved" and e["approval"].get("call_id") in calls)
    call = calls[decision["approval"]["call_id"]]
    called_at = _time_of(json.dumps(call))
    snapshots = sorted(p for p in (root / "crm").iterdir() if p.is_dir())
    closing = min(_captured_at(s) for s in snapshots if _captured_at(s) > called_at)
    decision["occurred_at"] = (closing + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    base, late = folder / "base", folder / "late"
    base.mkdir()
    late.mkdir()
    for f in files:
        kept = [line for line in f.read_text().splitlines(keepends=True)
                if json.loads(line)["event_id"] != decision["event_id"]]
        (base / f.name).write_text("".join(kept))
    (late / "late.jsonl").write_text(json.dumps(decision) + "\n")
    full = folder / "full" / "warehouse.duckdb"
    ingest_paths(full, [*sorted(base.iterdir()), late / "late.jsonl", *snapshots])
    assert build(full).success
    return {"logs": sorted(base.iterdir()), "late": late / "late.jsonl", "snapshots": snapshots, "call": call,
            "called_at": called_at, "closing": closing, "full": _tables(full)}


def test_an_approval_decided_after_its_call_and_loaded_later_is_judged(late_approval, tmp_path: Path) -> None:
    """A call cites an approval whose decision comes after the call and arrives a build later, after
    a snapshot closed the call's window. The new input and the window it opens are both after the
    call; the call is judged again because it refers to the new event (the verdict's reason changes
    from `not decided` to `decided after the call`)."""
    world = late_approval
    incremental = tmp_path / "inc" / "warehouse.duckdb"
    ingest_paths(incremental, [*world["logs"], *world["snapshots"]])
    assert build(incremental).success
    ingest_paths(incremental, [world["late"]])
    assert build(incremental).success
    assert _judged(incremental)[0] <= world["called_at"] < world["closing"]
    with connect(incremental, read_only=True) as con:
        reasons = [r[0] for r in con.execute("select reason from main.fct_policy_violations where event_id = ? "
                                             "and rule_kind = 'approval_gate'", [world["call"]["event_id"]]).fetchall()]
    assert reasons == ["approval decided after the call"], reasons
    _assert_same_rows(incremental, world["full"])


def test_snapshots_after_a_log_built_alone_judge_every_call(late_approval, tmp_path: Path) -> None:
    """The logs are built before any snapshot (a new installation's order); the snapshots come a build
    later with the late approval. Every call is judged again, although a call refers to a new event:
    the snapshots bring the agents' teams (a new fingerprint), and no capture precedes the new inputs
    (their window is open to the start of time). Either alone suffices; with both removed from the
    macro, the late-referenced call narrows the window and this fails."""
    world = late_approval
    incremental = tmp_path / "inc" / "warehouse.duckdb"
    ingest_paths(incremental, world["logs"])
    assert build(incremental).success
    ingest_paths(incremental, [world["late"], *world["snapshots"]])
    assert build(incremental).success
    assert _judged(incremental)[0] is None
    _assert_same_rows(incremental, world["full"])


def test_approvals_touched_by_a_late_call_or_an_earlier_users_snapshot_are_recomputed(daily, tmp_path: Path) -> None:
    """fct_approvals is incremental: an approval whose own events are all old still changes when a
    new load brings a call citing it (X: the call arrives a build after its approval), or a users
    snapshot captured before its decision that changes the approver's role (Y). Each alone is
    caught: X's decision precedes the snapshot, and no new event names Y."""
    history, last_day, _ = daily
    root = last_day[0].parent.parent
    files = sorted((root / "actions").glob("*.jsonl"))
    events = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    decided = sorted((_time_of(json.dumps(e)), e) for e in events if e["event_type"] == "approval_decided")
    citing = {e["approval_id"]: e for e in events if e["event_type"] == "tool_call" and e.get("approval_id")}
    y_at, y = decided[-1]
    x_at, x = next((t, e) for t, e in decided if e["approval"]["approval_id"] in citing and t < y_at - timedelta(hours=1))
    x_call = citing[x["approval"]["approval_id"]]
    assert y["approval"]["approval_id"] not in {x["approval"]["approval_id"], x_call.get("approval_id")}
    capture = y_at - timedelta(minutes=1)
    snapshots = sorted(p for p in (root / "crm").iterdir() if p.is_dir())
    before = [s for s in snapshots if _captured_at(s) < capture]
    after = [s for s in snapshots if s not in before]

    parts = tmp_path / "parts"
    (parts / "logs").mkdir(parents=True)
    for f in files:  # every event but X's citing call, which arrives a build later
        (parts / "logs" / f.name).write_text("".join(
            line for line in f.read_text().splitlines(keepends=True) if json.loads(line)["event_id"] != x_call["event_id"]))
    (parts / "late.jsonl").write_text(json.dumps(x_call) + "\n")
    moved = parts / capture.strftime("%Y%m%dT%H%M%SZ")  # the latest CRM before Y, with Y's approver promoted
    shutil.copytree(before[-1], moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["captured_at"] = capture.strftime("%Y-%m-%dT%H:%M:%SZ")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    approver = y["approval"]["approver"]["id"]
    users = (moved / "users.csv").read_text().splitlines(keepends=True)
    row = next(i for i, line in enumerate(users) if line.startswith(f'"{approver}",'))
    fields = users[row].split(",")
    new_role = '"auditor"' if fields[3] != '"auditor"' else '"admin"'
    users[row] = ",".join([*fields[:3], new_role, *fields[4:]])
    (moved / "users.csv").write_text("".join(users))

    logs = sorted((parts / "logs").iterdir())
    incremental = tmp_path / "inc" / "warehouse.duckdb"
    ingest_paths(incremental, [*logs, *before])
    assert build(incremental).success
    ingest_paths(incremental, [parts / "late.jsonl", moved, *after])
    assert build(incremental).success
    compiled = target_dir(incremental) / "compiled" / "crmguard" / "models" / "marts" / "audit" / "fct_approvals.sql"
    assert "touched as (" in compiled.read_text()  # the second build recomputed only what it touched
    full = tmp_path / "full" / "warehouse.duckdb"
    ingest_paths(full, [*logs, parts / "late.jsonl", *before, moved, *after])
    assert build(full).success
    with connect(full, read_only=True) as con:  # what the full build says of X and Y
        rows = dict(con.execute("select approval_id, (approver_role, relied_on_by) from main.fct_approvals").fetchall())
    assert x_call["event_id"] in rows[x["approval"]["approval_id"]][1]
    assert rows[y["approval"]["approval_id"]][0] == new_role.strip('"')
    _assert_same_rows(incremental, _tables(full))
