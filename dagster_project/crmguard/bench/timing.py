"""What every benchmark shares: a wall-clock timer and the result shape of CONTRACTS.md section 5."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class BenchResult:
    """`ratio` is the headline figure compared with `target`; `higher_is_better` says in which direction."""

    benchmark: str
    ratio: float
    target: float
    higher_is_better: bool = True
    metrics: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def met(self) -> bool:
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    def to_json(self) -> dict[str, object]:
        return {"benchmark": self.benchmark, "metrics": self.metrics, "ratio": self.ratio, "target": self.target}

    def render(self) -> str:
        """Human lines: every metric, then the ratio against its target."""
        lines = [f"{self.benchmark}:"]
        lines += [f"  {name:<28} {value}" for name, value in sorted(self.metrics.items())]
        sign = ">=" if self.higher_is_better else "<="
        verdict = "met" if self.met else "NOT met"
        lines.append(f"  ratio {self.ratio} (target {sign} {self.target}: {verdict})")
        return "\n".join(lines)


class Stopwatch:
    """Named wall-clock laps: `with watch.lap("load"): ...` then `watch.seconds["load"]`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def lap(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - start


def registered(name: str, registry: dict[str, str]) -> Callable[[], BenchResult]:
    """Import a registered benchmark's function lazily ("module:function")."""
    module, _, function = registry[name].partition(":")
    return getattr(importlib.import_module(module), function)
