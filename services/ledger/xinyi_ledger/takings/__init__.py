"""Takings from systems the estate does not run: gate exports parsed and merged, and the monthly
check of recorded and expected income against what was posted."""

from xinyi_ledger.takings.checks import (
    BELOW_RECORDED_MIN_FEN,
    BELOW_RECORDED_SHARE,
    MAX_MONTHS,
    METERED,
    SOURCES,
    Check,
    Contract,
    add_months,
    checks,
    expected,
    months_between,
)
from xinyi_ledger.takings.gatefile import (
    MAX_BYTES,
    DayRow,
    GateProfile,
    ProfileError,
    SessionRow,
    TakingsFile,
    load_profile,
    load_profiles,
    parse_takings,
    shipped_profiles,
)
from xinyi_ledger.takings.merge import KnownDay, KnownSession, Merged, merge

__all__ = [
    "BELOW_RECORDED_MIN_FEN",
    "BELOW_RECORDED_SHARE",
    "MAX_BYTES",
    "MAX_MONTHS",
    "METERED",
    "SOURCES",
    "Check",
    "Contract",
    "DayRow",
    "GateProfile",
    "KnownDay",
    "KnownSession",
    "Merged",
    "ProfileError",
    "SessionRow",
    "TakingsFile",
    "add_months",
    "checks",
    "expected",
    "load_profile",
    "load_profiles",
    "merge",
    "months_between",
    "parse_takings",
    "shipped_profiles",
]
