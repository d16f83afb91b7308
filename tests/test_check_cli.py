"""`crmguard check` as users and scripts call it: exit codes, the --json contract, the one-line errors."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmguard.quality.sample_world import build_sample_world
from crmguard.warehouse import connect

CLI = [sys.executable, "-c", "from crmguard.cli import main; main()", "check"]


@pytest.fixture()
def world(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        build_sample_world(con)
    return path


def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


def test_json_contract_and_exit_1_on_critical_failure(world: Path) -> None:
    with connect(world) as con:
        con.execute("update dim_crm_contacts set account_id = 'gone' where contact_id = 'c2'")
    done = _check("--warehouse", str(world), "--suite", "contacts", "--suite", "deals", "--json")
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    assert out["success"] is False
    assert [(s["name"], s["success"]) for s in out["suites"]] == [("contacts", False), ("deals", True)]
    assert out["suites"][0]["failed"] == [{"expectation": "account_exists", "severity": "critical", "observed": 1,
                                           "unexpected_count": 1, "sample_ids": ["c2"]}]


def test_clean_world_exits_0_with_a_line_per_suite(world: Path) -> None:
    done = _check("--warehouse", str(world), "--full")
    assert done.returncode == 0, done.stderr
    assert "deals: ok (full, 200 rows" in done.stdout
    assert "all critical expectations passed" in done.stdout


def test_bad_usage_is_one_line_and_exit_2(world: Path, tmp_path: Path) -> None:
    unknown = _check("--warehouse", str(world), "--suite", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1].startswith("crmguard: error: unknown suite nope; known suites: ")
    empty = tmp_path / "empty" / "warehouse.duckdb"
    with connect(empty):
        pass
    unbuilt = _check("--warehouse", str(empty))
    assert unbuilt.returncode == 2
    assert "does not exist; run `crmguard build` first" in unbuilt.stderr


def test_help_has_examples() -> None:
    done = _check("--help")
    assert done.returncode == 0 and "crmguard check --suite deals" in done.stdout


def test_same_verdict_and_utc_times_under_another_time_zone(world: Path) -> None:
    with connect(world) as con:
        con.execute("update dim_crm_meetings set starts_at = updated_at - interval 1 minute where meeting_id = 'm20'")
    env = {**os.environ, "TZ": "Asia/Kolkata"}
    done = subprocess.run([*CLI, "--warehouse", str(world), "--suite", "meetings", "--json"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["suites"][0]["failed"][0]["sample_ids"] == ["m20"]
    with connect(world) as con:
        stored = con.execute("select max(checked_at) from quality.check_results").fetchone()[0]
    # stored as naive UTC: under Kolkata a local-time stamp would be 5.5 hours ahead
    assert abs(stored - datetime.now(UTC).replace(tzinfo=None)) < timedelta(hours=1)
