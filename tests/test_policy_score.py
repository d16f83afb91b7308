"""The default policy against the generator's ground truth: precision and recall 1.0 for every
policy-related incident kind on several generated seeds, scored by `crmguard score`; a clean world
gets no violation at all."""

from __future__ import annotations

import json

import pytest

from conftest import World, run_cli
from crmguard.incidents import POLICY_KINDS
from crmguard.warehouse import connect


def _policy_scores(world: World) -> dict[str, dict]:
    out = run_cli("score", str(world.ground_truth), "--warehouse", str(world.warehouse), "--json").stdout
    kinds = json.loads(out)["kinds"]
    return {kind: kinds[kind] for kind in POLICY_KINDS if kind in kinds}


def _assert_perfect(world: World) -> None:
    scores = _policy_scores(world)
    expected = {json.loads(line)["kind"] for line in world.ground_truth.read_text().splitlines()}
    assert set(POLICY_KINDS) <= expected, "the world should hold every policy kind"
    imperfect = {k: s for k, s in scores.items() if (s["precision"], s["recall"]) != (1.0, 1.0)}
    assert imperfect == {}
    assert set(scores) == set(POLICY_KINDS)


@pytest.mark.parametrize("seed", [7, 11])
def test_every_policy_kind_is_found_exactly(world_factory, seed: int) -> None:
    _assert_perfect(world_factory(seed=seed, accounts=300, days=5))


def test_a_clean_world_has_no_violation(world_factory) -> None:
    world = world_factory(seed=5, incidents="none", accounts=300, days=5)
    with connect(world.warehouse, read_only=True) as con:
        violations = con.execute("select rule_id, event_id, reason from fct_policy_violations limit 5").fetchall()
        verdicts = con.execute("select count(*) from fct_policy_verdicts").fetchone()[0]
    assert violations == []
    assert verdicts > 1000  # the rules did judge the clean activity
