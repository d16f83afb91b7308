"""A small hand-made world for the policy tests: a raw layer with one incident per rule kind.

Written straight into the raw layer (docs/raw-layer.md) so the policy models can be tested before and
independently of the generator; every event id names what it is and which verdict it should get.
"""

from __future__ import annotations

import json
from pathlib import Path

from crmguard.ingest.schema import ensure_raw_schema
from crmguard.warehouse import connect

S0, S1 = "2026-01-01 00:00:00", "2026-01-02 00:00:00"

AGENTS = {  # agent_id: (user id, actor role, team, on_behalf_of)
    "outbound-sdr": ("ag-sdr", "sdr_agent", "na", "u-sdr"),
    "outbound-sdr-2": ("ag-sdr2", "sdr_agent", "emea", "u-sdr"),
    "lead-router": ("ag-router", "routing_agent", "revops", "u-ops"),
    "deal-desk": ("ag-desk", "dealdesk_agent", "deal_desk", "u-ops"),
    "crmguard-restore": ("usr_crmguard_restore", "restore_job", "crmguard", "u-ops"),
}

USERS = [  # user_id, email, name, role, team, is_agent
    ("u-sdr", "sdr@x.io", "Sam", "sdr", "na", "false"),
    ("u-ops", "ops@x.io", "Olga", "ops", "revops", "false"),
    ("u-ops2", "ops2@x.io", "Otto", "ops", "deal_desk", "false"),
    ("u-ae", "ae@x.io", "Ada", "ae", "na", "false"),
    ("u-comp", "comp@x.io", "Cy", "compliance", "compliance", "false"),
    *[(uid, f"{uid}@x.io", uid, "agent", team, "true") for uid, _, team, _ in AGENTS.values()],
]

ACCOUNTS = [  # account_id, name, domain, industry, employees, lifecycle, legal_hold, security_incident_open
    ("A1", "Acme", "acme.com", "software", "500", "prospect", "false", "false"),
    ("A2", "Holdco", "holdco.com", "software", "500", "prospect", "true", "false"),
    ("A3", "Breached", "breached.com", "fintech", "500", "prospect", "false", "true"),
    ("A4", "Custy", "custy.com", "retail", "500", "customer", "false", "false"),
    ("A5", "Mine", "mine.com", "mining", "500", "prospect", "false", "false"),
]

CONTACTS = [  # contact_id, account_id, title, email_opt_out, email_bounced, do_not_contact
    ("C1", "A1", "VP Sales", "false", "false", "false"),
    ("C2", "A1", "CTO", "true", "false", "false"),
    ("C3", "A2", "CFO", "false", "false", "false"),
    ("C4", "A3", "CFO", "false", "false", "false"),
    ("C5", "A4", "CFO", "false", "false", "false"),
    ("C6", "A5", "CFO", "false", "false", "false"),
    ("C7", "A1", "COO", "false", "false", "false"),
    ("C8", "A1", "CIO", "false", "false", "false"),
]

DEALS = [("D1", "A1", "proposal"), ("D2", "A1", "negotiation")]


def _at(hour: int, minute: int = 0, second: int = 0) -> str:
    return f"2026-01-01T{hour:02d}:{minute:02d}:{second:02d}Z"


