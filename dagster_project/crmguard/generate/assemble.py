"""Turn a plan into a consistent world: one writer per object per window, runs, steps, ids, old values.

The order matters and is the reason this module exists:
1. drop optional work that would make a second writer touch an object in the same daily window;
2. group tool calls into runs (retries stay in the run of their first attempt) and make times strictly
   increasing inside a run, so `step` and `occurred_at` agree;
3. compute every claim's `old` from the true state at the call's instant;
4. give events, runs and calls their ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmguard.generate.context import Ctx
from crmguard.generate.model import DAY, ID_COLUMN, OBJECT_OF_TYPE, SLOT, START
from crmguard.generate.plan import PRIO_INCIDENT, iso


@dataclass
class Assembled:
    """The world's final tables: events (with ids and steps), claims (with old values) and CRM writes."""

    events: pd.DataFrame
    claims: pd.DataFrame
    writes: pd.DataFrame
    creates: dict[str, pd.DataFrame]
    key_to_id: dict[int, str]


def _writes_by_actor(ctx: Ctx, ev: pd.DataFrame, claims: pd.DataFrame, writes: pd.DataFrame) -> pd.DataFrame:
    """Every write (and dry-run or unapplied claim, which must not meet another writer either)."""
    users = np.array([a.user_id for a in ctx.company.agents], dtype=object)
    c = claims.merge(ev[["key", "t", "agent", "prio", "call"]], left_on="ekey", right_on="key")
    agent_rows = pd.DataFrame({"otype": c["otype"], "oid": c["oid"], "field": c["field"], "t": c["t"],
                               "actor": users[c["agent"].to_numpy()], "prio": c["prio"], "call": c["call"],
                               "widx": -1})
    human_rows = pd.DataFrame({"otype": writes["otype"], "oid": writes["oid"], "field": writes["field"],
                               "t": writes["t"], "actor": writes["writer"], "prio": writes["prio"], "call": -1,
                               "widx": np.arange(len(writes))})
    both = pd.concat([agent_rows, human_rows], ignore_index=True)
    both["day"] = (both["t"].to_numpy() - START) // DAY
    return both.sort_values(["prio", "t", "call", "widx"], kind="stable")


