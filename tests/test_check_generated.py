"""The correctness bar on generated worlds: clean passes, each injected breakage fails exactly its check.

Breakages are made the way the issue asks, by editing a CRM snapshot: a copy of the last snapshot,
taken one second later, with one broken field per object, ingested and built like any new snapshot
and then checked incrementally (the hourly path).
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from conftest import run_cli
from crmguard.quality.runner import INCREMENTAL, CheckReport, run_checks
from crmguard.transform import build

STAMP = "%Y%m%dT%H%M%SZ"


def failed_critical(report: CheckReport) -> dict[str, list[str]]:
    return {f"{s.name}.{o.expectation}": o.sample_ids for s in report.suites for o in s.failed
            if o.severity == "critical"}


def _read(snapshot: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(snapshot / f"{name}.csv", dtype=str, keep_default_na=False)


def _write(snapshot: Path, name: str, frame: pd.DataFrame) -> None:
    frame.to_csv(snapshot / f"{name}.csv", index=False, quoting=csv.QUOTE_ALL)


def _next_snapshot(root: Path) -> tuple[Path, str]:
    """A copy of the last snapshot, captured one second later; returns it and its updated_at stamp."""
    last = sorted((root / "crm").iterdir())[-1]
    captured = datetime.strptime(last.name, STAMP) + timedelta(seconds=1)
    target = root.parent / "edited" / "crm" / captured.strftime(STAMP)
    shutil.copytree(last, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["captured_at"] = captured.strftime("%Y-%m-%dT%H:%M:%SZ")
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target, (captured - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _break(snapshot: Path, at: str) -> dict[str, str]:
    """One breakage per object; returns the id each expectation must report."""
    users, contacts = _read(snapshot, "users"), _read(snapshot, "contacts")
    deals, enrollments = _read(snapshot, "deals"), _read(snapshot, "sequence_enrollments")
    human = users.loc[users["role"] == "ops", "user_id"].iloc[0]
    agent = users.loc[users["is_agent"] == "true", "user_id"].iloc[0]
    enrollment = enrollments.loc[enrollments["status"] == "active"].iloc[0]
    unsubscribed = enrollment["contact_id"]
    orphan = contacts.loc[contacts["contact_id"] != unsubscribed, "contact_id"].iloc[0]
    staged, negative, reassigned = deals["deal_id"].iloc[:3]
    new_owner = users.loc[(users["role"] == "ae") & ~users["user_id"].isin(deals["owner_id"].iloc[2:3]), "user_id"].iloc[0]

    def edit(frame: pd.DataFrame, key: str, object_id: str, writer: str, **values: str) -> None:
        row = frame[key] == object_id
        for column, value in {**values, "updated_at": at, "updated_by": writer}.items():
            frame.loc[row, column] = value

    edit(contacts, "contact_id", orphan, human, account_id="acc_missing")
    edit(contacts, "contact_id", unsubscribed, human, email_opt_out="true")
    edit(deals, "deal_id", staged, human, stage="stalled")
    edit(deals, "deal_id", negative, human, amount="-500.00")
    edit(deals, "deal_id", reassigned, agent, owner_id=new_owner)  # no tool call claims it
    _write(snapshot, "contacts", contacts)
    _write(snapshot, "deals", deals)
    return {
        "contacts.account_exists": orphan,
        "sequence_enrollments.no_active_enrollment_for_unreachable_contact": enrollment["enrollment_id"],
        "deals.stage_known_for_pipeline": staged,
        "deals.amount_not_negative": negative,
        "change_attribution.no_unexplained_protected_change": f"{reassigned}",
    }


def test_clean_world_passes_and_each_snapshot_breakage_fails_exactly_its_expectation(world_factory) -> None:
    world = world_factory(incidents="none", accounts=80, days=3)
    clean = run_checks(world.warehouse)
    assert failed_critical(clean) == {}

    snapshot, at = _next_snapshot(world.root)
    expected = _break(snapshot, at)
    run_cli("ingest", str(snapshot.parent.parent), "--warehouse", str(world.warehouse))
    assert build(world.warehouse).success

    report = run_checks(world.warehouse)
    assert {s.name: s.mode for s in report.suites}["deals"] == INCREMENTAL
    failed = failed_critical(report)
    assert set(failed) == set(expected)
    for expectation, object_id in expected.items():
        if expectation.startswith("change_attribution."):
            assert len(failed[expectation]) == 1  # the attribution id of that one change
        else:
            assert failed[expectation] == [object_id]


def test_incident_world_fails_exactly_the_integrity_checks_its_incidents_trip(world_factory) -> None:
    world = world_factory(incidents="claimed_write_not_observed,dry_run_wrote,partial_run_failure,"
                                    "self_approval,unsubscribed_contact_emailed")
    report = run_checks(world.warehouse, full=True)
    assert set(failed_critical(report)) == {
        "change_attribution.agent_writes_verified",  # claimed_write_not_observed
        "change_attribution.no_dry_run_write",  # dry_run_wrote
        "agent_runs.no_half_updated_record_from_failed_run",  # partial_run_failure
    }  # self_approval and unsubscribed_contact_emailed are policy violations, not CRM integrity
