"""CRM deals (dim_crm_deals): stages per pipeline, amounts, discounts, close dates, accounts, owners."""

from crmguard.quality.spec import WARNING, Suite, between, no_rows, not_null, of_type, references, unique

KEY = "deal_id"
# Stages per pipeline (docs/incidents.md, default policy); a stage outside its pipeline's list fails.
STAGES = {
    "new_business": ["prospecting", "qualification", "discovery", "proposal", "negotiation", "closed_won", "closed_lost"],
}
CLOSED_STAGES = ["closed_won", "closed_lost"]
MAX_DISCOUNT_PCT = 100
# An open deal's close date is plausible within this window around its last update.
CLOSE_DATE_PAST_DAYS = 365
CLOSE_DATE_FUTURE_DAYS = 3 * 365


def _stage_pairs() -> str:
    return ", ".join(f"('{pipeline}', '{stage}')" for pipeline, stages in STAGES.items() for stage in stages)


def _quoted(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


SUITE = Suite(
    name="deals",
    table="main.dim_crm_deals",
    key=KEY,
    watermark="captured_at",  # the snapshot that first showed this version of the row
    asset_key=("dim_crm_deals",),
    description="Schema, stages, money and references of CRM deals.",
    expectations=[
        not_null("deal_id"),
        unique("deal_id"),
        not_null("account_id"),
        of_type("amount", "Numeric"),
        of_type("close_date", "DATE"),
        no_rows(
            "stage_known_for_pipeline", "schema",
            "select deal_id from {batch} where (pipeline, stage) not in (" + _stage_pairs() + ")"
            " or pipeline is null or stage is null",
            "every deal's stage is one of its pipeline's stages",
        ),
        between("amount", "amount_not_negative", 0, None, why="deal amounts are >= 0"),
        between(
            "discount_pct", "discount_within_bounds", 0, MAX_DISCOUNT_PCT,
            why=f"discounts are between 0 and {MAX_DISCOUNT_PCT} percent",
        ),
        no_rows(
            "close_date_plausible", "business",
            "select deal_id from {batch} where stage not in (" + _quoted(CLOSED_STAGES) + ")"
            f" and (close_date < cast(updated_at as date) - interval {CLOSE_DATE_PAST_DAYS} day"
            f" or close_date > cast(updated_at as date) + interval {CLOSE_DATE_FUTURE_DAYS} day)",
            f"an open deal closes between {CLOSE_DATE_PAST_DAYS} days before and {CLOSE_DATE_FUTURE_DAYS} days"
            " after its last update",
            severity=WARNING,
        ),
        references(
            "account_exists", KEY, "account_id", "main.dim_crm_accounts", "account_id",
            "every deal belongs to an existing account",
        ),
        references(
            "owner_is_active_user", KEY, "owner_id", "main.dim_crm_users", "user_id",
            "every deal owner is a user present in the current users snapshot",
        ),
    ],
)
