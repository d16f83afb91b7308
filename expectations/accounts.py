"""CRM accounts (dim_crm_accounts): keys, lifecycle, flags, owners."""

from crmguard.quality.spec import Suite, in_set, not_null, of_type, references, unique

KEY = "account_id"

SUITE = Suite(
    name="accounts",
    table="main.dim_crm_accounts",
    key=KEY,
    watermark="captured_at",  # the snapshot that first showed this version of the row
    asset_key=("dim_crm_accounts",),
    description="Schema, keys and owners of CRM accounts.",
    expectations=[
        not_null("account_id"),
        unique("account_id"),
        in_set("lifecycle", ["prospect", "customer", "churned"]),
        not_null("legal_hold", why="legal hold is always known (a NULL is an unparseable export cell)"),
        not_null("security_incident_open", why="the security flag is always known"),
        of_type("legal_hold", "BOOLEAN"),
        of_type("employees", "INTEGER"),
        of_type("updated_at", "TIMESTAMP"),
        references(
            "owner_is_active_user", KEY, "owner_id", "main.dim_crm_users", "user_id",
            "every account owner is a user present in the current users snapshot",
        ),
    ],
)
