"""The incident kinds of CONTRACTS.md section 6: one vocabulary for the generator, the policies and score.

The order is part of the generator's determinism (ids derive from a kind's position): append, never reorder.
"""

from __future__ import annotations

INCIDENT_KINDS = (
    "unsubscribed_contact_emailed",
    "legal_hold_contacted",
    "security_incident_contacted",
    "customer_emailed_by_outbound",
    "discount_without_approval",
    "approval_by_wrong_role",
    "self_approval",
    "expired_approval_used",
    "bounce_rate_not_stopped",
    "action_after_stop",
    "stage_regression",
    "mass_reassignment",
    "permission_violation",
    "spoofed_reply_meeting",
    "icp_mismatch_sequenced",
    "unexplained_change",
    "claimed_write_not_observed",
    "partial_run_failure",
    "dry_run_wrote",
)

# Found by change attribution and run status rather than by a policy rule (docs/incidents.md).
ATTRIBUTION_KINDS = ("unexplained_change", "claimed_write_not_observed", "partial_run_failure")
POLICY_KINDS = tuple(kind for kind in INCIDENT_KINDS if kind not in ATTRIBUTION_KINDS)
