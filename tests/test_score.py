"""The correctness bar of issue 3 on generated worlds: score the marts against ground_truth.jsonl."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import CRMGUARD, World
from crmguard.errors import BadInput
from crmguard.score import load_ground_truth, score
from crmguard.transform import build
from crmguard.warehouse import connect

ATTRIBUTION_KINDS = ("unexplained_change", "claimed_write_not_observed", "partial_run_failure", "dry_run_wrote")


def _assert_perfect(world: World) -> dict:
    result = score(world.ground_truth, world.warehouse)
    for kind in ATTRIBUTION_KINDS:
        figures = result["kinds"][kind]
        assert figures["expected"] > 0, f"the generator injected no {kind}"
        assert (figures["precision"], figures["recall"], figures["false_positives"]) == (1.0, 1.0, 0), (kind, figures)
    return result


def test_shared_world_scores_perfectly(built_world: World) -> None:
    _assert_perfect(built_world)


def test_another_seed_scores_perfectly_and_rebuilds_without_change(world_factory) -> None:
    world = world_factory(seed=11)
    _assert_perfect(world)
    with connect(world.warehouse, read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables "
                                            "where table_schema = 'main' and table_name not like 'snap_%' order by 1").fetchall()]
        before = {t: con.execute(f'select count(*), sum(hash(t)) from main."{t}" as t').fetchone() for t in tables}
    assert build(world.warehouse).success
    with connect(world.warehouse, read_only=True) as con:
        after = {t: con.execute(f'select count(*), sum(hash(t)) from main."{t}" as t').fetchone() for t in tables}
    assert after == before


def test_clean_world_flags_nothing(world_factory) -> None:
    world = world_factory(seed=5, incidents="none")
    with connect(world.warehouse, read_only=True) as con:
        flags = con.execute("select kind, source_model, count(*) from fct_flags group by all order by all").fetchall()
        unexplained = con.execute("select count(*) from fct_change_attribution where cause = 'unexplained'").fetchone()
    assert flags == [] and unexplained == (0,)
    result = score(world.ground_truth, world.warehouse)
    assert result["precision"] == 1.0 and result["recall"] == 1.0


def test_score_cli_json_keys(built_world: World) -> None:
    proc = subprocess.run([CRMGUARD, "score", str(built_world.ground_truth), "--warehouse", str(built_world.warehouse),
                           "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {"kinds", "precision", "recall"}
    for figures in result["kinds"].values():
        assert set(figures) == {"expected", "found", "missed", "false_positives", "precision", "recall"}
    assert list(result) == sorted(result)


def test_kind_nobody_detects_is_reported_with_found_zero(built_world: World, tmp_path: Path) -> None:
    truth = tmp_path / "ground_truth.jsonl"
    truth.write_text(built_world.ground_truth.read_text() + json.dumps({
        "incident_id": "x-1", "kind": "not_detected_by_anyone", "rule_id": None,
        "event_ids": ["no-such-event"], "object_refs": [], "detail": {}}) + "\n")
    figures = score(truth, built_world.warehouse)["kinds"]["not_detected_by_anyone"]
    assert (figures["expected"], figures["found"], figures["missed"], figures["recall"]) == (1, 0, 1, 0.0)


def test_bad_ground_truth_names_file_and_line(tmp_path: Path) -> None:
    truth = tmp_path / "ground_truth.jsonl"
    truth.write_text('{"incident_id": "a", "kind": "k", "event_ids": [], "object_refs": []}\n{"incident_id": "b"}\n')
    with pytest.raises(BadInput, match=r"ground_truth.jsonl:2: field `kind`"):
        load_ground_truth(truth)
    proc = subprocess.run([CRMGUARD, "score", str(tmp_path / "missing.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 2 and "crmguard generate" in proc.stderr
