"""Benchmarks: each prints its figures and a headline ratio against the raw engine (CONTRACTS.md 5).

REGISTRY lists every benchmark `crmguard bench all` runs, as "module:function" so nothing is imported
until it runs. Adding a benchmark is one line here (plus its own subcommand in cli/bench.py); the
function takes no required arguments and returns a `BenchResult`.
"""

from __future__ import annotations

REGISTRY: dict[str, str] = {
    "ingest": "crmguard.bench.ingest:run",
    "check": "crmguard.quality.bench:run",
    "export": "crmguard.export.bench:run",
    "restore": "crmguard.restore.bench:run",
    "policy": "crmguard.policy.bench:run",
    "build": "crmguard.transform.bench:run",
}
