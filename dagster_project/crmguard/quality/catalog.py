"""Loads the suite definitions from `expectations/` (one module per suite, each defining `SUITE`)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from crmguard.errors import BadInput
from crmguard.paths import EXPECTATIONS_DIR
from crmguard.quality.spec import Suite


def _load_module_suite(path: Path) -> Suite:
    spec = importlib.util.spec_from_file_location(f"crmguard_expectations_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    suite = getattr(module, "SUITE", None)
    if not isinstance(suite, Suite):
        raise BadInput(f"{path}: defines no `SUITE = Suite(...)`")
    return suite


@cache
def all_suites(directory: Path = EXPECTATIONS_DIR) -> tuple[Suite, ...]:
    """Every suite, in name order (files starting with `_` are helpers, not suites)."""
    paths = sorted(p for p in directory.glob("*.py") if not p.name.startswith("_"))
    suites = tuple(sorted((_load_module_suite(p) for p in paths), key=lambda s: s.name))
    if not suites:
        raise BadInput(f"no suites found in {directory}")
    return suites


def select_suites(names: list[str] | None) -> tuple[Suite, ...]:
    """The named suites (all when none named); an unknown name is bad usage and lists the known ones."""
    suites = all_suites()
    if not names:
        return suites
    by_name = {s.name: s for s in suites}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise BadInput(f"unknown suite {', '.join(unknown)}; known suites: {', '.join(by_name)}")
    return tuple(by_name[n] for n in names)
