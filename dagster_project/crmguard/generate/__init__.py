"""The demo-world generator: a believable company, its agents' action logs, CRM snapshots, ground truth.

`generate_world` is deterministic: the same arguments give byte-identical files under any TZ. It is a
foundation module (no dbt, no Dagster, no other capability) so tests, benchmarks and `crmguard demo`
can all build worlds. docs/incidents.md is the contract it keeps with the detectors.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crmguard.errors import BadInput
from crmguard.generate import activity, incidents
from crmguard.generate.assemble import assemble
from crmguard.generate.company import build_company
from crmguard.generate.context import Ctx
from crmguard.generate.model import INCIDENT_KINDS
from crmguard.generate.output import write_actions, write_ground_truth, write_snapshots
from crmguard.generate.plan import Plan

__all__ = ["INCIDENT_KINDS", "GenerateConfig", "generate_world", "parse_incidents"]


@dataclass(frozen=True)
class GenerateConfig:
    """The arguments of `crmguard generate` (CONTRACTS.md section 4)."""

    out: Path
    seed: int = 7
    accounts: int = 300
    days: int = 14
    agents: int = 3
    incidents: tuple[str, ...] = field(default=INCIDENT_KINDS)


def parse_incidents(spec: str) -> tuple[str, ...]:
    """`all`, `none` or a comma list of incident kinds."""
    spec = spec.strip()
    if spec == "all":
        return INCIDENT_KINDS
    if spec == "none":
        return ()
    kinds = tuple(k.strip() for k in spec.split(",") if k.strip())
    unknown = [k for k in kinds if k not in INCIDENT_KINDS]
    if unknown or not kinds:
        names = ", ".join(unknown) if unknown else repr(spec)
        raise BadInput(f"--incidents: unknown kind {names}; use all, none or a comma list "
                       f"of: {', '.join(INCIDENT_KINDS)}")
    return tuple(k for k in INCIDENT_KINDS if k in kinds)


def _validate(cfg: GenerateConfig) -> None:
    if cfg.accounts < 50:
        raise BadInput(f"--accounts must be at least 50 (got {cfg.accounts})")
    if cfg.days < 3:
        raise BadInput(f"--days must be at least 3 (got {cfg.days})")
    # Incidents need their own objects (a few dozen deals) and free slots on days 1 .. days-2.
    if cfg.incidents and (cfg.accounts < 300 or cfg.days < 5):
        raise BadInput(f"injecting incidents needs --accounts >= 300 and --days >= 5 (got {cfg.accounts} and "
                       f"{cfg.days}); use more, or --incidents none")
    if cfg.agents < 3:
        raise BadInput(f"--agents must be at least 3, one of each kind (got {cfg.agents})")
    if cfg.seed < 0:
        raise BadInput(f"--seed must be a non-negative integer (got {cfg.seed})")
    if cfg.out.exists() and not cfg.out.is_dir():
        raise BadInput(f"--out {cfg.out} is a file; give a folder")
    if cfg.out.exists() and any(cfg.out.iterdir()):
        if not (cfg.out / "ground_truth.jsonl").exists():
            raise BadInput(f"--out {cfg.out} exists and is not an earlier generated world; choose an empty folder")


def _plan_clean(ctx: Ctx) -> None:
    for kind, planner in (("outbound-sdr", activity.sdr_activity), ("lead-router", activity.router_activity),
                          ("deal-desk", activity.dealdesk_activity)):
        group = ctx.agents_of(kind)
        for i, agent in enumerate(group):
            planner(ctx, agent, (i, len(group)))
    activity.human_activity(ctx)
    activity.clean_stops(ctx)


def generate_world(cfg: GenerateConfig, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Generate a world into cfg.out and return the summary {out, events, files, snapshots, incidents}."""
    _validate(cfg)
    started = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    company = build_company(rng, cfg.accounts, cfg.agents, cfg.days)
    ctx = Ctx(rng=rng, company=company, plan=Plan(rng), days=cfg.days)
    progress(f"planning {cfg.days} days of {cfg.agents} agents over {cfg.accounts} accounts")
    injected = incidents.inject(ctx, cfg.incidents)
    _plan_clean(ctx)
    progress("assembling runs, steps and CRM writes")
    world = assemble(ctx)
    truth, extra_snapshots = incidents.finalize(ctx, world, injected)
    if cfg.out.exists():
        shutil.rmtree(cfg.out)
    cfg.out.mkdir(parents=True)
    progress(f"writing {len(world.events)} events")
    files = write_actions(cfg.out, ctx, world, progress)
    progress("writing CRM snapshots")
    snapshots = write_snapshots(cfg.out, ctx, world, extra_snapshots, progress)
    write_ground_truth(cfg.out, truth)
    counts: dict[str, int] = {}
    for item in truth:
        counts[item["kind"]] = counts.get(item["kind"], 0) + 1
    progress(f"done in {time.perf_counter() - started:.1f} s")
    return {"out": str(cfg.out), "events": int(len(world.events)), "files": files, "snapshots": len(snapshots),
            "incidents": counts}
