"""The fixed vocabulary of the demo world: time grid, agent kinds, CRM columns, incident kinds.

Everything here is data that docs/incidents.md and CONTRACTS.md state; keeping it in one module lets
the generator, its self-check and the docs tests agree on the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crmguard.incidents import INCIDENT_KINDS  # noqa: F401  (re-exported: the generator's vocabulary)

# The simulation starts on a fixed Monday so the output never depends on the clock or the time zone.
START = int(np.datetime64("2026-01-05T00:00:00", "s").astype(np.int64))
DAY = 86_400
# Agent runs live on a 30-minute grid. Clean work happens in the first 22 minutes of a slot; the tail
# is kept free so an injected incident (a stop, a bad list) can run alone without touching clean runs.
SLOT = 1_800
ACTIVE_LO = 60
ACTIVE_HI = 1_320
INCIDENT_OFFSET = 1_380

ICP_INDUSTRIES = ("software", "fintech", "healthcare", "manufacturing", "retail")
OTHER_INDUSTRIES = ("education", "government", "nonprofit", "media", "hospitality", "real_estate")
ICP_EMPLOYEES = (50, 10_000)

STAGES = ("prospecting", "qualification", "discovery", "proposal", "negotiation", "closed_won", "closed_lost")
OPEN_STAGES = STAGES[:5]

COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("user_id", "email", "name", "role", "team", "is_agent"),
    "accounts": (
        "account_id", "name", "domain", "industry", "employees", "lifecycle", "owner_id", "legal_hold",
        "security_incident_open", "updated_at", "updated_by",
    ),
    "contacts": (
        "contact_id", "account_id", "email", "first_name", "last_name", "title", "owner_id", "email_opt_out",
        "email_bounced", "do_not_contact", "updated_at", "updated_by",
    ),
    "deals": (
        "deal_id", "account_id", "name", "pipeline", "stage", "amount", "currency", "discount_pct",
        "close_date", "owner_id", "updated_at", "updated_by",
    ),
    "sequence_enrollments": (
        "enrollment_id", "contact_id", "sequence_id", "status", "step", "enrolled_by", "updated_at",
        "updated_by",
    ),
    "meetings": (
        "meeting_id", "contact_id", "deal_id", "owner_id", "starts_at", "status", "booked_by", "updated_at",
        "updated_by",
    ),
}
# The snapshot object that holds each action-log object type, and its id column.
OBJECT_OF_TYPE = {
    "account": "accounts", "contact": "contacts", "deal": "deals",
    "sequence_enrollment": "sequence_enrollments", "meeting": "meetings",
}
ID_COLUMN = {name: cols[0] for name, cols in COLUMNS.items()}
# How a canonical CSV value becomes a JSON scalar in a claimed change.
BOOL_FIELDS = frozenset({"legal_hold", "security_incident_open", "email_opt_out", "email_bounced", "do_not_contact",
                         "is_agent"})
INT_FIELDS = frozenset({"employees", "step"})
FLOAT_FIELDS = frozenset({"amount", "discount_pct"})

SEQUENCES = ("seq_cold_outbound_v3", "seq_exec_intro", "seq_webinar_followup", "seq_reengage_q1")


@dataclass(frozen=True)
class AgentKind:
    """One of the three agent kinds of docs/incidents.md."""

    agent_id: str
    role: str
    team: str
    obo_role: str
    tz_offsets: tuple[str, ...]
    model: str
    credential_scope: str


AGENT_KINDS = (
    AgentKind("outbound-sdr", "sdr_agent", "na", "sdr", ("-05:00", "+05:30"), "gpt-4.1-2025-04-14",
              "crm:contacts.write crm:sequences.write mail:send"),
    AgentKind("lead-router", "routing_agent", "revops", "ops", ("+00:00", "-08:00"), "claude-sonnet-4-20250514",
              "crm:owners.write crm:cases.write"),
    AgentKind("deal-desk", "dealdesk_agent", "deal_desk", "ops", ("+02:00", "Z"), "gpt-4.1-mini-2025-04-14",
              "crm:deals.write"),
)


# The rule of policies/default.yml that each kind violates; None where attribution or run status
# decides rather than a policy rule. permission_violation is filled per agent role.
RULE_IDS: dict[str, str | None] = {
    "unsubscribed_contact_emailed": "contact-opted-out",
    "legal_hold_contacted": "account-legal-hold",
    "security_incident_contacted": "account-security-incident",
    "customer_emailed_by_outbound": "customer-outbound",
    "discount_without_approval": "discount-approval",
    "approval_by_wrong_role": "discount-approval",
    "self_approval": "discount-approval",
    "expired_approval_used": "discount-approval",
    "bounce_rate_not_stopped": "bounce-rate-stop",
    "action_after_stop": "honor-stops",
    "stage_regression": "new-business-stages",
    "mass_reassignment": "owner-changes-per-run",
    "permission_violation": None,
    "spoofed_reply_meeting": "verified-replies",
    "icp_mismatch_sequenced": "icp-sequencing",
    "unexplained_change": None,
    "claimed_write_not_observed": None,
    "partial_run_failure": None,
    "dry_run_wrote": "dry-run-integrity",
}
PERMISSION_RULE = {"sdr_agent": "permissions-sdr-agent", "routing_agent": "permissions-routing-agent",
                   "dealdesk_agent": "permissions-dealdesk-agent"}

# Kinds whose evidence is a CRM change: the generator takes an extra snapshot 1 s after them.
SNAPSHOT_KINDS = frozenset({"unexplained_change", "claimed_write_not_observed", "dry_run_wrote"})
