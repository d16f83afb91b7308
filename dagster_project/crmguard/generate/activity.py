"""Clean activity: what the three agent kinds and the humans do when nothing goes wrong.

Everything is planned as whole arrays per agent. The clean world keeps every rule of docs/incidents.md:
outbound only to unflagged contacts at unflagged ICP prospects, sequences end at the first reply,
bounce or unsubscribe, deals only move forward, big discounts are approved by someone else in ops,
owner changes come a few per run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmguard.generate.company import TITLES, Agent
from crmguard.generate.context import Ctx
from crmguard.generate.model import (
    ACTIVE_HI,
    ACTIVE_LO,
    DAY,
    ICP_INDUSTRIES,
    INCIDENT_OFFSET,
    OPEN_STAGES,
    OTHER_INDUSTRIES,
    SEQUENCES,
    SLOT,
)
from crmguard.generate.plan import (
    PRIO_FREE,
    PRIO_MANDATORY,
    active_times,
    day_of,
    day_start,
    iso,
    iso_date,
    pick,
    pick_other,
    snap_active,
)

SIGNAL_TEXT = {
    "reply": (("Thanks, not a priority this quarter.", "neutral"), ("Can you send more details?", "positive"),
              ("We already use another vendor.", "negative")),
    "meeting_request": (("Happy to talk - does Thursday afternoon work?", "positive"),),
    "unsubscribe": (("Please remove me from your mailing list.", "negative"),),
    "bounce": (("550 5.1.1 The email account that you tried to reach does not exist", "neutral"),),
    "out_of_office": (("I am out of the office until next week with limited access to email.", "neutral"),),
}
# Share of threads ending in each signal (the rest get no answer); bounces stay near 2 %.
SIGNAL_SHARES = (("reply", 0.07), ("meeting_request", 0.03), ("unsubscribe", 0.02), ("bounce", 0.02),
                 ("out_of_office", 0.03))
MAX_STEPS = 10


def _signal_events(ctx: Ctx, agent: Agent, kind: str, t: np.ndarray, contacts: np.ndarray,
                   from_address: np.ndarray, lane: np.ndarray) -> np.ndarray:
    texts = SIGNAL_TEXT[kind]
    chosen = ctx.rng.integers(0, len(texts), len(t))
    payload = [{"kind": kind, "contact_id": c, "from_address": f, "sentiment": texts[i][1],
                "text_excerpt": texts[i][0]} for c, f, i in zip(contacts, from_address, chosen, strict=True)]
    return ctx.plan.add_events(len(t), t=t, agent=agent.index, etype="signal_received", contact=contacts,
                               payload=payload, obo=ctx.obo(agent, len(t)), lane=lane)


def _thread_steps(ctx: Ctx, n: int, t0: np.ndarray, d0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Send times of each thread's sequence steps (a matrix, -1 where there is no step)."""
    rng = ctx.rng
    steps = rng.integers(6, MAX_STEPS + 1, n)
    gaps = rng.integers(1, 3, (n, MAX_STEPS))
    gaps[:, 0] = 0
    days = d0[:, None] + np.cumsum(gaps, axis=1)
    times = active_times(rng, days.ravel(), 7, 21).reshape(n, MAX_STEPS)
    times[:, 0] = snap_active(t0 + rng.integers(30, 90, n))
    valid = (np.arange(MAX_STEPS)[None, :] < steps[:, None]) & (times < ctx.end - SLOT)
    return np.where(valid, times, -1), (rng.random((n, MAX_STEPS)) < 0.75) | (np.arange(MAX_STEPS)[None, :] == 0)


