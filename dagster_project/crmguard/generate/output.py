"""Write the world: action logs (one JSON Lines file per UTC day), CRM snapshots, ground truth.

Times are written from epoch seconds with numpy's UTC formatting, never through the local zone, so the
bytes are the same under any TZ. Events are serialized with orjson in one pass per day file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from crmguard.generate.assemble import Assembled
from crmguard.generate.company import Agent
from crmguard.generate.context import Ctx
from crmguard.generate.model import BOOL_FIELDS, COLUMNS, DAY, FLOAT_FIELDS, INT_FIELDS, OBJECT_OF_TYPE, START
from crmguard.generate.plan import iso

SOURCE = "crmguard-generate"


def json_scalar(fieldname: str, value: Any) -> Any:
    """A canonical CSV value as the JSON scalar a claimed change carries (see docs/incidents.md, Values)."""
    if value is None:
        return None
    if fieldname in BOOL_FIELDS:
        return value == "true"
    if fieldname in INT_FIELDS:
        return int(value)
    if fieldname in FLOAT_FIELDS:
        return float(value)
    return value


def _offset_seconds(offset: str) -> int:
    if offset in ("Z", "+00:00"):
        return 0
    sign = -1 if offset[0] == "-" else 1
    return sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)


def _local_times(ev: pd.DataFrame, agents: list[Agent]) -> np.ndarray:
    """occurred_at in each agent's own log offset: the instant is the same, the wall clock differs."""
    offsets = np.array([a.offset for a in agents], dtype=object)[ev["agent"].to_numpy()]
    shift = np.array([_offset_seconds(a.offset) for a in agents], dtype=np.int64)[ev["agent"].to_numpy()]
    wall = np.datetime_as_string((ev["t"].to_numpy() + shift).astype("datetime64[s]"), unit="s").astype(object)
    return wall + offsets


def _changes(world: Assembled) -> dict[int, list[dict[str, Any]]]:
    c = world.claims.sort_values(["ekey"], kind="stable")
    rows = zip(c["ekey"].to_numpy(), c["otype"], c["oid"], c["field"], c["old"], c["new"], strict=True)
    return {key: [{"object_type": o, "object_id": i, "field": f, "old": json_scalar(f, old),
                   "new": json_scalar(f, new)} for _, o, i, f, old, new in group]
            for key, group in groupby(rows, key=lambda r: int(r[0]))}


def _agent_meta(agents: list[Agent]) -> list[dict[str, Any]]:
    return [{"versions": a.versions, "release": START + a.release_day * DAY, "agent_id": a.agent_id,
             "user_id": a.user_id, "role": a.kind.role, "model": a.kind.model, "scope": a.kind.credential_scope,
             "sha": [hashlib.sha256(f"{a.agent_id}@{v}".encode()).hexdigest() for v in a.versions]}
            for a in agents]


def event_dicts(ctx: Ctx, world: Assembled) -> Iterator[tuple[int, dict[str, Any]]]:
    """(epoch seconds, event as the contract's JSON object), in file order."""
    ev = world.events
    meta = _agent_meta(ctx.company.agents)
    changes = _changes(world)
    key_to_id = world.key_to_id
    call_of = dict(zip(ev["key"].tolist(), ev["call_id"].tolist(), strict=True))
    occurred = _local_times(ev, ctx.company.agents)
    cols = [ev[c].to_numpy() for c in (
        "t", "key", "event_id", "etype", "agent", "run_id", "step", "env", "actor_type", "actor_id", "actor_role",
        "obo", "tool", "call_id", "ttype", "tid", "acct", "contact", "payload", "status", "error", "attempt",
        "retry_of", "dry_run", "approval_id", "trig")]
    for (t, key, eid, etype, agent, run_id, step, env, atype, aid, arole, obo, tool, call_id, ttype, tid, acct,
         contact, payload, status, error, attempt, retry_of, dry, approval_id, trig), when in zip(zip(*cols, strict=True), occurred, strict=True):
        m = meta[agent]
        late = int(t >= m["release"])
        human = atype == "human"
        event: dict[str, Any] = {
            "schema_version": "1", "event_id": eid, "event_type": etype, "occurred_at": when,
            "agent_id": m["agent_id"], "agent_version": m["versions"][late], "run_id": run_id, "step": int(step),
            "environment": env if isinstance(env, str) else "production",
            "actor": ({"type": "human", "id": aid, "role": arole, "on_behalf_of": None} if human else
                      {"type": "agent", "id": m["user_id"], "role": m["role"], "on_behalf_of": obo}),
        }
        if etype == "tool_call":
            event.update({
                "tool": {"name": tool, "call_id": call_id, "credential_scope": m["scope"]},
                "target": {"object_type": ttype, "object_id": tid, "account_id": acct},
                "input": payload, "changes": changes.get(int(key), []),
                "context": {"model": m["model"], "prompt_sha256": m["sha"][late],
                            "retrieved": [x for x in (contact, acct) if x is not None],
                            "triggered_by_event_id": key_to_id.get(int(trig)) if trig >= 0 else None},
                "outcome": {"status": status, "error": error, "attempt": int(attempt),
                            "retry_of": key_to_id.get(int(retry_of)) if retry_of >= 0 else None},
                "dry_run": bool(dry), "approval_id": approval_id,
            })
        elif etype in ("approval_requested", "approval_decided"):
            approval = dict(payload)
            approval["call_id"] = call_of.get(approval.pop("call_key"))
            event["approval"] = approval
        elif etype == "signal_received":
            event["signal"] = payload
        elif etype in ("stop", "resume"):
            event[etype] = payload
        elif etype == "run_finished":
            event["outcome"] = {"status": status}
        yield int(t), event


