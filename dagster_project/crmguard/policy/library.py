"""The fixed rule library: every rule kind, its parameters and what they mean.

Policies are data, not code: a rule picks a kind from this table and fills in its parameters. The
loader validates a policy file against these specs, the compiler turns the parameters into typed
warehouse rows, and one dbt model per kind evaluates them (docs/policies.md documents the same table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crmguard.incidents import POLICY_KINDS

SEVERITIES = ("low", "medium", "high", "critical")


# object types whose record count the SCD2 history knows (the denominator of `measure: share`)
SHARE_OBJECTS = ("contact", "account", "deal")

TOOLS_DOC = "tool names the rule applies to (omit: every tool)"


@dataclass(frozen=True)
class Param:
    """One rule parameter.

    `type` is one of: str, int, number, pct (0..100), bool, list (non-empty list of strings),
    map (object_type -> list of field names), pairs (name -> name). `choices` restricts str and list
    values. `sql_type` names the typed column a scalar is compiled to (lists and maps become rows).
    """

    type: str
    doc: str
    required: bool = False
    default: object = None
    choices: tuple[str, ...] = ()

    @property
    def sql_type(self) -> str | None:
        return {"str": "VARCHAR", "int": "BIGINT", "number": "DOUBLE", "pct": "DOUBLE", "bool": "BOOLEAN"}.get(
            self.type
        )


@dataclass(frozen=True)
class RuleKind:
    """A kind of rule: its parameters and the incident kind its violations are filed under."""

    name: str
    doc: str
    params: dict[str, Param] = field(default_factory=dict)
    incident_kind: str | None = None


def _tools(required: bool = False) -> Param:
    return Param("list", TOOLS_DOC, required=required)


_ROLES = Param("list", "actor roles (actor.role) the rule applies to (omit: every role)")
_OUTBOUND = ("send_email", "enroll_in_sequence", "book_meeting")

KINDS: dict[str, RuleKind] = {
    k.name: k
    for k in (
        RuleKind(
            "contact_flags",
            "Outbound calls to a contact that is opted out, bounced or do-not-contact at action time "
            "(snapshot as of the call, overlaid by unsubscribe/bounce signals received before it).",
            {
                "tools": _tools(required=True),
                "agent_roles": _ROLES,
                "flags": Param(
                    "list",
                    "contact flags that forbid the call",
                    required=True,
                    choices=("email_opt_out", "email_bounced", "do_not_contact"),
                ),
                "signals": Param(
                    "list", "signals that count as the flag before the next snapshot", choices=("unsubscribe", "bounce")
                ),
            },
            "unsubscribed_contact_emailed",
        ),
        RuleKind(
            "account_flag",
            "Outbound calls to a contact whose account carries a flag at action time.",
            {
                "tools": _tools(required=True),
                "agent_roles": _ROLES,
                "flag": Param(
                    "str", "account flag that forbids the call", required=True,
                    choices=("legal_hold", "security_incident_open"),
                ),
            },
            None,  # decided by the flag: legal_hold_contacted or security_incident_contacted
        ),
        RuleKind(
            "account_lifecycle",
            "Calls to contacts at accounts in a forbidden lifecycle (e.g. customers contacted by outbound tools).",
            {
                "tools": _tools(required=True),
                "agent_roles": _ROLES,
                "lifecycles": Param(
                    "list", "forbidden account lifecycles", required=True, choices=("prospect", "customer", "churned")
                ),
            },
            "customer_emailed_by_outbound",
        ),
        RuleKind(
            "icp",
            "Calls to contacts at accounts outside the ideal customer profile, as the account was at the "
            "time. A value the CRM does not know (NULL) is not evidence of a mismatch.",
            {
                "tools": _tools(required=True),
                "agent_roles": _ROLES,
                "industries": Param("list", "industries inside the ICP"),
                "employees_min": Param("int", "smallest employee count inside the ICP"),
                "employees_max": Param("int", "largest employee count inside the ICP"),
                "titles": Param("list", "contact title keywords inside the ICP (case-insensitive substring)"),
            },
            "icp_mismatch_sequenced",
        ),
        RuleKind(
            "deal_stage_outreach",
            "Stop outreach while the contact's account has an open deal in given stages.",
            {
                "tools": _tools(required=True),
                "agent_roles": _ROLES,
                "stages": Param("list", "deal stages that stop outreach", required=True),
                "pipeline": Param("str", "only deals of this pipeline (omit: any)"),
            },
            None,
        ),
        RuleKind(
            "stage_transitions",
            "Forbidden deal stage transitions on the claimed old->new stage (state as of the call when "
            "the claim has no old value): going back in `stages`, reopening an exit stage, entering a "
            "guarded stage from too early a stage. An exit may be entered from any stage.",
            {
                "tools": _tools(),
                "pipeline": Param("str", "pipeline the stage order belongs to", required=True),
                "stages": Param("list", "open stages in order, ending with the won stage", required=True),
                "exits": Param("list", "stages reachable from any stage and never left (e.g. closed_lost)"),
                "min_from": Param("pairs", "target stage -> the earliest stage it may be entered from"),
            },
            "stage_regression",
        ),
        RuleKind(
            "bounce_rate_stop",
            "Rate stop: fires at the bounce signal that brings the bounced contacts among an agent's last "
            "`window_sends` succeeded production send_email calls to `threshold_pct` % of the window or "
            "more; every later call to `tools` in its scope is a violation until a resume (a `stop` event "
            "in between hands over to the stop rule).",
            {
                "tools": _tools(required=True),
                "window_sends": Param("int", "sends in the sliding window", required=True),
                "threshold_pct": Param("pct", "bounced share of the window that fires the stop", required=True),
                "scope": Param("str", "who is stopped", default="agent", choices=("agent", "team")),
            },
            "bounce_rate_not_stopped",
        ),
        RuleKind(
            "negative_reply_stop",
            "Contact stop: once the agent (or its team) receives a `reply` signal with sentiment "
            "`negative` whose text contains one of `stop_words` (case-insensitive, whole words), every "
            "later call to `tools` by that agent (or team) to that contact is a violation. Agent resumes "
            "do not lift it: the contact asked, not the agent's runtime.",
            {
                "tools": _tools(required=True),
                "stop_words": Param(
                    "list", "words or phrases (letters, digits, spaces, ' and -) that make a negative reply a stop",
                    required=True,
                ),
                "scope": Param("str", "who is stopped", default="agent", choices=("agent", "team")),
            },
            None,  # no ground-truth incident kind: reported in fct_policy_violations, not in fct_flags
        ),
        RuleKind(
            "honor_stops",
            "Calls made after a `stop` event or a `crmguard halt` in their scope (agent, team or global) "
            "and before the matching resume.",
            {"tools": _tools()},
            "action_after_stop",
        ),
        RuleKind(
            "approval_gate",
            "Calls that need an approval: it must exist, be decided `approved` before the call, for this "
            "call, not expired, by an approver of an allowed role, and not by the requester or the agent "
            "itself (four eyes).",
            {
                "tools": _tools(required=True),
                "amount_field": Param("str", "input field compared with `above` (e.g. discount_pct)"),
                "above": Param("number", "the gate applies when the amount is greater than this"),
                "approver_roles": Param("list", "roles (users snapshot) allowed to approve", required=True),
                "teams": Param("list", "agent teams the gate applies to (omit: every team)"),
                "four_eyes": Param("bool", "refuse approvals by the requester or the agent", default=True),
            },
            "discount_without_approval",
        ),
        RuleKind(
            "permissions",
            "Per agent role: the tools it may call, the object fields it may write (a claimed write "
            "outside them is a violation even if it succeeded) and the environments it may run in.",
            {
                "role": Param("str", "the actor role (actor.role) these permissions are for", required=True),
                "allowed_tools": Param("list", "tools the role may call", required=True),
                "writes": Param("map", "object_type -> writable fields ('*' = every field)"),
                "environments": Param("list", "allowed environments", choices=("production", "sandbox")),
            },
            "permission_violation",
        ),
        RuleKind(
            "blast_radius",
            "Limits on how much one run (or one agent per sliding hour) may change: every change past "
            "the limit's run/hour is a violation. `measure: share` limits the records of `object_type` "
            "touched as a percentage of all records of that type in the CRM as of the call.",
            {
                "tools": _tools(),
                "per": Param("str", "run, or a sliding hour per agent", required=True, choices=("run", "hour")),
                "measure": Param(
                    "str", "changes: claimed field changes; records: distinct records changed per call; "
                    "share: records as a % of the object's records in the CRM",
                    required=True, choices=("changes", "records", "share"),
                ),
                "exempt_roles": Param(
                    "list", "actor roles whose calls the rule neither counts nor judges (e.g. restore_job, "
                    "which undoes a blast by design)",
                ),
                "max_count": Param("int", "the most allowed in one run or hour (measure changes / records)"),
                "max_pct": Param("pct", "the largest share allowed in one run or hour (measure share)"),
                "min_records": Param(
                    "int", "measure share: a run or hour touching at most this many records never violates "
                    "(in a small CRM a few records are a large share)",
                ),
                "field": Param("str", "count only changes of this field"),
                "object_type": Param("str", "count only changes of this object type (measure share: required, "
                                     "one of contact, account, deal)"),
            },
            "mass_reassignment",
        ),
        RuleKind(
            "signal_verification",
            "Calls triggered by an inbound signal whose sender domain does not match the domain of the "
            "contact's account at the time (subdomains match).",
            {
                "tools": _tools(required=True),
                "signal_kinds": Param(
                    "list", "signal kinds that must be verified", required=True,
                    choices=("reply", "bounce", "unsubscribe", "meeting_request", "out_of_office"),
                ),
            },
            "spoofed_reply_meeting",
        ),
        RuleKind(
            "dry_run_integrity",
            "A call marked dry_run whose claimed change showed up in the CRM, written by the agent.",
            {"tools": _tools()},
            "dry_run_wrote",
        ),
    )
}

COMMON_KEYS: dict[str, Param] = {
    "id": Param("str", "unique rule id (letters, digits, - _ .)", required=True),
    "kind": Param("str", "one of the rule kinds", required=True),
    "description": Param("str", "what the rule protects, for humans"),
    "severity": Param("str", "low, medium, high or critical", default="high", choices=SEVERITIES),
    "incident_kind": Param("str", "incident kind its violations are filed under", choices=POLICY_KINDS),
    "enabled": Param("bool", "false keeps the rule in the file without evaluating it", default=True),
}


def scalar_columns() -> dict[str, str]:
    """Every scalar parameter name across the library and its SQL type (one typed column each)."""
    columns: dict[str, str] = {}
    for kind in KINDS.values():
        for name, param in kind.params.items():
            if param.sql_type:
                previous = columns.setdefault(name, param.sql_type)
                assert previous == param.sql_type, f"parameter {name} has two SQL types"
    return dict(sorted(columns.items()))