def resolve_conflicts(ctx: Ctx, ev: pd.DataFrame, claims: pd.DataFrame,
                      writes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Keep one writer per object per day (the highest priority, then the earliest) and one write per field.

    Losing optional calls are dropped whole (every attempt); an incident never loses.
    """
    w = _writes_by_actor(ctx, ev, claims, writes)
    winner = w.groupby(["otype", "oid", "day"], sort=False)["actor"].transform("first")
    second = w.duplicated(["otype", "oid", "field", "day"], keep="first")
    losers = w[(w["actor"] != winner) | second]
    if (losers["prio"] == PRIO_INCIDENT).any():
        raise RuntimeError("an injected incident collides with another write; pick another object")
    lost_calls = set(losers.loc[losers["call"] >= 0, "call"])
    lost_writes = losers.loc[losers["widx"] >= 0, "widx"].to_numpy()
    ev = ev[~ev["call"].isin(lost_calls)]
    claims = claims[claims["ekey"].isin(ev["key"])]
    writes = writes.drop(writes.index[lost_writes])
    return ev, claims, writes


def _assign_runs(ctx: Ctx, ev: pd.DataFrame) -> pd.DataFrame:
    """Runs: one per agent, 30-minute slot and lane; parallel lanes keep busy slots short."""
    slot = (ev["t"].to_numpy() - START) // SLOT
    density = ev.assign(slot=slot).groupby("agent")["slot"].agg(["size", "nunique"])
    lanes = np.maximum(1, np.ceil(density["size"] / density["nunique"] / 25)).astype(np.int64)
    lane = ev["lane"].to_numpy() % lanes.reindex(ev["agent"]).to_numpy()
    auto = pd.Series([f"{a}:{s}:{ln}" for a, s, ln in zip(ev["agent"], slot, lane, strict=True)], index=ev.index)
    ev = ev.assign(run=ev["run"].where(ev["run"].notna(), auto))
    # A retry belongs to the run of the call's first attempt.
    ev = ev.sort_values(["t", "key"], kind="stable")
    ev["run"] = ev.groupby("call", sort=False)["run"].transform("first")
    return ev


def _strict_times(ev: pd.DataFrame) -> pd.DataFrame:
    """Inside a run, times strictly increase (1 s apart at least), so steps follow occurred_at."""
    ev = ev.sort_values(["run", "t", "key"], kind="stable")
    rank = ev.groupby("run", sort=False).cumcount().to_numpy()
    base = pd.Series(ev["t"].to_numpy() - rank, index=ev.index).groupby(ev["run"].to_numpy(), sort=False).cummax()
    return ev.assign(t=base.to_numpy() + rank)


def _run_bounds(ev: pd.DataFrame) -> pd.DataFrame:
    """run_started / run_finished around every run; a run fails when a call fails for good."""
    in_run = ev[~ev["run"].str.startswith("ctl:")]
    retried = set(ev["retry_of"].to_numpy())
    final_fail = (in_run["etype"] == "tool_call") & (in_run["status"] == "failed") & ~in_run["key"].isin(retried)
    g = in_run.assign(final_fail=final_fail).groupby("run", sort=True)
    bounds = g.agg(t0=("t", "min"), t1=("t", "max"), agent=("agent", "first"), failed=("final_fail", "any"),
                   obo=("obo", "first"), steps=("t", "size")).reset_index()
    n = len(bounds)
    started = pd.DataFrame({"t": bounds["t0"] - 1, "agent": bounds["agent"], "etype": "run_started",
                            "run": bounds["run"], "obo": bounds["obo"], "status": None, "step": 0})
    finished = pd.DataFrame({"t": bounds["t1"] + 1, "agent": bounds["agent"], "etype": "run_finished",
                             "run": bounds["run"], "obo": bounds["obo"],
                             "status": np.where(bounds["failed"], "failed", "succeeded"),
                             "step": bounds["steps"] + 1})
    return pd.concat([started, finished], ignore_index=True).assign(key=-1 - np.arange(2 * n))


def _steps_and_bounds(ev: pd.DataFrame) -> pd.DataFrame:
    ev = ev.sort_values(["run", "t", "key"], kind="stable")
    ev["step"] = ev.groupby("run", sort=False).cumcount().to_numpy() + 1
    ev.loc[ev["run"].str.startswith("ctl:"), "step"] = 0
    bounds = _run_bounds(ev)
    return pd.concat([ev, bounds], ignore_index=True)


def _ids(rng: np.random.Generator, prefix: str, n: int) -> np.ndarray:
    """Random (seeded) UUID-shaped ids: unique forever in practice, identical for the same seed."""
    raw = rng.bytes(16 * n)
    ids = [raw[i:i + 16].hex() for i in range(0, 16 * n, 16)]
    out = np.array([f"{prefix}{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in ids], dtype=object)
    if len(set(out)) != n:
        raise RuntimeError("id collision; use another seed")
    return out


def _old_values(ctx: Ctx, claims: pd.DataFrame, writes: pd.DataFrame, ev: pd.DataFrame) -> pd.DataFrame:
    """The true value of each claimed field just before the call (previous write, else the day-0 row)."""
    c = claims.merge(ev[["key", "t"]], left_on="ekey", right_on="key").drop(columns="key")
    log = writes[["otype", "oid", "field", "t", "new"]].rename(columns={"new": "prev"})
    c = c.sort_values("t", kind="stable").reset_index(drop=True)
    log = log.sort_values("t", kind="stable")
    c["_k"] = c["otype"] + "\x1f" + c["oid"].astype(str) + "\x1f" + c["field"]
    log = log.assign(_k=log["otype"] + "\x1f" + log["oid"].astype(str) + "\x1f" + log["field"])
    merged = pd.merge_asof(c, log[["t", "_k", "prev"]], on="t", by="_k", allow_exact_matches=False)
    missing = merged["prev"].isna() & ~merged["create"]
    old = merged["prev"].astype(object).where(~merged["prev"].isna(), None)
    for (otype, field), idx in merged[missing].groupby(["otype", "field"]).groups.items():
        table = ctx.table(OBJECT_OF_TYPE[otype]).set_index(ID_COLUMN[OBJECT_OF_TYPE[otype]])
        values = table[field].reindex(merged.loc[idx, "oid"]).to_numpy()
        old.loc[idx] = np.where(pd.isna(values), None, values)
    merged["old"] = old.where(~merged["create"], None)
    return merged.drop(columns=["_k", "prev"])


def _write_log(ctx: Ctx, ev: pd.DataFrame, claims: pd.DataFrame, writes: pd.DataFrame) -> pd.DataFrame:
    """Every value the CRM really takes: applied claims (creates included), human and unclaimed writes."""
    users = np.array([a.user_id for a in ctx.company.agents], dtype=object)
    applied = claims[claims["applied"]].merge(ev[["key", "t", "agent"]], left_on="ekey", right_on="key")
    agent_log = pd.DataFrame({"t": applied["t"], "otype": applied["otype"], "oid": applied["oid"],
                              "field": applied["field"], "new": applied["new"],
                              "writer": users[applied["agent"].to_numpy()], "create": applied["create"]})
    return pd.concat([agent_log, writes[["t", "otype", "oid", "field", "new", "writer"]].assign(create=False)],
                     ignore_index=True).sort_values("t", kind="stable").reset_index(drop=True)


def _within_simulation(ctx: Ctx, ev: pd.DataFrame, writes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop work that a delay pushed past the last snapshot (whole calls, so no retry is left half done)."""
    cut = ctx.end - 120
    last = ev.groupby("call")["t"].transform("max")
    return ev[last.to_numpy() < cut], writes[writes["t"].to_numpy() < cut]


def assemble(ctx: Ctx) -> Assembled:
    """Resolve conflicts, build runs and steps, compute old values and ids."""
    ev, claims, writes, created = ctx.plan.frames()
    ev, writes = _within_simulation(ctx, ev, writes)
    claims = claims[claims["ekey"].isin(ev["key"])]
    ev, claims, writes = resolve_conflicts(ctx, ev, claims, writes)
    ev = _steps_and_bounds(_strict_times(_assign_runs(ctx, ev)))
    # Creates carry the (possibly shifted) time of their call, also as the row's updated_at.
    creates = {}
    for otype, frame in created.items():
        frame = frame.merge(ev[["key", "t"]], left_on="ekey", right_on="key").drop(columns=["key"])
        creates[otype] = frame.assign(updated_at=iso(frame["t"].to_numpy()))
    log = _write_log(ctx, ev, claims, writes)
    claims = _old_values(ctx, claims, log, ev)
    ev = ev.sort_values(["t", "key"], kind="stable").reset_index(drop=True)
    ev["event_id"] = _ids(ctx.rng, "", len(ev))
    key_to_id = dict(zip(ev["key"].tolist(), ev["event_id"].tolist(), strict=True))
    runs = ev["run"].unique()
    run_ids = pd.Series(_ids(ctx.rng, "run_", len(runs)), index=runs)
    ev["run_id"] = np.where(ev["run"].str.startswith("ctl:"), "ctl_" + ev["event_id"],
                            run_ids.reindex(ev["run"]).to_numpy())
    calls = ev.loc[ev["etype"] == "tool_call", "call"].unique()
    call_ids = pd.Series(_ids(ctx.rng, "call_", len(calls)), index=calls)
    ev["call_id"] = call_ids.reindex(ev["call"]).to_numpy()
    ev = ev.sort_values(["t", "event_id"], kind="stable").reset_index(drop=True)
    return Assembled(events=ev, claims=claims, writes=log, creates=creates, key_to_id=key_to_id)