def sdr_activity(ctx: Ctx, agent: Agent, share: tuple[int, int]) -> None:
    """Sequences for a share of the outbound pool: enroll, send steps, react to the inbound signals."""
    rng, plan = ctx.rng, ctx.plan
    con, acc = ctx.table("contacts"), ctx.table("accounts")
    acc_row = ctx.account_row().reindex(con["account_id"].to_numpy()).to_numpy()
    pool = np.flatnonzero(ctx.pool_accounts()[acc_row] & ctx.clean_contacts())
    pool = pool[pool % share[1] == share[0]]
    # At most 1600 enrollments a day: with pauses, meetings and title fixes the agent stays well under
    # the 200 records per hour of the blast-radius rule even at 50k accounts.
    n = min(int(len(pool) * 0.75), 1_600 * ctx.days)
    chosen = np.sort(rng.choice(pool, n, replace=False))
    cid, email = con["contact_id"].to_numpy()[chosen], con["email"].to_numpy()[chosen]
    account = con["account_id"].to_numpy()[chosen]
    domain = acc["domain"].to_numpy()[acc_row[chosen]]
    d0 = rng.integers(0, ctx.days, n)
    t0 = active_times(rng, d0)
    times, is_send = _thread_steps(ctx, n, t0, d0)
    ok = times[:, 0] >= 0
    chosen, cid, email, account, domain, d0, t0, times, is_send = (
        x[ok] for x in (chosen, cid, email, account, domain, d0, t0, times, is_send))
    n = len(chosen)
    enr = np.array([f"enr_g{agent.index}_{i:07d}" for i in range(n)], dtype=object)
    seq = pick(rng, SEQUENCES, n)

    # Which signal ends each thread, after which step, and when it arrives.
    u = rng.random(n)
    edges = np.cumsum([s for _, s in SIGNAL_SHARES])
    kind_idx = np.searchsorted(edges, u, side="right")
    last_step = (times >= 0).sum(axis=1) - 1
    after = np.where(kind_idx == 3, 0, (rng.random(n) * (last_step + 1)).astype(np.int64))
    sent_at = times[np.arange(n), after]
    delay = np.where(kind_idx == 3, rng.integers(120, 1800, n), rng.integers(4 * 3600, 30 * 3600, n))
    sig_t = snap_active(np.maximum(sent_at + delay, np.where(kind_idx == 3, 0, day_start(d0 + 1) + ACTIVE_LO)))
    has_signal = (kind_idx < len(SIGNAL_SHARES)) & (sig_t < ctx.end - DAY // 2)
    ends_thread = has_signal & (kind_idx != 4)
    col = np.arange(MAX_STEPS)[None, :]
    keep = (times >= 0) & ~(ends_thread[:, None] & (col > after[:, None]))

    lane = chosen
    enroll = ctx.tool_calls(agent, n, t=t0, tool="enroll_in_sequence", ttype="sequence_enrollment", tid=enr,
                            acct=account, contact=cid, lane=lane,
                            payload=[{"contact_id": c, "sequence_id": s} for c, s in zip(cid, seq, strict=True)])
    ts = iso(t0)
    plan.add_creates("sequence_enrollment", enroll, {
        "enrollment_id": enr, "contact_id": cid, "sequence_id": seq, "status": "active", "step": "1",
        "enrolled_by": agent.user_id, "updated_at": ts, "updated_by": agent.user_id}, "enrollment_id")

    rows, cols = np.nonzero(keep)
    sends = is_send[rows, cols]
    for mask, tool in ((sends, "send_email"), (~sends, "create_task")):
        r, c = rows[mask], cols[mask]
        if tool == "send_email":
            payload = [{"to": e, "template": f"{s}/step-{k + 1}", "sequence_step": int(k + 1)}
                       for e, s, k in zip(email[r], seq[r], c, strict=True)]
        else:
            payload = [{"subject": f"Call {e} ({s} step {k + 1})", "contact_id": x}
                       for e, s, k, x in zip(email[r], seq[r], c, cid[r], strict=True)]
        ctx.tool_calls(agent, len(r), t=times[r, c], tool=tool, ttype="contact" if tool == "send_email" else "task",
                       tid=cid[r] if tool == "send_email" else np.char.add("tsk_", (r * MAX_STEPS + c).astype(str))
                       .astype(object), acct=account[r], contact=cid[r], lane=lane[r], payload=payload)
    notes = rows[sends & (rng.random(len(rows)) < 0.1)]
    ctx.tool_calls(agent, len(notes), t=snap_active(times[notes, 0] + 5), tool="write_note", ttype="contact",
                   tid=cid[notes], acct=account[notes], contact=cid[notes], lane=lane[notes], prio=PRIO_FREE,
                   payload=[{"object_type": "contact", "object_id": c, "body": "Added to outbound sequence."}
                            for c in cid[notes]])
    _react(ctx, agent, dict(cid=cid, email=email, account=account, domain=domain, enr=enr, lane=lane,
                            kind_idx=kind_idx, sig_t=sig_t, has_signal=has_signal))
    _title_updates(ctx, agent, pool)


def _react(ctx: Ctx, agent: Agent, th: dict[str, np.ndarray]) -> None:
    """Signals and what follows them: pauses, meetings, tasks, and the humans setting the flags."""
    rng, plan = ctx.rng, ctx.plan
    humans = ctx.company.humans
    for k, (kind, _) in enumerate(SIGNAL_SHARES):
        idx = np.flatnonzero(th["has_signal"] & (th["kind_idx"] == k))
        if not len(idx):
            continue
        t = th["sig_t"][idx]
        from_address = (np.char.add("postmaster@", th["domain"][idx].astype(str)).astype(object)
                        if kind == "bounce" else th["email"][idx])
        sig = _signal_events(ctx, agent, kind, t, th["cid"][idx], from_address, th["lane"][idx])
        react_t = snap_active(t + rng.integers(60, 900, len(idx)))
        common = dict(acct=th["account"][idx], contact=th["cid"][idx], lane=th["lane"][idx])
        if kind == "out_of_office":
            ctx.tool_calls(agent, len(idx), t=react_t, tool="create_task", ttype="task",
                           tid=np.char.add("tsk_ooo_", sig.astype(str)).astype(object), trig=sig,
                           payload=[{"subject": "Follow up after out of office", "contact_id": c}
                                    for c in th["cid"][idx]], **common)
            continue
        if kind == "bounce":  # the inbox sweep handles bounces the next morning, never the day of enrollment
            react_t = snap_active(day_start(day_of(t) + 1) + rng.integers(6 * 3600, 9 * 3600, len(idx)))
            live = react_t < ctx.end - SLOT
            idx, t, react_t, sig = idx[live], t[live], react_t[live], sig[live]
            common = {k2: v[live] for k2, v in common.items()}
        pause = ctx.tool_calls(agent, len(idx), t=react_t, tool="pause_sequence", ttype="sequence_enrollment",
                               tid=th["enr"][idx], trig=sig,
                               payload=[{"enrollment_id": e, "reason": kind} for e in th["enr"][idx]], **common)
        plan.add_claims(pause, "sequence_enrollment", th["enr"][idx], "status", "paused")
        if kind in ("unsubscribe", "bounce"):
            fieldname = "email_opt_out" if kind == "unsubscribe" else "email_bounced"
            plan.add_writes(snap_active(t + rng.integers(3600, 12 * 3600, len(idx))), "contact", th["cid"][idx],
                            fieldname, "true", pick(rng, humans["ops"], len(idx)), PRIO_MANDATORY)
        if kind == "meeting_request":
            _book_meetings(ctx, agent, th, idx, sig, react_t + 30)


def _book_meetings(ctx: Ctx, agent: Agent, th: dict[str, np.ndarray], idx: np.ndarray, sig: np.ndarray,
                   t: np.ndarray) -> None:
    rng, plan = ctx.rng, ctx.plan
    n = len(idx)
    acc = ctx.table("accounts").set_index("account_id")
    owner = acc["owner_id"].reindex(th["account"][idx]).to_numpy()
    deals = ctx.table("deals")
    open_deal = deals[deals["stage"].isin(OPEN_STAGES)].drop_duplicates("account_id").set_index("account_id")
    deal_id = open_deal["deal_id"].reindex(th["account"][idx]).to_numpy()
    deal_id = np.where(pd.isna(deal_id), None, deal_id)
    starts = day_start(day_of(t) + rng.integers(2, 7, n)) + rng.integers(14, 18, n) * 3600
    mtg = np.array([f"mtg_g{agent.index}_{i:06d}" for i in range(n)], dtype=object)
    keys = ctx.tool_calls(agent, n, t=snap_active(t), tool="book_meeting", ttype="meeting", tid=mtg,
                          acct=th["account"][idx], contact=th["cid"][idx], lane=th["lane"][idx], trig=sig,
                          payload=[{"contact_id": c, "deal_id": d, "starts_at": s, "duration_minutes": 30}
                                   for c, d, s in zip(th["cid"][idx], deal_id, iso(starts), strict=True)])
    plan.add_creates("meeting", keys, {
        "meeting_id": mtg, "contact_id": th["cid"][idx], "deal_id": deal_id, "owner_id": owner,
        "starts_at": iso(starts), "status": "scheduled", "booked_by": agent.user_id,
        "updated_at": iso(snap_active(t)), "updated_by": agent.user_id}, "meeting_id")
    fate = rng.random(n)
    held = (fate < 0.85) & (starts + 4 * 3600 < ctx.end)
    plan.add_writes(starts[held] + rng.integers(3600, 3 * 3600, int(held.sum())), "meeting", mtg[held], "status",
                    "held", owner[held], PRIO_MANDATORY)
    cancel = np.flatnonzero((fate >= 0.85) & (starts - DAY < ctx.end - SLOT))
    ct = snap_active(starts[cancel] - DAY)
    keys = ctx.tool_calls(agent, len(cancel), t=ct, tool="cancel_meeting", ttype="meeting", tid=mtg[cancel],
                          acct=th["account"][idx][cancel], contact=th["cid"][idx][cancel],
                          lane=th["lane"][idx][cancel],
                          payload=[{"meeting_id": m, "reason": "contact asked to reschedule"} for m in mtg[cancel]])
    plan.add_claims(keys, "meeting", mtg[cancel], "status", "cancelled")


def _title_updates(ctx: Ctx, agent: Agent, pool: np.ndarray) -> None:
    """The SDR agent corrects a few titles it learned from signatures (each contact at most once)."""
    rng = ctx.rng
    con = ctx.table("contacts")
    n = min(len(pool), max(1, len(pool) // 400) * ctx.days)
    rows = rng.choice(pool, n, replace=False)
    new = pick_other(rng, TITLES, con["title"].to_numpy()[rows])
    t = active_times(rng, rng.integers(0, ctx.days, n))
    keys = ctx.tool_calls(agent, n, t=t, tool="update_contact", ttype="contact", tid=con["contact_id"].to_numpy()[rows],
                          acct=con["account_id"].to_numpy()[rows], contact=con["contact_id"].to_numpy()[rows],
                          lane=rows, prio=PRIO_FREE,
                          payload=[{"contact_id": c, "fields": {"title": v}}
                                   for c, v in zip(con["contact_id"].to_numpy()[rows], new, strict=True)])
    ctx.plan.add_claims(keys, "contact", con["contact_id"].to_numpy()[rows], "title", new)


def router_activity(ctx: Ctx, agent: Agent, share: tuple[int, int]) -> None:
    """Routing passes: inbound cases routed, a few owner changes per pass, industry corrections."""
    rng, _plan = ctx.rng, ctx.plan
    acc = ctx.table("accounts")
    n_acc = len(acc)
    per_day = max(3, n_acc // 4 // share[1])
    days = np.repeat(np.arange(ctx.days), per_day)
    t = active_times(rng, days)
    rows = rng.integers(0, n_acc, len(t))
    cases = np.array([f"case_g{agent.index}_{i:07d}" for i in range(len(t))], dtype=object)
    queues = pick(rng, ("inbound_na", "inbound_emea", "support_escalation", "partner_referral"), len(t))
    ctx.tool_calls(agent, len(t), t=t, tool="route_case", ttype="case", tid=cases,
                   acct=acc["account_id"].to_numpy()[rows], lane=rows,
                   payload=[{"case_id": c, "queue": q, "account_id": a}
                            for c, q, a in zip(cases, queues, acc["account_id"].to_numpy()[rows], strict=True)])
    noted = np.flatnonzero(rng.random(len(t)) < 0.4)
    ctx.tool_calls(agent, len(noted), t=snap_active(t[noted] + 20), tool="write_note", ttype="account",
                   tid=acc["account_id"].to_numpy()[rows[noted]], acct=acc["account_id"].to_numpy()[rows[noted]],
                   lane=rows[noted], prio=PRIO_FREE,
                   payload=[{"object_type": "case", "object_id": c, "body": "Routed by territory and segment."}
                            for c in cases[noted]])
    _owner_changes(ctx, agent, share)
    _industry_fixes(ctx, agent)


def _owner_changes(ctx: Ctx, agent: Agent, share: tuple[int, int]) -> None:
    """At most four owner changes per routing pass, spread round-robin over the day's slots."""
    rng, plan = ctx.rng, ctx.plan
    per_day = int(np.clip(len(ctx.table("accounts")) // 250 // share[1], 3, 150))
    aes = ctx.company.humans["ae"]
    slots_per_day = DAY // SLOT
    for otype, name, share_of in (("account", "accounts", 0.4), ("contact", "contacts", 0.4), ("deal", "deals", 0.2)):
        table = ctx.table(name)
        n = min(len(table), max(1, int(per_day * share_of)) * ctx.days)
        rows = rng.choice(len(table), n, replace=False)
        k = np.arange(n)
        day = k % ctx.days
        slot = (k // ctx.days * 3 + {"account": 0, "contact": 1, "deal": 2}[otype]) % slots_per_day
        t = day_start(day) + slot * SLOT + rng.integers(ACTIVE_LO, ACTIVE_HI, n)
        new = pick_other(rng, aes, table["owner_id"].to_numpy()[rows])
        ids = table.iloc[:, 0].to_numpy()[rows]
        account = table["account_id"].to_numpy()[rows] if otype != "account" else ids
        keys = ctx.tool_calls(agent, n, t=t, tool="assign_owner", ttype=otype, tid=ids, acct=account, lane=rows,
                              prio=PRIO_FREE,
                              payload=[{"object_type": otype, "object_id": i, "owner_id": o} for i, o in zip(ids, new, strict=True)])
        plan.add_claims(keys, otype, ids, "owner_id", new)


def _industry_fixes(ctx: Ctx, agent: Agent) -> None:
    """Industry corrections, only on accounts the outbound agent never works (ICP status is theirs)."""
    rng = ctx.rng
    acc = ctx.table("accounts")
    candidates = np.flatnonzero(~ctx.pool_accounts() & ~ctx.reserved["accounts"]
                                & (acc["lifecycle"] != "prospect").to_numpy())
    n = min(len(candidates), max(1, len(acc) // 2000) * ctx.days)
    rows = rng.choice(candidates, n, replace=False)
    old = acc["industry"].to_numpy()[rows]
    new = np.where(np.isin(old, ICP_INDUSTRIES), pick_other(rng, ICP_INDUSTRIES, old),
                   pick_other(rng, OTHER_INDUSTRIES, old))
    ids = acc["account_id"].to_numpy()[rows]
    keys = ctx.tool_calls(agent, n, t=active_times(rng, rng.integers(0, ctx.days, n), 9, 18), tool="update_account",
                          ttype="account", tid=ids, acct=ids, lane=rows, prio=PRIO_FREE,
                          payload=[{"account_id": i, "fields": {"industry": v}} for i, v in zip(ids, new, strict=True)])
    ctx.plan.add_claims(keys, "account", ids, "industry", new)


def dealdesk_activity(ctx: Ctx, agent: Agent, share: tuple[int, int]) -> None:
    """Deal hygiene: forward stage moves, amount and close-date updates, discounts, new expansion deals."""
    rng = ctx.rng
    deals = ctx.table("deals")
    acc_row = ctx.account_row().reindex(deals["account_id"].to_numpy()).to_numpy()
    customer = (ctx.table("accounts")["lifecycle"].to_numpy() == "customer")[acc_row]
    stage0 = pd.Series(deals["stage"]).map({s: i for i, s in enumerate(OPEN_STAGES)}).to_numpy()
    open_rows = np.flatnonzero(~np.isnan(stage0) & ~ctx.reserved["deals"])
    open_rows = open_rows[open_rows % share[1] == share[0]]
    moves = rng.integers(0, 4, len(open_rows))
    deal_rows = np.repeat(open_rows, moves)
    order = np.concatenate([np.arange(m) for m in moves]) if len(moves) else np.empty(0, dtype=np.int64)
    new_idx = stage0[deal_rows].astype(np.int64) + order + 1
    lost = rng.random(len(deal_rows)) < 0.08
    first_lost = pd.Series(np.where(lost, order, 99)).groupby(deal_rows).transform("min").to_numpy()
    # A move is valid while the deal is open: forward to negotiation, closed_won only for customers
    # (from negotiation), closed_lost from any open stage. Everything after the first invalid move goes.
    valid = np.where(lost, new_idx <= 5, (new_idx <= 4) | ((new_idx == 5) & customer[deal_rows]))
    invalid = pd.Series(~valid | (order > first_lost)).groupby(deal_rows).cummax().to_numpy()
    ok = ~invalid
    deal_rows, order, new_idx, lost = deal_rows[ok], order[ok], new_idx[ok], (order == first_lost)[ok]
    new_stage = np.where(lost, "closed_lost", np.asarray(("prospecting",) + OPEN_STAGES[1:] + ("closed_won",),
                                                         dtype=object)[np.minimum(new_idx, 5)])
    # The moves of one deal fall on increasing, distinct days.
    first_day = rng.integers(0, max(1, ctx.days - 3), len(deal_rows))
    step = np.where(order == 0, 0, rng.integers(1, 3, len(order)))
    day = (pd.Series(first_day).groupby(deal_rows).transform("min").to_numpy()
           + pd.Series(step).groupby(deal_rows).cumsum().to_numpy())
    live = day < ctx.days
    _deal_moves(ctx, agent, deal_rows[live], new_stage[live], day[live])
    _dry_runs(ctx, agent, open_rows[moves == 0])
    _discounts(ctx, agent, open_rows)
    _new_deals(ctx, agent)


def _deal_moves(ctx: Ctx, agent: Agent, rows: np.ndarray, stage: np.ndarray, day: np.ndarray) -> None:
    rng, plan = ctx.rng, ctx.plan
    deals = ctx.table("deals")
    n = len(rows)
    ids, account = deals["deal_id"].to_numpy()[rows], deals["account_id"].to_numpy()[rows]
    t = active_times(rng, day)
    amount = np.char.mod("%.2f", np.round(deals["amount"].astype(float).to_numpy()[rows]
                                          * rng.uniform(0.8, 1.3, n), -2)).astype(object)
    close = iso_date(t + rng.integers(14, 90, n) * DAY)
    with_amount, with_close = rng.random(n) < 0.3, rng.random(n) < 0.3
    payload = [{"deal_id": i, "fields": {"stage": s, **({"amount": float(a)} if wa else {}),
                                         **({"close_date": c} if wc else {})}}
               for i, s, a, c, wa, wc in zip(ids, stage, amount, close, with_amount, with_close, strict=True)]
    keys = ctx.tool_calls(agent, n, t=t, tool="update_deal", ttype="deal", tid=ids, acct=account, lane=rows,
                          payload=payload)
    plan.add_claims(keys, "deal", ids, "stage", stage)
    plan.add_claims(keys[with_amount], "deal", ids[with_amount], "amount", amount[with_amount])
    plan.add_claims(keys[with_close], "deal", ids[with_close], "close_date", close[with_close])
    follow = np.flatnonzero(rng.random(n) < 0.8)
    tool = np.where(rng.random(len(follow)) < 0.5, "write_note", "create_task")
    ctx.tool_calls(agent, len(follow), t=snap_active(t[follow] + 15), tool=tool, ttype=np.where(
        tool == "write_note", "deal", "task").astype(object),
        tid=np.where(tool == "write_note", ids[follow], np.char.add("tsk_dd_", keys[follow].astype(str))).astype(object),
        acct=account[follow], lane=rows[follow], prio=PRIO_FREE,
        payload=[{"deal_id": i, "body": f"Stage review: moved to {s}."} for i, s in zip(ids[follow], stage[follow], strict=True)])


def _dry_runs(ctx: Ctx, agent: Agent, rows: np.ndarray) -> None:
    """Pricing what-ifs: dry-run amount updates that must (and do) change nothing.

    Only on deals with no stage move, so an unapplied plan never sits between two real moves.
    """
    rng = ctx.rng
    deals = ctx.table("deals")
    rows = rng.choice(rows, min(len(rows), max(1, len(rows) // 50)), replace=False)
    ids = deals["deal_id"].to_numpy()[rows]
    amount = np.char.mod("%.2f", np.round(deals["amount"].astype(float).to_numpy()[rows] * 0.9, -2)).astype(object)
    keys = ctx.tool_calls(agent, len(rows), t=active_times(rng, rng.integers(0, ctx.days, len(rows)), 7, 19),
                          tool="update_deal", ttype="deal", tid=ids, acct=deals["account_id"].to_numpy()[rows],
                          lane=rows, dry_run=True, prio=PRIO_FREE,
                          payload=[{"deal_id": i, "fields": {"amount": float(a)}} for i, a in zip(ids, amount, strict=True)])
    ctx.plan.add_claims(keys, "deal", ids, "amount", amount, applied=False)


def _discounts(ctx: Ctx, agent: Agent, open_rows: np.ndarray) -> None:
    """Discounts: up to 15 % straight away; above 15 % only after an ops/admin approval by someone else."""
    rng, plan = ctx.rng, ctx.plan
    deals = ctx.table("deals")
    n = min(len(open_rows), max(1, len(open_rows) // 60) * ctx.days // 2 + 1)
    rows = rng.choice(open_rows, n, replace=False)
    ids, account = deals["deal_id"].to_numpy()[rows], deals["account_id"].to_numpy()[rows]
    big = rng.random(n) < 0.4
    pct = np.where(big, pick(rng, (17.5, 20.0, 22.5, 25.0), n), pick(rng, (7.5, 10.0, 12.5, 15.0), n)).astype(float)
    t_req = active_times(rng, rng.integers(0, max(1, ctx.days - 1), n), 8, 17)
    obo = ctx.obo(agent, n)
    approved = big & (rng.random(n) < 0.85)
    approval_ids = np.array([f"apr_g{agent.index}_{i:06d}" for i in range(n)], dtype=object)
    t_dec = snap_active(t_req + rng.integers(300, 3600, n))
    t_apply = snap_active(t_dec + rng.integers(600, 7200, n))
    pct = np.where(big & ~approved, 15.0, pct)
    apply_keys = ctx.tool_calls(agent, n, t=np.where(big, t_apply, t_req), tool="apply_discount", ttype="deal",
                                tid=ids, acct=account, lane=rows, obo=obo,
                                approval_id=np.where(approved, approval_ids, None),
                                payload=[{"deal_id": i, "discount_pct": float(p)} for i, p in zip(ids, pct, strict=True)])
    plan.add_claims(apply_keys, "deal", ids, "discount_pct", np.char.mod("%.2f", pct).astype(object))
    b = np.flatnonzero(big)
    approvers = _approvers(ctx, obo[b])
    approval_flow(ctx, agent, t_req[b], t_dec[b], approval_ids[b], apply_keys[b], obo[b], approvers,
                  np.where(approved[b], "approved", "rejected"), ids[b], rows[b], pct[b])


def _approvers(ctx: Ctx, exclude: np.ndarray) -> np.ndarray:
    """An ops or admin user other than the requester's principal (four eyes)."""
    return pick_other(ctx.rng, np.concatenate([ctx.company.humans["ops"], ctx.company.humans["admin"]]), exclude)


def approval_flow(ctx: Ctx, agent: Agent, t_req: np.ndarray, t_dec: np.ndarray, approval_ids: np.ndarray,
                  call_keys: np.ndarray, obo: np.ndarray, approvers: np.ndarray, decisions: np.ndarray,
                  deal_ids: np.ndarray, lane: np.ndarray, pct: np.ndarray, expires: np.ndarray | None = None,
                  run: object = None, prio: int = PRIO_MANDATORY) -> None:
    """approval_requested by the agent, then approval_decided by a human approver."""
    users = ctx.table("users").set_index("user_id")["role"]
    n = len(t_req)
    expires_at = iso(t_dec + DAY if expires is None else expires)
    reasons = [f"discount {p:.1f} % on {d} exceeds the 15 % gate" for p, d in zip(pct, deal_ids, strict=True)]
    ctx.plan.add_events(n, t=t_req, agent=agent.index, etype="approval_requested", lane=lane, obo=obo, run=run,
                        prio=prio, payload=[{"approval_id": a, "call_key": int(c), "reason": r, "expires_at": None}
                                            for a, c, r in zip(approval_ids, call_keys, reasons, strict=True)])
    roles = users.reindex(approvers).to_numpy()
    ctx.plan.add_events(n, t=t_dec, agent=agent.index, etype="approval_decided", lane=lane, actor_type="human",
                        actor_id=approvers, actor_role=roles, run=run, prio=prio,
                        payload=[{"approval_id": a, "call_key": int(c), "reason": r, "decision": d,
                                  "approver": {"id": u, "role": ro}, "expires_at": e}
                                 for a, c, r, d, u, ro, e in zip(approval_ids, call_keys, reasons, decisions,
                                                                 approvers, roles, expires_at, strict=True)])


def _new_deals(ctx: Ctx, agent: Agent) -> None:
    rng = ctx.rng
    acc = ctx.table("accounts")
    customers = np.flatnonzero((acc["lifecycle"] == "customer").to_numpy() & ~ctx.reserved["accounts"])
    n = min(len(customers), max(1, len(acc) // 400) * ctx.days)
    rows = rng.choice(customers, n, replace=False)
    ids = np.array([f"dl_g{agent.index}_{i:06d}" for i in range(n)], dtype=object)
    t = active_times(rng, rng.integers(0, ctx.days, n), 8, 18)
    account = acc["account_id"].to_numpy()[rows]
    amount = np.char.mod("%.2f", np.round(np.exp(rng.normal(np.log(20_000), 0.6, n)), -2)).astype(object)
    row = {"deal_id": ids, "account_id": account, "name": (acc["name"].to_numpy()[rows] + " - Expansion").astype(object),
           "pipeline": "new_business", "stage": "prospecting", "amount": amount, "currency": "USD",
           "discount_pct": "0.00", "close_date": iso_date(t + 60 * DAY), "owner_id": acc["owner_id"].to_numpy()[rows],
           "updated_at": iso(t), "updated_by": agent.user_id}
    keys = ctx.tool_calls(agent, n, t=t, tool="create_deal", ttype="deal", tid=ids, acct=account, lane=rows,
                          payload=[{"account_id": a, "name": nm, "amount": float(am), "stage": "prospecting"}
                                   for a, nm, am in zip(account, row["name"], amount, strict=True)])
    ctx.plan.add_creates("deal", keys, row, "deal_id")


def human_activity(ctx: Ctx) -> None:
    """People editing the CRM between runs: AEs on deals, ops on owners, compliance on legal holds."""
    rng, plan = ctx.rng, ctx.plan
    humans = ctx.company.humans
    deals, acc, con = ctx.table("deals"), ctx.table("accounts"), ctx.table("contacts")
    n = max(1, len(deals) // 100) * ctx.days
    rows = rng.integers(0, len(deals), n)
    t = active_times(rng, rng.integers(0, ctx.days, n), 13, 22)
    plan.add_writes(t, "deal", deals["deal_id"].to_numpy()[rows], "close_date", iso_date(t + rng.integers(20, 120, n) * DAY),
                    deals["owner_id"].to_numpy()[rows], PRIO_FREE)
    n = max(1, len(acc) // 300) * ctx.days
    rows = rng.choice(len(acc), min(n, len(acc)), replace=False)
    t = active_times(rng, rng.integers(0, ctx.days, len(rows)), 9, 17)
    plan.add_writes(t, "account", acc["account_id"].to_numpy()[rows], "owner_id", pick(rng, humans["ae"], len(rows)),
                    pick(rng, humans["ops"], len(rows)), PRIO_FREE)
    # Compliance holds and do-not-contact requests land only where outbound never goes.
    off_pool = np.flatnonzero(~ctx.pool_accounts() & ~ctx.reserved["accounts"]
                              & (acc["legal_hold"] == "false").to_numpy())
    rows = rng.choice(off_pool, min(len(off_pool), 1 + ctx.days // 7), replace=False)
    plan.add_writes(active_times(rng, rng.integers(0, ctx.days, len(rows)), 9, 17), "account",
                    acc["account_id"].to_numpy()[rows], "legal_hold", "true",
                    pick(rng, humans["compliance"], len(rows)), PRIO_FREE)
    acc_row = ctx.account_row().reindex(con["account_id"].to_numpy()).to_numpy()
    off = np.flatnonzero(~ctx.pool_accounts()[acc_row] & ~ctx.reserved["contacts"]
                         & (acc["lifecycle"].to_numpy()[acc_row] != "customer"))
    rows = rng.choice(off, min(len(off), max(1, len(con) // 2000) * ctx.days), replace=False)
    plan.add_writes(active_times(rng, rng.integers(0, ctx.days, len(rows)), 9, 17), "contact",
                    con["contact_id"].to_numpy()[rows], "do_not_contact", "true", pick(rng, humans["sdr"], len(rows)),
                    PRIO_FREE)


def clean_stops(ctx: Ctx) -> None:
    """Each agent halts itself once (error budget) and an operator resumes it two minutes later."""
    for agent in ctx.company.agents:
        start = ctx.free_tail(agent) + INCIDENT_OFFSET
        run = f"stop:{agent.index}:{start}"
        ctx.plan.add_events(1, t=start + 30, agent=agent.index, etype="stop", run=run, obo=agent.on_behalf_of[0],
                            payload={"rule_id": "runtime-error-budget", "scope": "agent",
                                     "reason": "CRM API error rate above 5 % in the last 10 minutes"})
        resume(ctx, agent, start + 150, "runtime-error-budget", "CRM API healthy again; resuming")


def resume(ctx: Ctx, agent: Agent, t: int, rule_id: str, reason: str) -> int:
    """A human lifting an agent's stop (the `resume` extension of the action log)."""
    admin = ctx.company.humans["admin"][0]
    return int(ctx.plan.add_events(1, t=t, agent=agent.index, etype="resume", actor_type="human", actor_id=admin,
                                   actor_role="admin", run=f"ctl:{agent.index}:{t}",
                                   payload={"rule_id": rule_id, "scope": "agent", "reason": reason})[0])
