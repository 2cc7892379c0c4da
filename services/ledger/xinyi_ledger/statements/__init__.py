"""Bank statements in: camt.053, MT940 and CSV exports parsed, checked and fingerprinted."""

from xinyi_ledger.statements.csvfile import (
    CsvProfile,
    ProfileError,
    load_profile,
    load_profiles,
    shipped_profiles,
)
from xinyi_ledger.statements.dedupe import Deduplicated, split_new
from xinyi_ledger.statements.model import (
    MAX_LINES,
    ParsedFile,
    Problem,
    Statement,
    StatementError,
    StatementLine,
    fingerprint,
)
from xinyi_ledger.statements.parse import MAX_BYTES, parse_statement

__all__ = [
    "MAX_BYTES",
    "MAX_LINES",
    "CsvProfile",
    "Deduplicated",
    "ParsedFile",
    "Problem",
    "ProfileError",
    "Statement",
    "StatementError",
    "StatementLine",
    "fingerprint",
    "load_profile",
    "load_profiles",
    "parse_statement",
    "shipped_profiles",
    "split_new",
]
