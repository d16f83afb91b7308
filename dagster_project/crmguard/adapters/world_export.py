"""A generated world (`crmguard generate`) rewritten in the formats teams really have.

Action logs become OTLP/JSON GenAI traces, CRM snapshots become Salesforce or HubSpot export files
through the same YAML mapping ingest reads. Ingesting the result must give the same facts as the native
world (tests/test_otlp_world.py); demos and benchmarks use it to show traced agents and CRM exports.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from crmguard.adapters.crm_exports import export_snapshot, load_mapping
from crmguard.adapters.otlp_export import export_native_file

_ACTION_SUFFIXES = (".jsonl", ".jsonl.gz")


def export_world(source: Path, target: Path, crm: str | Path | None = "salesforce") -> dict[str, int]:
    """Write `source`'s actions as `*.otlp.jsonl` and its snapshots as `crm` exports under `target`.

    Objects the mapping does not cover stay canonical files beside the exports (a snapshot is whole or
    refused). `crm=None` keeps the snapshots canonical. ground_truth.jsonl is copied for scoring.
    """
    counts = {"trace_files": 0, "traces": 0, "snapshots": 0}
    for log in sorted((source / "actions").iterdir()):
        if log.name.endswith(_ACTION_SUFFIXES):
            stem = log.name.removesuffix(".gz").removesuffix(".jsonl")
            (target / "actions").mkdir(parents=True, exist_ok=True)
            counts["traces"] += export_native_file(log, target / "actions" / f"{stem}.otlp.jsonl")
            counts["trace_files"] += 1
    mapping = load_mapping(crm) if crm else None
    for snapshot in sorted(p for p in (source / "crm").iterdir() if p.is_dir()):
        out = target / "crm" / snapshot.name
        if mapping is None:
            shutil.copytree(snapshot, out)
        else:
            export_snapshot(snapshot, out, mapping)
            for canonical in snapshot.iterdir():
                if canonical.stem not in mapping.objects and not (out / canonical.name).exists():
                    shutil.copy2(canonical, out / canonical.name)
        counts["snapshots"] += 1
    if (source / "ground_truth.jsonl").exists():
        shutil.copy2(source / "ground_truth.jsonl", target / "ground_truth.jsonl")
    return counts
