"""The audit trail of approvals (fct_approvals): keys, decisions, request before decision."""

from crmguard.quality.spec import Suite, in_set, no_rows, not_null, unique

KEY = "approval_id"

SUITE = Suite(
    name="approvals",
    table="main.fct_approvals",
    key=KEY,
    watermark="coalesce(decided_at, requested_at)",
    asset_key=("fct_approvals",),
    description="Approval keys and decisions; every decision answers a recorded request.",
    expectations=[
        not_null("approval_id"),
        unique("approval_id"),
        in_set("decision", ["approved", "rejected"]),
        no_rows(
            "decision_has_request", "audit_trail",
            "select approval_id from {batch} where decided_event_id is not null"
            " and (requested_event_id is null or decided_at < requested_at)",
            "every decision answers an earlier recorded request",
        ),
        no_rows(
            "approved_has_approver", "audit_trail",
            "select approval_id from {batch} where decision = 'approved' and approver_id is null",
            "an approval names who approved it",
        ),
    ],
)