class _Log:
    """Collects events; ids are meaningful so failing assertions read well."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def add(self, event_id: str, event_type: str, at: str, agent: str, run: str, step: int, **extra) -> None:
        user, role, _, behalf = AGENTS[agent]
        actor = extra.pop("actor", {"type": "agent", "id": user, "role": role, "on_behalf_of": behalf})
        self.events.append({
            "schema_version": "1", "event_id": event_id, "event_type": event_type, "occurred_at": at,
            "agent_id": agent, "agent_version": "1.0", "run_id": run, "step": step,
            "environment": extra.pop("environment", "production"), "actor": actor, **extra,
        })

    def call(self, event_id: str, at: str, agent: str, run: str, step: int, tool: str, target: dict,
             changes: list | None = None, status: str = "succeeded", **extra) -> None:
        self.add(event_id, "tool_call", at, agent, run, step,
                 tool={"name": tool, "call_id": extra.pop("call_id", event_id), "credential_scope": "crm"},
                 target=target, input=extra.pop("input", {}), changes=changes or [],
                 context={"model": "m", "prompt_sha256": "0" * 64, "retrieved": [],
                          "triggered_by_event_id": extra.pop("triggered_by", None)},
                 outcome={"status": status, "error": None, "attempt": 1, "retry_of": None},
                 dry_run=extra.pop("dry_run", False), approval_id=extra.pop("approval_id", None), **extra)

    def signal(self, event_id: str, at: str, kind: str, contact: str, sender: str, agent: str = "outbound-sdr",
               sentiment: str = "neutral", text: str = "") -> None:
        self.add(event_id, "signal_received", at, agent, "inbox", 0,
                 signal={"kind": kind, "contact_id": contact, "from_address": sender,
                         "sentiment": sentiment, "text_excerpt": text})

    def approval(self, approval_id: str, call_id: str, at: str, decided_at: str, approver: str,
                 decision: str = "approved", expires_at: str = "2026-01-01T23:00:00Z") -> None:
        role = next(u[3] for u in USERS if u[0] == approver)
        self.add(f"req-{approval_id}", "approval_requested", at, "deal-desk", "desk", 0,
                 approval={"approval_id": approval_id, "call_id": call_id, "reason": "discount",
                           "expires_at": expires_at})
        self.add(f"dec-{approval_id}", "approval_decided", decided_at, "deal-desk", "desk", 0,
                 actor={"type": "human", "id": approver, "role": role, "on_behalf_of": None},
                 approval={"approval_id": approval_id, "call_id": call_id, "decision": decision,
                           "approver": {"id": approver, "role": role}, "expires_at": expires_at})


def _contact(contact_id: str) -> dict:
    account = next(c[1] for c in CONTACTS if c[0] == contact_id) if contact_id.startswith("C") else "A1"
    return {"object_type": "contact", "object_id": contact_id, "account_id": account}


def _deal_change(deal: str, old: str, new: str) -> list:
    return [{"object_type": "deal", "object_id": deal, "field": "stage", "old": old, "new": new}]


def events() -> list[dict]:
    """The action log of the world (every violation id starts with `bad-`, every clean call `ok-`)."""
    log = _Log()
    sdr, desk, router = "outbound-sdr", "deal-desk", "lead-router"
    # contact and account flags, lifecycle, ICP
    log.call("ok-send-C1", _at(9), sdr, "r-out", 1, "send_email", _contact("C1"))
    log.call("bad-optout-C2", _at(9, 1), sdr, "r-out", 2, "send_email", _contact("C2"))
    log.call("bad-legal-C3", _at(9, 2), sdr, "r-out", 3, "send_email", _contact("C3"))
    log.call("bad-security-C4", _at(9, 3), sdr, "r-out", 4, "book_meeting", _contact("C4"))
    log.call("bad-customer-C5", _at(9, 4), sdr, "r-out", 5, "send_email", _contact("C5"))
    log.call("bad-icp-C6", _at(9, 5), sdr, "r-out", 6, "enroll_in_sequence",
             {"object_type": "sequence_enrollment", "object_id": "E6", "account_id": "A5"},
             input={"contact_id": "C6", "sequence_id": "S1"})
    log.call("skip-optout-C2", _at(9, 6), sdr, "r-out", 7, "send_email", _contact("C2"), status="blocked")
    log.signal("sig-unsub-C7", _at(10), "unsubscribe", "C7", "coo@acme.com")
    log.call("bad-signal-optout-C7", _at(11), sdr, "r-out", 8, "send_email", _contact("C7"))
    # deal stages and approvals
    log.call("bad-regress-D1", _at(9, 10), desk, "r-desk", 1, "update_deal",
             {"object_type": "deal", "object_id": "D1", "account_id": "A1"}, _deal_change("D1", "proposal", "discovery"))
    log.call("ok-advance-D2", _at(9, 11), desk, "r-desk", 2, "update_deal",
             {"object_type": "deal", "object_id": "D2", "account_id": "A1"}, _deal_change("D2", "negotiation", "closed_won"))
    deal = {"object_type": "deal", "object_id": "D2", "account_id": "A1"}

    def discount(event_id: str, at: str, pct: float, approval: str | None) -> None:
        change = [{"object_type": "deal", "object_id": "D2", "field": "discount_pct", "old": 0, "new": pct}]
        log.call(event_id, at, desk, "r-desk", 3, "apply_discount", deal, change,
                 input={"deal_id": "D2", "discount_pct": pct}, approval_id=approval)

    discount("ok-small-discount", _at(12), 10.0, None)
    discount("bad-discount-no-approval", _at(12, 1), 25.0, None)
    log.approval("ap-role", "bad-discount-wrong-role", _at(12), _at(12, 1), "u-ae")
    discount("bad-discount-wrong-role", _at(12, 2), 25.0, "ap-role")
    log.approval("ap-self", "bad-discount-self", _at(12), _at(12, 1), "u-ops")
    discount("bad-discount-self", _at(12, 3), 25.0, "ap-self")
    log.approval("ap-old", "bad-discount-expired", _at(12), _at(12, 1), "u-ops2", expires_at=_at(12, 2))
    discount("bad-discount-expired", _at(12, 4), 25.0, "ap-old")
    log.approval("ap-good", "ok-discount-approved", _at(12), _at(12, 1), "u-ops2")
    discount("ok-discount-approved", _at(12, 5), 25.0, "ap-good")
    # permissions: the SDR agent moves a deal, and writes a forbidden contact field
    log.call("bad-perm-tool", _at(13), sdr, "r-out2", 1, "update_deal", deal,
             [{"object_type": "deal", "object_id": "D2", "field": "amount", "old": 1, "new": 2}])
    log.call("bad-perm-field", _at(13, 1), sdr, "r-out2", 2, "update_contact", _contact("C1"),
             [{"object_type": "contact", "object_id": "C1", "field": "email_opt_out", "old": False, "new": True}])
    log.call("ok-perm-title", _at(13, 2), sdr, "r-out2", 3, "update_contact", _contact("C7"),
             [{"object_type": "contact", "object_id": "C7", "field": "title", "old": "COO", "new": "CEO"}])
    # blast radius: 30 owner changes in one routing run
    for i in range(30):
        log.call(f"bad-mass-{i:02d}", _at(14, 0, i), router, "r-route", i + 1, "assign_owner",
                 {"object_type": "account", "object_id": f"X{i}", "account_id": f"X{i}"},
                 [{"object_type": "account", "object_id": f"X{i}", "field": "owner_id", "old": "u-ae", "new": "u-sdr"}])
    # crmguard's restore job undoes them in one run (docs/restore.md): exempt from the blast radius
    restore = {"type": "system", "id": "usr_crmguard_restore", "role": "restore_job", "on_behalf_of": "u-ops"}
    for i in range(30):
        log.call(f"ok-restore-{i:02d}", _at(14, 30, i), "crmguard-restore", "r-restore", i + 1, "update_account",
                 {"object_type": "account", "object_id": f"X{i}", "account_id": f"X{i}"},
                 [{"object_type": "account", "object_id": f"X{i}", "field": "owner_id", "old": "u-sdr", "new": "u-ae"}],
                 actor=restore)
    log.call("ok-route-small", _at(15), router, "r-route2", 1, "assign_owner", {"object_type": "account", "object_id": "A1", "account_id": "A1"},
             [{"object_type": "account", "object_id": "A1", "field": "owner_id", "old": "u-ae", "new": "u-sdr"}])
    # inbound signal verification
    log.signal("sig-spoof", _at(16), "reply", "C1", "ceo@evil.example")
    log.call("bad-spoofed-meeting", _at(16, 5), sdr, "r-out3", 1, "book_meeting",
             {"object_type": "meeting", "object_id": "M1", "account_id": "A1"}, input={"contact_id": "C1"},
             triggered_by="sig-spoof")
    log.signal("sig-real", _at(16, 10), "reply", "C1", "vp@mail.acme.com")
    log.call("ok-verified-meeting", _at(16, 15), sdr, "r-out3", 2, "book_meeting",
             {"object_type": "meeting", "object_id": "M2", "account_id": "A1"}, input={"contact_id": "C1"},
             triggered_by="sig-real")
    # stop event, calls past it, human resume
    log.add("stop-1", "stop", _at(17), sdr, "r-out4", 0, stop={"rule_id": "self-check", "scope": "agent", "reason": "unsure"})
    log.call("bad-after-stop-1", _at(17, 1), sdr, "r-out4", 1, "write_note", _contact("C1"))
    log.call("bad-after-stop-2", _at(17, 2), sdr, "r-out4", 2, "create_task", _contact("C1"))
    log.add("resume-1", "resume", _at(17, 30), sdr, "r-out4", 0,
            actor={"type": "human", "id": "u-sdr", "role": "sdr", "on_behalf_of": None},
            resume={"rule_id": "self-check", "scope": "agent", "reason": "checked"})
    log.call("ok-after-resume", _at(17, 40), sdr, "r-out4", 3, "write_note", _contact("C1"))
    # bounce rate: the second SDR agent sends 12 emails, 10 bounce, 3 more sends, then a resume
    sdr2 = "outbound-sdr-2"
    for i in range(12):
        log.call(f"ok-bsend-{i:02d}", _at(18, i), sdr2, "r-b", i + 1, "send_email", _contact(f"B{i:02d}"))
    for i in range(10):
        log.signal(f"sig-bounce-{i:02d}", _at(19, i), "bounce", f"B{i:02d}", "mailer-daemon@x.io", agent=sdr2)
    for i in range(3):
        log.call(f"bad-bounce-{i}", _at(20, i), sdr2, "r-b2", i + 1, "send_email", _contact(f"N{i}"))
    log.add("resume-b", "resume", _at(21), sdr2, "r-b2", 0,
            actor={"type": "human", "id": "u-sdr", "role": "sdr", "on_behalf_of": None},
            resume={"rule_id": "bounce-rate-stop", "scope": "agent", "reason": "list cleaned"})
    log.call("ok-bounce-after-resume", _at(21, 5), sdr2, "r-b2", 4, "send_email", _contact("N9"))
    # dry run that wrote (C1's title shows up changed in S1, written by the agent)
    log.call("bad-dry-run", _at(22), sdr, "r-out5", 1, "update_contact", _contact("C1"),
             [{"object_type": "contact", "object_id": "C1", "field": "title", "old": "VP Sales", "new": "SVP Sales"}],
             dry_run=True)
    # negative replies: a stop word stops the agent that got the reply for that contact, and nobody else;
    # a word that merely contains a stop word, or a positive reply with one, stops nothing
    sdr2 = "outbound-sdr-2"
    log.signal("sig-neg-nostop-C1", _at(23), "reply", "C1", "vp@acme.com", sentiment="negative",
               text="Your pitch is unstoppable nonsense.")
    log.call("ok-after-negative-C1", _at(23, 5), sdr, "r-out6", 1, "send_email", _contact("C1"))
    log.call("ok-before-stopword-C8", _at(23, 6), sdr, "r-out6", 2, "send_email", _contact("C8"))
    log.signal("sig-neg-C8", _at(23, 10), "reply", "C8", "cio@acme.com", sentiment="negative",
               text="Please STOP emailing me.")
    log.signal("sig-pos-C8", _at(23, 12), "reply", "C8", "cio@acme.com", agent=sdr2, sentiment="positive",
               text="Do not stop, send more details.")
    log.call("bad-negreply-C8", _at(23, 20), sdr, "r-out6", 3, "send_email", _contact("C8"))
    log.call("ok-other-agent-C8", _at(23, 25), sdr2, "r-b3", 1, "send_email", _contact("C8"))
    return log.events


def _snapshot_rows(captured: str) -> dict[str, list[tuple]]:
    late = captured == S1
    users = [(*u,) for u in USERS]
    accounts = [(a[0], a[1], a[2], a[3], a[4], a[5], "u-ae", a[6], a[7], captured, "u-ae") for a in ACCOUNTS]
    contacts = []
    for c in CONTACTS:
        title, by = ("SVP Sales", "ag-sdr") if late and c[0] == "C1" else (c[2], "u-sdr")
        if late and c[0] == "C7":
            title = "CEO"
        contacts.append((c[0], c[1], f"{c[0]}@x.io", c[0], "L", title, "u-sdr", c[3], c[4], c[5], captured, by))
    deals = [(d[0], d[1], d[0], "new_business", d[2], "1000.00", "USD", "0.00", "2026-03-01", "u-ae", captured, "u-ae")
             for d in DEALS]
    return {"users": users, "accounts": accounts, "contacts": contacts, "deals": deals,
            "sequence_enrollments": [], "meetings": []}


def build_raw_layer(warehouse: Path, log: list[dict] | None = None, snapshots: bool = True) -> None:
    """Write the world's events (or `log`, as a new load) and its snapshots into the raw layer."""
    load_id = "load-1" if log is None else f"load-{len(log)}-{log[0]['event_id']}"
    with connect(warehouse) as con:
        ensure_raw_schema(con)
        rows = [
            (e["event_id"], "1", e["event_type"], e["occurred_at"].replace("T", " ").rstrip("Z"), e["agent_id"],
             e["agent_version"], e["run_id"], e["step"], e["environment"], e["actor"]["type"], e["actor"]["id"],
             e["actor"]["role"], e["actor"]["on_behalf_of"], json.dumps(e), "native", load_id, "world.jsonl", n + 1)
            for n, e in enumerate(events() if log is None else log)
        ]
        con.executemany("insert into raw.agent_events values (" + ", ".join(["?"] * 18) + ")", rows)
        for captured in (S0, S1) if snapshots else ():
            snap = captured.replace("-", "").replace(":", "").replace(" ", "T") + "Z"
            con.execute("insert into raw.crm_snapshots values (?, ?, 'test', '{}', ?, 'load-1')", [snap, captured, snap])
            for obj, obj_rows in _snapshot_rows(captured).items():
                width = len(con.execute(f"select * from raw.crm_{obj} limit 0").description)
                for row in obj_rows:
                    padded = list(row) + [snap, captured, "load-1", f"{obj}.csv", 1, None]
                    con.execute(f"insert into raw.crm_{obj} values ({', '.join(['?'] * width)})", padded)
