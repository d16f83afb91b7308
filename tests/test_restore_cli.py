"""The restore CLI end to end against the local CRM service, including SIGKILL in the middle of apply."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest

from crmguard.cli import main
from crmguard.crm.server import running_service
from crmguard.warehouse import connect
from test_restore_plan import build_world

CLI = str(Path(sys.executable).parent / "crmguard")


def crmguard(*args: str, warehouse: Path | None = None, check: int = 0) -> subprocess.CompletedProcess:
    """Run the CLI in this process through its real entry point (exit code, stdout, stderr).

    In-process because importing the whole CLI costs seconds per command on a loaded machine; the
    one test that needs a separate process (SIGKILL) starts it itself.
    """
    out, err = io.StringIO(), io.StringIO()
    argv = ["crmguard", *args, *(["--warehouse", str(warehouse)] if warehouse else [])]
    with mock.patch.object(sys, "argv", argv), redirect_stdout(out), redirect_stderr(err):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    assert code == check, err.getvalue()
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    warehouse, crm = tmp_path / "wh" / "warehouse.duckdb", tmp_path / "crm"
    build_world(warehouse, crm)
    return warehouse, crm


def test_plan_show_approve_and_bad_usage(world: tuple[Path, Path], tmp_path: Path) -> None:
    warehouse, _ = world
    plan = json.loads(crmguard("restore", "plan", "--run", "R1", "--by", "u_ops1", "--json", warehouse=warehouse).stdout)
    plan_id = plan["plan_id"]
    table = crmguard("restore", "show", plan_id, "--html", str(tmp_path / "p.html"), warehouse=warehouse).stdout
    assert "conflict" in table and "u_ae3" in table and "recreate" in table
    # the table names the actions each item undoes, as --json and --html do
    header = next(line for line in table.splitlines() if line.startswith("#"))
    assert "undoes" in header.split()
    shown_first = json.loads(crmguard("restore", "show", plan_id, "--json", warehouse=warehouse).stdout)["items"][0]
    assert shown_first["undoes"] and shown_first["undoes"][0] in table
    assert "<del>closed_won</del>" in (tmp_path / "p.html").read_text()
    shown = json.loads(crmguard("restore", "show", plan_id, "--json", warehouse=warehouse).stdout)
    assert len(shown["items"]) == 11 and shown["altered"] is False
    refused = crmguard("restore", "approve", plan_id, "--by", "u_ops1", warehouse=warehouse, check=2)
    assert refused.stderr.startswith("crmguard: error: --by u_ops1: the planner cannot approve")
    assert len(refused.stderr.strip().splitlines()) == 1
    crmguard("restore", "plan", "--by", "u_ops1", warehouse=warehouse, check=2)
    crmguard("restore", "apply", plan_id, "--target", "ftp:x", warehouse=warehouse, check=2)
    listed = json.loads(crmguard("restore", "list", "--json", warehouse=warehouse).stdout)
    assert [p["plan_id"] for p in listed["plans"]] == [plan_id]


def test_sigkill_mid_apply_then_rerun_completes_without_duplicate_writes(world: tuple[Path, Path]) -> None:
    warehouse, crm = world
    plan_id = json.loads(crmguard("restore", "plan", "--run", "R1", "--by", "u_ops1", "--json",
                                  warehouse=warehouse).stdout)["plan_id"]
    crmguard("restore", "approve", plan_id, "--by", "u_ops2", warehouse=warehouse)
    with running_service(crm) as svc:
        env = {**os.environ, "CRMGUARD_WAREHOUSE": str(warehouse), "TZ": "America/New_York"}
        slow = subprocess.Popen([CLI, "restore", "apply", plan_id, "--crm-url", svc.url, "--rate", "8",
                                 "--batch-size", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(30000):  # bounded wait (importing the CLI can take many seconds under load)
                if len(svc.store.write_counts()) >= 3 or slow.poll() is not None:
                    break
                time.sleep(0.01)
            slow.send_signal(signal.SIGKILL)
        finally:
            slow.wait(timeout=30)
        assert slow.returncode == -signal.SIGKILL
        assert 3 <= len(svc.store.write_counts()) < 10
        result = json.loads(crmguard("restore", "apply", plan_id, "--crm-url", svc.url, "--json",
                                     warehouse=warehouse).stdout)
        assert result["outcomes"] == {"conflict": 1, "written": 10}
        counts = svc.store.write_counts()
        assert len(counts) == 10 and set(counts.values()) == {1}
        receipt = json.loads(crmguard("restore", "verify", plan_id, "--crm-url", svc.url, "--json",
                                      warehouse=warehouse).stdout)
        assert receipt["status"] == "verified"
        again = json.loads(crmguard("restore", "apply", plan_id, "--crm-url", svc.url, "--json",
                                    warehouse=warehouse).stdout)
        assert again["written_now"] == 0 and len(svc.store.write_counts()) == 10
    with connect(warehouse, read_only=True) as con:
        events = con.execute("select event_type, count(*), count(distinct event_id) from raw.agent_events "
                             "where agent_id = 'crmguard-restore' group by 1 order by 1").fetchall()
        actor = con.execute("select distinct actor_type, actor_id, actor_role from raw.agent_events "
                            "where agent_id = 'crmguard-restore'").fetchall()
    tool_calls = dict((e[0], e[1]) for e in events)["tool_call"]
    assert tool_calls == 10 and all(e[1] == e[2] for e in events)
    assert actor == [("system", "usr_crmguard_restore", "restore_job")]


def test_bench_restore_applies_every_item_once() -> None:
    """The benchmark's code path on a small scope (figures are printed, never asserted): apply must write
    every item, once (its history once used stage values the CRM refuses, and wrote nothing)."""
    result = json.loads(crmguard("bench", "restore", "--changes", "400", "--apply-items", "60", "--rate", "200",
                                 "--json").stdout)
    metrics = result["metrics"]
    assert result["benchmark"] == "restore" and metrics["bare_matches_plan"] == 1
    assert metrics["apply_written"] == metrics["apply_items"] == 60 and metrics["duplicate_writes"] == 0
