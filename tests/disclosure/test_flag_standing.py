"""When evaluating a month's flags would change nothing: then a report reads them without locking
or writing them. Pure rules, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from xinyi_disclosure.flags import Raised, _standing
from xinyi_disclosure.readmodels import Flag

ENTRY = uuid.uuid4()


def kept(flag_id: str, state: str, reason: str = "没有明细", explanation: str = "") -> Flag:
    return Flag(
        estate_id=uuid.uuid4(),
        flag_id=flag_id,
        period="2026-11",
        kind=flag_id.split(":")[0],
        state=state,
        reason=reason,
        entry_ids=[ENTRY],
        explanation=explanation,
        raised_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def holds(flag_id: str, reason: str = "没有明细") -> Raised:
    return Raised(flag_id, flag_id.split(":")[0], reason, (ENTRY,))


def test_flags_on_record_as_they_hold_stand() -> None:
    current = {"lump_sum_income:a": holds("lump_sum_income:a")}
    assert _standing(
        current,
        {
            "lump_sum_income:a": kept("lump_sum_income:a", "explained", explanation="包干"),
            "unreconciled:2026-11": kept("unreconciled:2026-11", "resolved"),
        },
    )
    assert _standing({}, {})


def test_a_flag_to_raise_reopen_reword_or_resolve_does_not_stand() -> None:
    flag = "lump_sum_income:a"
    assert not _standing({flag: holds(flag)}, {})
    assert not _standing({flag: holds(flag)}, {flag: kept(flag, "resolved")})
    assert not _standing({flag: holds(flag, "新的原因")}, {flag: kept(flag, "open")})
    assert not _standing({}, {flag: kept(flag, "open")})
    other = Raised(flag, "lump_sum_income", "没有明细", (uuid.uuid4(),))
    assert not _standing({flag: other}, {flag: kept(flag, "open")})
