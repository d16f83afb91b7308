"""`bench policy` runs end to end at a small size: its counts reconcile and both sides are timed."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmguard.policy.bench import BARE_RULES, run


def test_bench_policy_small_with_a_relative_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the CLI's default --data-dir is relative (data/bench)
    result = run(actions=20_000, data_dir=Path("bench"), repeat=2, world=(300, 5))
    metrics = result.metrics
    assert result.benchmark == "policy" and result.target == 3.0 and not result.higher_is_better
    assert metrics["actions"] >= 20_000
    assert 0 < metrics["violations"] < metrics["verdicts"]
    assert metrics["slowest_rule"] in BARE_RULES
    assert len(str(metrics["policy_models_all_runs_seconds"]).split()) == 2
    slowest = metrics[f"bare_rule_{metrics['slowest_rule']}_seconds"]
    assert slowest == max(metrics[f"bare_rule_{name}_seconds"] for name in BARE_RULES)
    assert result.ratio == pytest.approx(metrics["policy_models_seconds"] / slowest, rel=0.05)
    # the generated world is kept for the next run; the scaled copies are removed
    assert sorted(p.name for p in (tmp_path / "bench").iterdir()) == ["policy-world-300a-5d"]
