"""Which inputs a list of paths means, in a deterministic order.

A path is an action log (.jsonl, .jsonl.gz), an OTLP trace file (*.otlp.json[l][.gz] or sniffed), a
snapshot directory (named YYYYMMDDTHHMMSSZ), or a folder searched recursively for all of these (a
generator output folder has actions/ and crm/<captured_at>/). `ground_truth.jsonl` is never an input:
the warehouse must detect incidents from the data alone. Hidden files and folders (.partial exports)
are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crmguard.adapters.otlp import OTLP_SUFFIXES, is_otlp_file
from crmguard.errors import BadInput
from crmguard.ingest.snapshots import is_snapshot_dir

ACTION_SUFFIXES = (".jsonl", ".jsonl.gz")
NEVER_INPUTS = ("ground_truth.jsonl", "ground_truth.jsonl.gz")


@dataclass(frozen=True, order=True)
class Input:
    """One thing to ingest: `path` as the user gave it (or joined under a folder they gave)."""

    path: Path
    kind: str  # actions | otlp | snapshot


def discover(paths: list[Path]) -> list[Input]:
    """Every input under `paths`, sorted by path, each once; BadInput if a path does not exist."""
    for path in paths:
        if not path.exists():
            raise BadInput(f"{path}: no such file or directory")
    found: set[Input] = set()
    for path in paths:
        found.update(_explicit(path) if path.is_file() or is_snapshot_dir(path) else _walk(path))
    return sorted(found)


def _explicit(path: Path) -> list[Input]:
    if is_snapshot_dir(path):
        return [Input(path, "snapshot")]
    kind = _file_kind(path)
    if kind is None:
        raise BadInput(f"{path}: not an input crmguard reads (action logs are .jsonl or .jsonl.gz, "
                       "OTLP traces .otlp.json[l][.gz], snapshots crm/<YYYYMMDDTHHMMSSZ>/ folders)")
    return [Input(path, kind)]


def _walk(folder: Path) -> list[Input]:
    inputs: list[Input] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if is_snapshot_dir(child):
            inputs.append(Input(child, "snapshot"))
        elif child.is_dir():
            inputs.extend(_walk(child))
        elif (kind := _file_kind(child)) is not None:
            inputs.append(Input(child, kind))
    return inputs


def _file_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name in NEVER_INPUTS:
        return None
    if name.endswith(OTLP_SUFFIXES):
        return "otlp"
    if name.endswith(ACTION_SUFFIXES):
        return "otlp" if is_otlp_file(path) else "actions"
    return None
