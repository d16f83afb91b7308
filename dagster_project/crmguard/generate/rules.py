"""The stateful rules the generator must evaluate itself: the bounce-rate stop (docs/incidents.md).

Used twice: to find the exact calls a `bounce_rate_not_stopped` incident makes violating, and by the
self-check to prove the clean world never crosses the threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BOUNCE_WINDOW = 50
BOUNCE_THRESHOLD = 10


def bounce_crossings(ev: pd.DataFrame) -> list[tuple[Any, Any, Any]]:
    """(agent, time, signal key) of each bounce that brings an agent's window to the threshold.

    The window is the agent's last 50 succeeded production send_email calls at the bounce, counted
    from the agent's last resume; a contact counts once it has any bounce signal at or before then.
    After a crossing the rule stays fired until the next resume. Columns used: agent, t, key, etype,
    tool, status, env, dry_run, contact, payload (a signal's payload, with `kind`).
    """
    signals = ev[ev["etype"] == "signal_received"]
    kinds = np.array([p["kind"] for p in signals["payload"]], dtype=object)
    bounces = signals[kinds == "bounce"].sort_values("t")
    first_bounce = bounces.groupby("contact")["t"].min()
    sends = ev[(ev["etype"] == "tool_call") & (ev["tool"] == "send_email") & (ev["status"] == "succeeded")
               & (ev["env"] == "production") & ~ev["dry_run"].astype(bool)].sort_values("t")
    resumes = ev[ev["etype"] == "resume"]
    out = []
    for agent, agent_bounces in bounces.groupby("agent"):
        s = sends[sends["agent"] == agent]
        st = s["t"].to_numpy()
        bounced_at = first_bounce.reindex(s["contact"]).to_numpy(dtype=float)
        rt = np.sort(resumes.loc[resumes["agent"] == agent, "t"].to_numpy())
        fired_since = None
        for b, key in zip(agent_bounces["t"].to_numpy(), agent_bounces["key"].to_numpy(), strict=True):
            r = rt[np.searchsorted(rt, b, side="right") - 1] if len(rt) and rt[0] <= b else -1
            if fired_since is not None and r > fired_since:
                fired_since = None
            if fired_since is not None:
                continue
            hi = np.searchsorted(st, b, side="right")
            lo = max(np.searchsorted(st, r, side="right"), hi - BOUNCE_WINDOW)
            if np.count_nonzero(bounced_at[lo:hi] <= b) >= BOUNCE_THRESHOLD:
                out.append((agent, b, key))
                fired_since = b
    return out
