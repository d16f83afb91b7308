"""Exactly-once ingestion of action logs: idempotence, dedupe, rejects, gzip, extra fields, CLI.

Fixture files are written by hand from CONTRACTS.md section 1; every test uses its own warehouse file.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from crmguard.ingest import ingest_paths
from crmguard.warehouse import connect


def event(n: int, **overrides: object) -> dict:
    """A valid tool_call event with id evt-<n>; overrides replace top-level fields."""
    base = {
        "schema_version": "1",
        "event_id": f"evt-{n}",
        "event_type": "tool_call",
        "occurred_at": f"2026-01-05T09:{n // 60 % 60:02d}:{n % 60:02d}+01:00",
        "agent_id": "outbound-sdr",
        "agent_version": "v1",
        "run_id": "run-1",
        "step": n,
        "environment": "production",
        "actor": {"type": "agent", "id": "u-agent-sdr", "role": "sdr_agent", "on_behalf_of": "u-sdr-1"},
        "tool": {"name": "send_email", "call_id": f"call-{n}", "credential_scope": "crm.write"},
        "target": {"object_type": "contact", "object_id": f"c-{n}", "account_id": "a-1"},
        "input": {"template": "intro"},
        "changes": [],
        "context": {"model": "m", "prompt_sha256": "ab", "retrieved": [], "triggered_by_event_id": None},
        "outcome": {"status": "succeeded", "error": None, "attempt": 1, "retry_of": None},
        "dry_run": False,
        "approval_id": None,
    }
    base.update(overrides)
    return base


def write_log(path: Path, lines: list[dict | str], end: str = "\n") -> Path:
    """One line per item: dicts as JSON, strings verbatim (for malformed lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + end
    path.write_text(text, encoding="utf-8")
    return path


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "wh" / "warehouse.duckdb"


def test_reingest_three_times_loads_once(tmp_path: Path, warehouse: Path) -> None:
    log = write_log(tmp_path / "a.jsonl", [event(i) for i in range(5)])
    results = [ingest_paths(warehouse, [log]).to_json() for _ in range(3)]
    assert [r["loaded"] for r in results] == [5, 0, 0]
    assert [r["skipped_files"] for r in results] == [0, 1, 1]
    assert [r["files"][0]["status"] for r in results] == ["loaded", "skipped", "skipped"]
    assert query(warehouse, "select count(*), count(distinct event_id) from raw.agent_events") == [(5, 5)]
    assert query(warehouse, "select status, lines, loaded from raw.load_ledger") == [("loaded", 5, 5)]


def test_same_bytes_under_another_path_are_skipped(tmp_path: Path, warehouse: Path) -> None:
    log = write_log(tmp_path / "a.jsonl", [event(i) for i in range(3)])
    copy = tmp_path / "elsewhere" / "b.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(log.read_bytes())
    ingest_paths(warehouse, [log])
    assert ingest_paths(warehouse, [copy]).to_json()["skipped_files"] == 1
    assert query(warehouse, "select count(*) from raw.agent_events") == [(3,)]


def test_half_overlapping_file_counts_duplicates(tmp_path: Path, warehouse: Path) -> None:
    first = ingest_paths(warehouse, [write_log(tmp_path / "a.jsonl", [event(i) for i in range(10)])])
    second = ingest_paths(warehouse, [write_log(tmp_path / "b.jsonl", [event(i) for i in range(5, 15)])])
    assert second.to_json()["files"][0] | {"sha256": None, "path": None} == {
        "path": None, "sha256": None, "lines": 10, "loaded": 5, "rejected": 0, "duplicates": 5, "status": "loaded"}
    assert query(warehouse, "select count(*) from raw.agent_events") == [(15,)]
    first_load = query(warehouse, "select load_id from raw.load_ledger where path like '%a.jsonl'")[0][0]
    dups = query(warehouse, "select event_id, line, first_load_id from raw.duplicate_events order by line")
    assert dups == [(f"evt-{i}", i - 4, first_load) for i in range(5, 10)]
    assert first.to_json()["duplicates"] == 0


def test_duplicate_inside_one_file_keeps_the_first_line(tmp_path: Path, warehouse: Path) -> None:
    log = write_log(tmp_path / "a.jsonl", [event(1), event(2), event(1, agent_version="retry")])
    result = ingest_paths(warehouse, [log]).to_json()
    assert (result["loaded"], result["duplicates"]) == (2, 1)
    assert query(warehouse, "select agent_version, _line from raw.agent_events where event_id = 'evt-1'") == [("v1", 1)]
    own = query(warehouse, "select load_id from raw.load_ledger")[0][0]
    assert query(warehouse, "select line, first_load_id from raw.duplicate_events") == [(3, own)]


BAD_LINES: list[tuple[str | dict, str]] = [
    ('{"event_id": "evt-x", "event_type": ', "truncated line: JSON object is not closed"),
    ("this is not json", "invalid JSON"),
    ("[1, 2, 3]", "not an object"),
    ("", "empty line"),
    (event(101, step="5"), "field step must be an integer, got varchar"),
    (event(102, step=-1), "field step must be a non-negative integer"),
    (event(103, step=1.5), "field step must be an integer, got double"),
    (event(104, event_type="launched_rocket"), "field event_type has invalid value launched_rocket"),
    (event(105, environment="staging"), "field environment has invalid value staging"),
    (event(106, occurred_at="2026-01-05T09:00:00"), "occurred_at is not an RFC 3339 time with offset"),
    (event(107, occurred_at="2026-02-30T09:00:00Z"), "occurred_at is not an RFC 3339 time with offset"),
    (event(108, occurred_at="yesterday"), "occurred_at is not an RFC 3339 time with offset"),
    ({k: v for k, v in event(109).items() if k != "agent_id"}, "missing required field agent_id"),
    ({k: v for k, v in event(110).items() if k != "tool"}, "missing required field tool"),
    (event(111, actor={"type": "robot", "id": "x"}), "field actor.type has invalid value robot"),
    (event(112, outcome={"status": "maybe"}), "field outcome.status has invalid value maybe"),
    (event(113, dry_run="no"), "field dry_run must be a boolean, got varchar"),
    (event(114, event_id=None), "missing required field event_id"),
    (event(115, event_type="approval_decided"), "missing required field approval"),
    (event(116, event_type="stop", stop={"scope": "planet"}), "field stop.scope has invalid value planet"),
    (event(117, schema_version="2"), "field schema_version has invalid value 2"),
]


def test_rejects_are_kept_with_reasons_and_reconcile(tmp_path: Path, warehouse: Path) -> None:
    good = [event(1), event(2, event_type="resume", resume={"rule_id": "r", "scope": "agent", "reason": "ok"},
                               actor={"type": "human", "id": "u-ops", "role": "ops", "on_behalf_of": None})]
    lines = [*good, *(line for line, _ in BAD_LINES), '{"event_id": "evt-cut", "schema_ver']
    log = write_log(tmp_path / "bad.jsonl", lines, end="")  # the last line is cut: no final newline
    result = ingest_paths(warehouse, [log]).to_json()
    assert (result["loaded"], result["rejected"], result["duplicates"]) == (2, len(BAD_LINES) + 1, 0)
    assert result["files"][0]["lines"] == len(lines)
    rejects = query(warehouse, "select line, reason, raw_text from raw.rejects order by line")
    expected = [*(reason for _, reason in BAD_LINES), "truncated line: the file ends inside this JSON object"]
    for (line, reason, raw_text), wanted, source in zip(rejects, expected, lines[2:], strict=True):
        assert wanted in reason, (line, reason)
        assert raw_text == (json.dumps(source) if isinstance(source, dict) else source)
    assert [r[0] for r in rejects] == list(range(3, len(lines) + 1))
    assert query(warehouse, "select lines = loaded + rejected + duplicates, rejected from raw.load_ledger") == [
        (True, len(BAD_LINES) + 1)]


def test_invalid_utf8_line_is_rejected_alone(tmp_path: Path, warehouse: Path) -> None:
    log = tmp_path / "bytes.jsonl"
    log.write_bytes(json.dumps(event(1)).encode() + b"\n\xff\xfe broken\n" + json.dumps(event(2)).encode() + b"\n")
    result = ingest_paths(warehouse, [log]).to_json()
    assert (result["loaded"], result["rejected"]) == (2, 1)
    assert query(warehouse, "select line, reason from raw.rejects") == [(2, "line is not valid UTF-8")]


def test_gzip_log_and_unknown_fields_kept(tmp_path: Path, warehouse: Path) -> None:
    log = tmp_path / "day.jsonl.gz"
    log.write_bytes(gzip.compress((json.dumps(event(1, x_vendor={"trace": "t-9"})) + "\n").encode()))
    assert ingest_paths(warehouse, [log]).to_json()["loaded"] == 1
    assert query(warehouse, "select payload ->> '$.x_vendor.trace', _file, _line from raw.agent_events") == [
        ("t-9", str(log), 1)]


def test_occurred_at_is_stored_in_utc_and_columns_typed(tmp_path: Path, warehouse: Path) -> None:
    log = write_log(tmp_path / "a.jsonl", [event(7, occurred_at="2026-01-05T09:30:00.250+05:30")])
    ingest_paths(warehouse, [log])
    row = query(warehouse, "select strftime(occurred_at, '%Y-%m-%d %H:%M:%S.%g'), step, actor_role, "
                           "_source_format, typeof(occurred_at) from raw.agent_events")
    assert row == [("2026-01-05 04:00:00.250", 7, "sdr_agent", "native", "TIMESTAMP")]


def test_discovery_skips_ground_truth_and_orders_inputs(tmp_path: Path, warehouse: Path) -> None:
    write_log(tmp_path / "out" / "actions" / "2026-01-06.jsonl", [event(2)])
    write_log(tmp_path / "out" / "actions" / "2026-01-05.jsonl", [event(1)])
    write_log(tmp_path / "out" / "ground_truth.jsonl", [{"incident_id": "i1", "kind": "self_approval"}])
    result = ingest_paths(warehouse, [tmp_path / "out"]).to_json()
    assert [Path(f["path"]).name for f in result["files"]] == ["2026-01-05.jsonl", "2026-01-06.jsonl"]
    assert query(warehouse, "select count(*) from raw.rejects") == [(0,)]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture()
def run_cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """The real `crmguard` entry point, in this process (the CLI's import cost is paid once)."""
    from crmguard.cli import main

    def run(*args: str | Path) -> Done:
        monkeypatch.setattr(sys, "argv", ["crmguard", *map(str, args)])
        with pytest.raises(SystemExit) as exited:
            main()
        captured = capsys.readouterr()
        return Done(exited.value.code, captured.out, captured.err)

    return run


def test_cli_json_keys_and_exit_codes(tmp_path: Path, warehouse: Path, run_cli) -> None:
    log = write_log(tmp_path / "a.jsonl", [event(1), "not json"])
    done = run_cli("ingest", log, "--warehouse", warehouse, "--json")
    assert done.returncode == 0, done.stderr  # a rejected line is data, not a failure
    out = json.loads(done.stdout)
    assert sorted(out) == ["duplicates", "files", "loaded", "rejected", "skipped_files"]
    assert sorted(out["files"][0]) == ["duplicates", "lines", "loaded", "path", "rejected", "sha256", "status"]
    assert (out["loaded"], out["rejected"]) == (1, 1)
    missing = run_cli("ingest", tmp_path / "nope.jsonl", "--warehouse", warehouse)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == f"crmguard: error: {tmp_path / 'nope.jsonl'}: no such file or directory"
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    refused = run_cli("ingest", broken, "--warehouse", warehouse, "--json")
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["files"][0]["status"] == "rejected"
    assert "not a readable gzip file" in refused.stderr
    human = run_cli("ingest", log, "--warehouse", warehouse)
    assert human.returncode == 0 and "skipped" in human.stdout


def test_cli_locked_warehouse_exits_2_with_one_line(tmp_path: Path, warehouse: Path, run_cli) -> None:
    log = write_log(tmp_path / "a.jsonl", [event(1)])
    ingest_paths(warehouse, [log])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
                               "sys.stdin.read()", str(warehouse)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        done = run_cli("ingest", log, "--warehouse", warehouse)
    finally:
        holder.communicate("", timeout=30)
    assert done.returncode == 2
    assert "is being written by process" in done.stderr and len(done.stderr.strip().splitlines()) == 1


FIXTURES = Path(__file__).parent / "fixtures" / "otlp"


def test_otlp_traces_load_as_events_with_adapter_rejects(tmp_path: Path, warehouse: Path) -> None:
    files = [FIXTURES / "file_exporter.otlp.jsonl", FIXTURES / "rejects.otlp.jsonl"]
    result = ingest_paths(warehouse, files).to_json()
    assert [f["status"] for f in result["files"]] == ["loaded", "loaded"]
    for f in result["files"]:
        assert f["lines"] == f["loaded"] + f["rejected"] + f["duplicates"]
    assert result["files"][0]["loaded"] > 0 and result["files"][1]["rejected"] > 0
    assert query(warehouse, "select distinct _source_format from raw.agent_events") == [("otlp",)]
    assert query(warehouse, "select distinct kind from raw.load_ledger") == [("otlp",)]


def test_crlf_lines_are_stored_without_the_carriage_return(tmp_path: Path, warehouse: Path) -> None:
    log = tmp_path / "windows.jsonl"
    log.write_bytes(b"\r\n".join(json.dumps(event(i)).encode() for i in range(2)) + b"\r\nnope\r\n")
    assert ingest_paths(warehouse, [log]).to_json()["loaded"] == 2
    assert query(warehouse, "select count(*) from raw.agent_events where ends_with(payload::varchar, '}')") == [(2,)]
    assert query(warehouse, "select line, raw_text from raw.rejects") == [(3, "nope")]


def test_empty_file_and_lines_shorter_than_an_inline_view(tmp_path: Path, warehouse: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "short.jsonl").write_bytes(b"a\n\n{}\n[1]")
    result = ingest_paths(warehouse, [tmp_path / "empty.jsonl", tmp_path / "short.jsonl"]).to_json()
    assert [(f["lines"], f["rejected"], f["status"]) for f in result["files"]] == [(0, 0, "loaded"), (4, 4, "loaded")]
    assert query(warehouse, "select line, reason, raw_text from raw.rejects order by line") == [
        (1, "invalid JSON", "a"), (2, "empty line", ""), (3, "missing required field schema_version", "{}"),
        (4, "line is JSON but not an object", "[1]")]


def test_a_generated_world_loads_without_a_single_reject(tmp_path: Path, warehouse: Path) -> None:
    """The generator writes the contract; ingest must accept every line and snapshot of it."""
    from crmguard.generate import GenerateConfig, generate_world

    summary = generate_world(GenerateConfig(out=tmp_path / "world", accounts=50, days=3, incidents=()))
    result = ingest_paths(warehouse, [tmp_path / "world"]).to_json()
    assert (result["rejected"], result["duplicates"], result["skipped_files"]) == (0, 0, 0)
    assert {f["status"] for f in result["files"]} == {"loaded"}
    assert query(warehouse, "select count(*) from raw.agent_events") == [(summary["events"],)]
    assert query(warehouse, "select count(*) from raw.crm_snapshots") == [(summary["snapshots"],)]
    assert ingest_paths(warehouse, [tmp_path / "world"]).to_json()["skipped_files"] == len(result["files"])
