"""The plan of a world before it is assembled: events, claimed changes, writes and creates as tables.

Generators append columnar batches here (numpy arrays, never one event at a time). Every event gets an
integer key at birth so claims, retries, triggers and approvals can point at it before any event id or
run exists; the assembler turns keys into ids once the whole world is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crmguard.generate.model import ACTIVE_HI, ACTIVE_LO, DAY, SLOT, START

# Conflict priority of a write: an incident beats mandatory clean work, which beats optional edits.
PRIO_INCIDENT, PRIO_MANDATORY, PRIO_FREE = 0, 1, 2

EVENT_DEFAULTS: dict[str, Any] = {
    "t": 0, "agent": -1, "etype": "tool_call", "tool": None, "ttype": None, "tid": None, "acct": None,
    "contact": None, "status": "succeeded", "error": None, "attempt": 1, "retry_of": -1, "call": -1,
    "dry_run": False, "approval_id": None, "trig": -1, "payload": None, "actor_type": None,
    "actor_id": None, "actor_role": None, "obo": None, "run": None, "env": "production",
    "prio": PRIO_FREE, "lane": 0,
}


def _column(value: Any, n: int) -> np.ndarray:
    """Broadcast a scalar to n rows; arrays and lists pass through (their length must be n)."""
    if isinstance(value, (np.ndarray, list, pd.Series)):
        if len(value) != n:
            raise ValueError(f"column has {len(value)} rows, expected {n}")
        return np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
    if value is None or isinstance(value, (str, dict)):
        out = np.empty(n, dtype=object)
        out[:] = [value] * n
        return out
    return np.full(n, value)


def _frame(batches: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """One DataFrame from many column batches; text stays as Python objects (fast to build and join)."""
    if not batches:
        return pd.DataFrame()
    columns = {}
    for name in batches[0]:
        parts = [b[name] for b in batches]
        kinds = {p.dtype.kind for p in parts}
        merged = np.concatenate([p.astype(object) for p in parts]) if "O" in kinds or len(kinds) > 1 \
            else np.concatenate(parts)
        columns[name] = pd.Series(merged, dtype=object) if merged.dtype.kind in "OU" else pd.Series(merged)
    return pd.DataFrame(columns)


@dataclass
class Plan:
    """Accumulates the world's events, claims, writes and creates as batches of columns."""

    rng: np.random.Generator
    next_key: int = 0
    events: list[dict[str, np.ndarray]] = field(default_factory=list)
    claims: list[dict[str, np.ndarray]] = field(default_factory=list)
    writes: list[dict[str, np.ndarray]] = field(default_factory=list)
    creates: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=dict)

    def add_events(self, n: int, **cols: Any) -> np.ndarray:
        """Append n events (columns broadcast from scalars) and return their keys."""
        if n == 0:
            return np.empty(0, dtype=np.int64)
        keys = np.arange(self.next_key, self.next_key + n, dtype=np.int64)
        self.next_key += n
        unknown = set(cols) - set(EVENT_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown event columns {sorted(unknown)}")
        data = {"key": keys}
        for name, default in EVENT_DEFAULTS.items():
            data[name] = _column(cols.get(name, default), n)
        call = data["call"].astype(np.int64)
        data["call"] = np.where(call < 0, keys, call)
        self.events.append(data)
        return keys

    def add_claims(self, ekeys: np.ndarray, otype: str, oids: Any, fieldname: str, new: Any,
                   applied: bool | np.ndarray = True, create: bool = False) -> None:
        """Claimed changes of tool calls; `applied` says whether the CRM really takes the write."""
        n = len(ekeys)
        if n:
            self.claims.append({
                "ekey": np.asarray(ekeys, dtype=np.int64), "otype": _column(otype, n), "oid": _column(oids, n),
                "field": _column(fieldname, n), "new": _column(new, n),
                "applied": np.asarray(_column(applied, n), dtype=bool), "create": np.full(n, create),
            })

    def add_writes(self, t: Any, otype: str, oids: Any, fieldname: str, new: Any, writer: Any, prio: int) -> None:
        """CRM writes no tool call claims: human edits, or an incident's unexplained agent write."""
        n = len(oids)
        if n:
            self.writes.append({
                "t": np.asarray(_column(t, n), dtype=np.int64), "otype": _column(otype, n), "oid": _column(oids, n),
                "field": _column(fieldname, n), "new": _column(new, n), "writer": _column(writer, n),
                "prio": np.full(n, prio),
            })

    def add_creates(self, otype: str, ekeys: np.ndarray, rows: dict[str, Any], id_column: str) -> None:
        """Rows a tool call creates; every field but the id and the update stamps becomes a claim."""
        n = len(ekeys)
        if not n:
            return
        self.creates.setdefault(otype, []).append(
            {"ekey": np.asarray(ekeys, dtype=np.int64), **{k: _column(v, n) for k, v in rows.items()}})
        for col, values in rows.items():
            if col not in (id_column, "updated_at", "updated_by"):
                self.add_claims(ekeys, otype, rows[id_column], col, values, create=True)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
        """Events, claims, writes and creates (per object type) as DataFrames."""
        writes = _frame(self.writes) if self.writes else pd.DataFrame(
            {c: pd.Series(dtype=object) for c in ("t", "otype", "oid", "field", "new", "writer", "prio")})
        return (_frame(self.events), _frame(self.claims), writes,
                {otype: _frame(batches) for otype, batches in self.creates.items()})


def day_start(day: int | np.ndarray) -> Any:
    return START + np.asarray(day, dtype=np.int64) * DAY


def active_times(rng: np.random.Generator, days: np.ndarray, hour_lo: int = 0, hour_hi: int = 24) -> np.ndarray:
    """A random second inside the active part of a random slot of each given day and hour range."""
    slots = rng.integers(hour_lo * 2, hour_hi * 2, size=len(days))
    return day_start(days) + slots * SLOT + rng.integers(ACTIVE_LO, ACTIVE_HI, size=len(days))


def snap_active(t: np.ndarray) -> np.ndarray:
    """Move times that fall into a slot's reserved tail (or its first minute) into an active part."""
    t = np.asarray(t, dtype=np.int64)
    offset = (t - START) % SLOT
    late = offset >= ACTIVE_HI
    early = offset < ACTIVE_LO
    moved = np.where(late, t - offset + SLOT + ACTIVE_LO + (offset - ACTIVE_HI), t)
    return np.where(early, t - offset + ACTIVE_LO, moved)


def day_of(t: np.ndarray | int) -> Any:
    return (np.asarray(t, dtype=np.int64) - START) // DAY


def iso(t: np.ndarray) -> np.ndarray:
    """Epoch seconds as `YYYY-MM-DDTHH:MM:SSZ` strings (UTC by construction, never the local zone)."""
    text = np.datetime_as_string(np.asarray(t, dtype="datetime64[s]"), unit="s")
    return np.char.add(text.astype(str), "Z").astype(object)


def iso_date(t: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(t, dtype="datetime64[s]"), unit="D").astype(object)


def pick(rng: np.random.Generator, values: Any, n: int, p: Any = None) -> np.ndarray:
    """n random choices from a sequence, as an object array of its values."""
    arr = np.asarray(values, dtype=object)
    return arr[rng.choice(len(arr), size=n, p=p)] if n else np.empty(0, dtype=object)


def pick_other(rng: np.random.Generator, values: Any, old: np.ndarray) -> np.ndarray:
    """A random choice per row that differs from `old` (so a write is never a no-op)."""
    vals = np.sort(np.asarray(values, dtype=object))
    idx = rng.integers(0, len(vals), len(old))
    idx = np.where(vals[idx] == old, (idx + 1) % len(vals), idx)
    return vals[idx]
