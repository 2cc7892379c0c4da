"""Lines on accounts: an estate's chart must hold them; an estate without a chart is one whose
books the ledger has not opened yet, which is worth trying again, not the caller's mistake."""

from __future__ import annotations

import pytest

from xinyi_kit.errors import InvalidArgument, Unavailable
from xinyi_ledger.journal import require_accounts

CHART = {"1001", "1002", "4001", "4009"}


def test_lines_on_the_charts_accounts_pass() -> None:
    require_accounts(CHART, {"1001", "4009"})


def test_an_account_the_chart_lacks_is_named() -> None:
    with pytest.raises(InvalidArgument, match="no such account in this estate: 4002, 9999"):
        require_accounts(CHART, {"1001", "9999", "4002"})


def test_books_not_open_yet_is_worth_trying_again() -> None:
    with pytest.raises(Unavailable, match="not opened this estate's books yet"):
        require_accounts(set(), {"1001", "4009"})
