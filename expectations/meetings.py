"""Meetings (dim_crm_meetings): status, references, legal hold, double booking, past bookings."""

from crmguard.quality.spec import Suite, in_set, no_rows, not_null, of_type, references, unique

KEY = "meeting_id"
# Meetings carry a start only; two scheduled meetings of one owner overlap when they start this close.
MEETING_MINUTES = 30

SUITE = Suite(
    name="meetings",
    table="main.dim_crm_meetings",
    key=KEY,
    watermark="captured_at",  # the snapshot that first showed this version of the row
    asset_key=("dim_crm_meetings",),
    description="Schema, references and calendar sanity of meetings.",
    also_recheck=[
        # a contact moved or its account went under legal hold since the last run
        # (two filtered scans, not a join of every contact with its account filtered afterwards)
        "contact_id in (select contact_id from main.dim_crm_contacts where captured_at > {seen[contacts]}"
        " union all select contact_id from main.dim_crm_contacts where account_id in"
        " (select account_id from main.dim_crm_accounts where captured_at > {seen[accounts]}))",
    ],
    expectations=[
        not_null("meeting_id"),
        unique("meeting_id"),
        in_set("status", ["scheduled", "cancelled", "held"]),
        not_null("starts_at"),
        of_type("starts_at", "TIMESTAMP"),
        references(
            "contact_exists", KEY, "contact_id", "main.dim_crm_contacts", "contact_id",
            "every meeting is with an existing contact",
            nullable=False,
        ),
        references(
            "deal_exists", KEY, "deal_id", "main.dim_crm_deals", "deal_id",
            "a meeting's deal, when set, exists",
        ),
        references(
            "owner_is_active_user", KEY, "owner_id", "main.dim_crm_users", "user_id",
            "every meeting owner is a user present in the current users snapshot",
        ),
        no_rows(
            "no_meeting_on_legal_hold_account", "business",
            "select meeting_id from {batch} where status = 'scheduled' and contact_id in ("
            "select c.contact_id from main.dim_crm_contacts c"
            " join main.dim_crm_accounts a on a.account_id = c.account_id where a.legal_hold)",
            "no scheduled meeting with a contact whose account is under legal hold",
        ),
        no_rows(
            "owner_not_double_booked", "business",
            "with changed as (select * from {batch}),"
            " scheduled as (select meeting_id, owner_id, starts_at from main.dim_crm_meetings where status = 'scheduled')"
            " select distinct c.meeting_id from changed c join scheduled s"
            " on s.owner_id = c.owner_id and s.meeting_id <> c.meeting_id"
            f" and s.starts_at > c.starts_at - interval {MEETING_MINUTES} minute"
            f" and s.starts_at < c.starts_at + interval {MEETING_MINUTES} minute"
            " where c.status = 'scheduled'",
            f"no owner has two scheduled meetings starting less than {MEETING_MINUTES} minutes apart",
        ),
        no_rows(
            "not_booked_in_the_past", "business",
            "select meeting_id from {batch} where status = 'scheduled' and starts_at < updated_at",
            "a scheduled meeting starts after it was last written (nobody books a slot already gone)",
        ),
    ],
)
