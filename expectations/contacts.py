"""CRM contacts (dim_crm_contacts): keys, reachability flags, accounts and owners."""

from crmguard.quality.spec import WARNING, Suite, no_rows, not_null, of_type, references, unique

KEY = "contact_id"

SUITE = Suite(
    name="contacts",
    table="main.dim_crm_contacts",
    key=KEY,
    watermark="captured_at",  # the snapshot that first showed this version of the row
    asset_key=("dim_crm_contacts",),
    description="Schema, keys, accounts and owners of CRM contacts.",
    expectations=[
        not_null("contact_id"),
        unique("contact_id"),
        not_null("account_id"),
        not_null("email_opt_out", why="opt-out is always known: a NULL would let an agent email anyone"),
        not_null("email_bounced"),
        not_null("do_not_contact"),
        of_type("email_opt_out", "BOOLEAN"),
        of_type("updated_at", "TIMESTAMP"),
        references(
            "account_exists", KEY, "account_id", "main.dim_crm_accounts", "account_id",
            "every contact belongs to an existing account (no orphaned contacts)",
        ),
        references(
            "owner_is_active_user", KEY, "owner_id", "main.dim_crm_users", "user_id",
            "every contact owner is a user present in the current users snapshot",
        ),
        no_rows(
            "email_well_formed", "schema",
            "select contact_id from {batch} where email is not null"
            " and not regexp_matches(email, '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$')",
            "contact emails look like addresses (regex checks run as SQL: GX has no DuckDB regex support)",
            severity=WARNING,
        ),
    ],
)