def write_actions(out: Path, ctx: Ctx, world: Assembled, progress: Callable[[str], None]) -> int:
    """One file per UTC day, lines sorted by occurred_at (the instant) then event_id."""
    folder = out / "actions"
    folder.mkdir(parents=True, exist_ok=True)
    files = 0
    stream = event_dicts(ctx, world)
    for day, group in groupby(stream, key=lambda item: (item[0] - START) // DAY):
        name = np.datetime_as_string(np.datetime64(START + day * DAY, "s"), unit="D")
        (folder / f"{name}.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for _, e in group))
        files += 1
        if files % 5 == 0:
            progress(f"  wrote action log {name}")
    return files


def snapshot_name(t: int) -> str:
    return np.datetime_as_string(np.datetime64(int(t), "s"), unit="s").replace("-", "").replace(":", "") + "Z"


class _ObjectState:
    """One CRM object's current rows as column arrays, with an id -> row position index.

    Arrow arrays of unchanged columns are reused from one snapshot to the next: most columns of a big
    table never change, and converting them again dominated the snapshot cost.
    """

    def __init__(self, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.data = {c: frame[c].to_numpy(dtype=object, copy=True) for c in columns}
        self.index = pd.Index(self.data[columns[0]])
        self.arrow: dict[str, pa.Array] = {}

    def append(self, rows: pd.DataFrame) -> None:
        for c in self.columns:
            self.data[c] = np.concatenate([self.data[c], rows[c].to_numpy(dtype=object)])
        self.index = pd.Index(self.data[self.columns[0]])
        self.arrow.clear()

    def set(self, ids: np.ndarray, column: str, values: np.ndarray) -> None:
        pos = self.index.get_indexer(ids)
        if (pos < 0).any():
            raise RuntimeError(f"write to a {column} of an object that does not exist yet")
        self.data[column][pos] = values
        self.arrow.pop(column, None)

    def write_csv(self, path: Path) -> int:
        for c in self.columns:
            if c not in self.arrow:
                self.arrow[c] = pa.array(self.data[c], type=pa.string())
        table = pa.table({c: self.arrow[c] for c in self.columns})
        pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))
        return table.num_rows


def _apply_window(state: dict[str, _ObjectState], creates: dict[str, pd.DataFrame], log: pd.DataFrame,
                  lo: int, hi: int) -> None:
    """Apply everything that happened in (lo, hi] to the CRM state (log and creates sorted by t)."""
    for otype, frame in creates.items():
        t = frame["t"].to_numpy()
        new = frame.iloc[np.searchsorted(t, lo, side="right"):np.searchsorted(t, hi, side="right")]
        if len(new):
            state[OBJECT_OF_TYPE[otype]].append(new)
    t = log["t"].to_numpy()
    window = log.iloc[np.searchsorted(t, lo, side="right"):np.searchsorted(t, hi, side="right")]
    window = window[~window["create"].to_numpy(dtype=bool)]
    for (otype, fieldname), part in window.groupby(["otype", "field"], sort=True):
        last = part.drop_duplicates("oid", keep="last")
        state[OBJECT_OF_TYPE[otype]].set(last["oid"].to_numpy(), fieldname, last["new"].to_numpy(dtype=object))
    for otype, part in window.groupby("otype", sort=True):
        last = part.drop_duplicates("oid", keep="last")
        obj = state[OBJECT_OF_TYPE[otype]]
        obj.set(last["oid"].to_numpy(), "updated_at", iso(last["t"].to_numpy()))
        obj.set(last["oid"].to_numpy(), "updated_by", last["writer"].to_numpy(dtype=object))


def write_snapshots(out: Path, ctx: Ctx, world: Assembled, extra: list[int],
                    progress: Callable[[str], None]) -> list[str]:
    """Daily snapshots at 00:00:00Z from day 0 to the end, plus the incidents' extra snapshots."""
    times = sorted({START + d * DAY for d in range(ctx.days + 1)} | set(extra))
    state = {name: _ObjectState(ctx.table(name), cols) for name, cols in COLUMNS.items()}
    creates = {o: f.sort_values("t", kind="stable") for o, f in world.creates.items()}
    names = []
    prev = START - 1
    for i, t in enumerate(times):
        _apply_window(state, creates, world.writes, prev, t)
        prev = t
        name = snapshot_name(t)
        folder = out / "crm" / name
        folder.mkdir(parents=True, exist_ok=True)
        counts = {obj: s.write_csv(folder / f"{obj}.csv") for obj, s in state.items()}
        manifest = {"captured_at": iso(np.array([t]))[0], "source": SOURCE, "objects": counts, "row_counts": counts}
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        names.append(name)
        if (i + 1) % 10 == 0:
            progress(f"  wrote snapshot {i + 1}/{len(times)}")
    return names


def write_ground_truth(out: Path, incidents: list[dict[str, Any]]) -> None:
    lines = [json.dumps(i, sort_keys=True) + "\n" for i in incidents]
    (out / "ground_truth.jsonl").write_text("".join(lines))
