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
            # EXISTS, not `event_id in (select ... from fct_agent_actions)`: on a whole table the IN hashed
            # every action's id (15 ms for 300k actions with no unverified claim at all, 1 ms as EXISTS)
            "select b.attribution_id from (select * from {batch}) b where b.record_type = 'claimed_write'"
            " and b.verification in ('not_observed', 'diverged') and exists (select 1 from main.fct_agent_actions a"
            " where a.event_id = b.event_id and a.status = 'succeeded' and not coalesce(a.dry_run, false))",
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
