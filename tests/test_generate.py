"""The demo-world generator: determinism, formats, ground truth, and the promises made to detectors.

Worlds are small (300 accounts, 6 days: about two seconds each) and built once per module. The
reference detector in crmguard.generate.selfcheck reads only the output files, so these tests check
what the warehouse will see.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from crmguard.errors import BadInput
from crmguard.generate import INCIDENT_KINDS, GenerateConfig, generate_world, parse_incidents
from crmguard.generate.model import COLUMNS
from crmguard.generate.selfcheck import check_world, score_against_truth

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "docs" / "schemas"
EXAMPLES = REPO / "docs" / "examples"
SMALL = {"accounts": 300, "days": 6}
REQUIRED = ("schema_version", "event_id", "event_type", "occurred_at", "agent_id", "agent_version", "run_id",
            "step", "environment", "actor")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _events(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((folder / "actions").glob("*.jsonl")) for line in f.open()]


def _truth(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "ground_truth.jsonl").open()]


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def incident_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("world") / "incidents"
    return out, generate_world(GenerateConfig(out=out, seed=11, **SMALL))


@pytest.fixture(scope="module")
def clean_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("world") / "clean"
    return out, generate_world(GenerateConfig(out=out, seed=11, incidents=(), **SMALL))


def test_same_seed_is_byte_identical_and_another_seed_differs(tmp_path: Path, incident_world) -> None:
    first, _ = incident_world
    again = tmp_path / "again"
    generate_world(GenerateConfig(out=again, seed=11, **SMALL))
    assert _digest(again) == _digest(first)
    other = tmp_path / "other"
    generate_world(GenerateConfig(out=other, seed=12, **SMALL))
    assert _digest(other) != _digest(first)


def test_output_does_not_depend_on_the_time_zone(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from crmguard.generate import GenerateConfig, generate_world; "
            "generate_world(GenerateConfig(out=Path(sys.argv[1]), seed=5, accounts=300, days=5))")
    digests = []
    for tz in ("UTC", "Asia/Kolkata"):
        out = tmp_path / tz.replace("/", "_")
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, env={**os.environ, "TZ": tz})
        digests.append(_digest(out))
    assert digests[0] == digests[1]


def test_layout_daily_files_sorted_by_instant_then_id(incident_world) -> None:
    out, summary = incident_world
    files = sorted((out / "actions").glob("*.jsonl"))
    assert summary["files"] == len(files) == SMALL["days"]
    offsets = set()
    for f in files:
        lines = [json.loads(line) for line in f.open()]
        keys = [(_instant(e["occurred_at"]), e["event_id"]) for e in lines]
        assert keys == sorted(keys), f"{f.name} is not sorted by occurred_at then event_id"
        assert {k[0].astimezone(dt.UTC).date().isoformat() for k in keys} == {f.stem}
        offsets |= {e["occurred_at"][19:] for e in lines}
    assert len(offsets) >= 3, f"agents should log in different offsets, saw {offsets}"
    assert summary["events"] == sum(1 for f in files for _ in f.open())


def test_every_event_has_the_contract_fields_and_validates(incident_world) -> None:
    out, _ = incident_world
    schema = json.loads((SCHEMAS / "action_event.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    events = _events(out)
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))
    for e in events:
        missing = [f for f in REQUIRED if f not in e]
        assert not missing, f"{e['event_id']} lacks {missing}"
    for e in events[:: max(1, len(events) // 1500)]:
        validator.validate(e)
    kinds = {e["event_type"] for e in events}
    assert kinds == {"run_started", "run_finished", "tool_call", "approval_requested", "approval_decided",
                     "signal_received", "stop", "resume"}


def test_retries_chain_to_failed_attempts_of_the_same_call(incident_world) -> None:
    out, _ = incident_world
    events = {e["event_id"]: e for e in _events(out)}
    retries = [e for e in events.values() if e.get("outcome", {}).get("retry_of")]
    assert retries, "a default world has transient failures and retries"
    for r in retries:
        failed = events[r["outcome"]["retry_of"]]
        assert failed["outcome"]["status"] == "failed"
        assert failed["tool"]["call_id"] == r["tool"]["call_id"]
        assert r["outcome"]["attempt"] == failed["outcome"]["attempt"] + 1


def test_snapshots_are_daily_plus_incident_ones_and_manifests_match(incident_world) -> None:
    out, summary = incident_world
    folders = sorted(p for p in (out / "crm").iterdir() if p.is_dir())
    assert len(folders) == summary["snapshots"]
    names = [p.name for p in folders]
    daily = [(dt.datetime(2026, 1, 5) + dt.timedelta(days=d)).strftime("%Y%m%dT%H%M%SZ") for d in range(7)]
    assert set(daily) <= set(names)
    assert len(names) > len(daily), "incidents visible in the CRM get an extra snapshot"
    schema = json.loads((SCHEMAS / "snapshot_manifest.schema.json").read_text())
    for folder in folders:
        manifest = json.loads((folder / "manifest.json").read_text())
        jsonschema.validate(manifest, schema)
        assert _instant(manifest["captured_at"]).strftime("%Y%m%dT%H%M%SZ") == folder.name
        for name, columns in COLUMNS.items():
            lines = (folder / f"{name}.csv").read_text().splitlines()
            assert lines[0] == ",".join(f'"{c}"' for c in columns)
            assert len(lines) - 1 == manifest["row_counts"][name] == manifest["objects"][name]


def test_ground_truth_points_at_existing_events_and_objects(incident_world) -> None:
    out, summary = incident_world
    truth = _truth(out)
    ids = {e["event_id"] for e in _events(out)}
    objects = set()
    for folder in (out / "crm").iterdir():
        for name in COLUMNS:
            for line in (folder / f"{name}.csv").read_text().splitlines()[1:]:
                objects.add((name, line.split(",", 1)[0].strip('"')))
    plural = {"account": "accounts", "contact": "contacts", "deal": "deals", "meeting": "meetings",
              "sequence_enrollment": "sequence_enrollments"}
    for item in truth:
        assert set(item) == {"incident_id", "kind", "rule_id", "event_ids", "object_refs", "detail"}
        assert set(item["event_ids"]) <= ids, item["incident_id"]
        assert item["event_ids"] or item["object_refs"], item["incident_id"]
        for ref in item["object_refs"]:
            assert (plural[ref["object_type"]], ref["object_id"]) in objects, (item["incident_id"], ref)
    assert {t["kind"] for t in truth} == set(INCIDENT_KINDS)
    assert summary["incidents"] == {k: sum(t["kind"] == k for t in truth) for k in INCIDENT_KINDS}
    assert all(1 <= n <= 5 for n in summary["incidents"].values())


def test_clean_world_trips_no_rule_and_keeps_the_invariants(clean_world) -> None:
    out, summary = clean_world
    assert _truth(out) == [] and summary["incidents"] == {}
    flags, problems = check_world(out)
    assert problems == []
    assert flags.empty, flags.head(20).to_string()


def test_incidents_are_pure_and_all_detectable(incident_world) -> None:
    out, _ = incident_world
    flags, problems = check_world(out)
    assert problems == []
    assert score_against_truth(flags, _truth(out)) == []
    assert set(flags["kind"]) == set(INCIDENT_KINDS)


def test_incident_selection(tmp_path: Path) -> None:
    assert parse_incidents("all") == INCIDENT_KINDS
    assert parse_incidents("none") == ()
    assert parse_incidents("dry_run_wrote, self_approval") == ("self_approval", "dry_run_wrote")
    with pytest.raises(BadInput, match="unknown kind nope"):
        parse_incidents("self_approval,nope")
    out = tmp_path / "two"
    summary = generate_world(GenerateConfig(out=out, seed=3, incidents=("self_approval", "dry_run_wrote"), **SMALL))
    assert set(summary["incidents"]) == {"self_approval", "dry_run_wrote"}
    flags, _ = check_world(out)
    assert set(flags["kind"]) == {"self_approval", "dry_run_wrote"}


def test_bad_arguments_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="--accounts must be at least 50"):
        generate_world(GenerateConfig(out=tmp_path / "x", accounts=10))
    with pytest.raises(BadInput, match="--agents must be at least 3"):
        generate_world(GenerateConfig(out=tmp_path / "x", agents=2))
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(BadInput, match="not an earlier generated world"):
        generate_world(GenerateConfig(out=occupied))
    assert (occupied / "notes.txt").exists()


def test_docs_examples_validate_against_the_schemas() -> None:
    schema = json.loads((SCHEMAS / "action_event.schema.json").read_text())
    lines = (EXAMPLES / "actions.jsonl").read_text().splitlines()
    assert len(lines) >= 10
    for line in lines:
        jsonschema.validate(json.loads(line), schema)
    manifest_schema = json.loads((SCHEMAS / "snapshot_manifest.schema.json").read_text())
    jsonschema.validate(json.loads((EXAMPLES / "manifest.json").read_text()), manifest_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(lines[0]), "occurred_at": "2026-01-05 10:00:00"}, schema)
    docs = REPO / "docs"
    inline = re.findall(r"```json\n(.*?)\n```", (docs / "action-log.md").read_text(), re.S)
    assert len(inline) >= 4
    for block in inline:
        jsonschema.validate(json.loads(block), schema)
    for block in re.findall(r"```json\n(.*?)\n```", (docs / "snapshots.md").read_text(), re.S):
        jsonschema.validate(json.loads(block), manifest_schema)


def test_cli_prints_the_summary_and_exits_2_on_bad_usage(tmp_path: Path) -> None:
    crmguard = Path(sys.executable).with_name("crmguard")
    out = tmp_path / "cli"
    done = subprocess.run([str(crmguard), "generate", "--out", str(out), "--accounts", "300", "--days", "5",
                           "--incidents", "none", "--json"], capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout)
    assert sorted(summary) == ["events", "files", "incidents", "out", "snapshots"]
    assert summary["incidents"] == {} and summary["files"] == 5 and summary["events"] > 1000
    assert "writing" in done.stderr
    bad = subprocess.run([str(crmguard), "generate", "--out", str(tmp_path / "bad"), "--incidents", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.startswith("crmguard: error: --incidents: unknown kind") and bad.stderr.count("\n") == 1
