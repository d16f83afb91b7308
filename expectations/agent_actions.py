"""The audit trail of tool calls (fct_agent_actions): keys, statuses, approvals that exist."""

from crmguard.quality.spec import Suite, in_set, no_rows, not_null, unique

KEY = "event_id"

SUITE = Suite(
    name="agent_actions",
    table="main.fct_agent_actions",
    key=KEY,
    watermark="occurred_at",
    asset_key=("fct_agent_actions",),
    description="Tool-call keys and statuses; every call that relies on an approval has it.",
    expectations=[
        not_null("event_id"),
        unique("event_id"),
        not_null("run_id"),
        not_null("tool_name"),
        in_set("status", ["succeeded", "failed", "blocked", "skipped"]),
        no_rows(
            "approved_call_has_approval", "audit_trail",
            "select b.event_id from (select * from {batch}) b where b.approval_id is not null and not exists ("
            "select 1 from main.fct_approvals p where p.approval_id = b.approval_id and p.decision = 'approved')",
            "every call that cites an approval cites one that was recorded and decided `approved`",
        ),
    ],
)
