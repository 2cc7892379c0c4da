"""Disclosure's tables that are derived from events alone, so a rebuild may drop them."""

DERIVED = (
    "estate_overview",
    "chart",
    "entries",
    "account_months",
    "disbursements",
    "fee_months",
    "reconciliation",
    "periods",
    "budgets",
    "takings_flags",
    "ballots",
    "suggestions",
    "baselines",
    "meetings",
    "survey_results",
    "communities",
)
