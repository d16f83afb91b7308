"""Sequence enrollments (dim_crm_sequence_enrollments): status, contacts, reachability."""

from crmguard.quality.spec import Suite, between, in_set, no_rows, not_null, references, unique

KEY = "enrollment_id"

SUITE = Suite(
    name="sequence_enrollments",
    table="main.dim_crm_sequence_enrollments",
    key=KEY,
    watermark="captured_at",  # the snapshot that first showed this version of the row
    asset_key=("dim_crm_sequence_enrollments",),
    description="Schema, contacts and reachability of sequence enrollments.",
    also_recheck=["contact_id in (select contact_id from main.dim_crm_contacts where captured_at > {seen[contacts]})"],
    expectations=[
        not_null("enrollment_id"),
        unique("enrollment_id"),
        in_set("status", ["active", "paused", "finished", "stopped"]),
        between("step", "step_not_negative", 0, None, category="schema", why="sequence steps count from 0"),
        references(
            "contact_exists", KEY, "contact_id", "main.dim_crm_contacts", "contact_id",
            "every enrollment points at an existing contact",
            nullable=False,
        ),
        no_rows(
            "no_active_enrollment_for_unreachable_contact", "business",
            "select enrollment_id from {batch} where status = 'active' and contact_id in ("
            "select contact_id from main.dim_crm_contacts"
            " where email_opt_out or email_bounced or do_not_contact)",
            "no active sequence enrollment for an unsubscribed, bounced or do-not-contact contact",
        ),
    ],
)
