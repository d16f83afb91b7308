"""CRM users: who may own records and who approves (dim_crm_users)."""

from crmguard.quality.spec import WARNING, Suite, in_set, no_rows, not_null, of_type, unique

KEY = "user_id"
ROLES = ["sdr", "ae", "ops", "compliance", "admin", "agent"]

SUITE = Suite(
    name="users",
    table="main.dim_crm_users",
    key=KEY,
    watermark="captured_at",  # the snapshot that first showed this version of the row
    asset_key=("dim_crm_users",),
    description="Keys, roles and agent flags of CRM users (owners and approvers are looked up here).",
    expectations=[
        not_null("user_id"),
        unique("user_id"),
        in_set("role", ROLES),
        of_type("is_agent", "BOOLEAN"),
        no_rows(
            "agent_flag_matches_role", "schema",
            "select user_id from {batch} where coalesce(is_agent, false) <> coalesce(role = 'agent', false)",
            "a user is flagged is_agent exactly when its role is `agent`",
            severity=WARNING,
        ),
    ],
)
