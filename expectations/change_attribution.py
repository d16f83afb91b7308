"""Post-action integrity (fct_change_attribution): did the CRM show what the agents said they wrote?

Consistent with docs/incidents.md: in a clean world every succeeded, non-dry-run claim is observed
(`verified`, or `overwritten_before_snapshot` when the same writer changed the field again in the
window, or `pending` until the next snapshot) and every observed change is caused by an agent claim, a
human or a restore.
"""

from crmguard.quality.spec import WARNING, Suite, in_set, no_rows, not_null, unique

KEY = "attribution_id"
PROTECTED_FIELDS = ["stage", "amount", "owner_id", "email_opt_out", "email_bounced", "do_not_contact"]
_PROTECTED = ", ".join(f"'{f}'" for f in PROTECTED_FIELDS)

SUITE = Suite(
    name="change_attribution",
    table="main.fct_change_attribution",
    key=KEY,
    watermark="window_end",
    asset_key=("fct_change_attribution",),
    description="Every agent write verified by the CRM; no unexplained change to protected fields.",
    expectations=[
        not_null("attribution_id"),
        unique("attribution_id"),
        in_set("record_type", ["observed_change", "claimed_write"]),
        no_rows(
            "agent_writes_verified", "post_action",
            # Attribution holds claimed writes of succeeded calls only, and a dry run's claim is always
            # dry_run_applied or dry_run_not_applied (rules C1-C8, docs/warehouse.md): not_observed and
            # diverged are succeeded, non-dry-run writes by construction. (A join to fct_agent_actions to
            # say so again hashed its 300k ids on every incremental run: 14 ms of 0.14 s.)
            "select attribution_id from {batch} where record_type = 'claimed_write'"
            " and verification in ('not_observed', 'diverged')",
            "every succeeded, non-dry-run agent write shows up in the next CRM snapshot with the claimed value",
        ),
        no_rows(
            "no_unexplained_protected_change", "post_action",
            "select attribution_id from {batch} where record_type = 'observed_change'"
            f" and cause = 'unexplained' and field in ({_PROTECTED})",
            "no change to stage, amount, owner or opt-out flags that no agent claim, human or restore explains",
        ),
        no_rows(
            "no_unexplained_change", "post_action",
            "select attribution_id from {batch} where record_type = 'observed_change'"
            f" and cause = 'unexplained' and (field is null or field not in ({_PROTECTED}))",
            "no unexplained change to any other field (protected fields have their own critical check)",
            severity=WARNING,
        ),
        no_rows(
            "no_dry_run_write", "post_action",
            "select attribution_id from {batch} where record_type = 'observed_change' and cause = 'agent_dry_run'",
            "a dry-run call changed nothing in the CRM",
        ),
    ],
)
