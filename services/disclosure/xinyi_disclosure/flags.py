"""Anomaly flags of a month, each with its reason and the entries behind it.

A flag is raised while its condition holds, read from the read models as they are now; one whose
condition no longer holds is resolved (the income was itemised, the voucher attached, the line
tied); the company or the approving body may explain an open one in words owners read, and the
explanation stays with it. Flags are kept with their state, so who explained what is on record.

Income far below similar estates compares the estate with the other estates of its community.
Everything else here reads the estate's own rows, as row-level security confines the estate's
transaction to it; the peers' figures are the one read across estates (`peer_income`): two
queries of monthly totals in system scope within the same transaction, which return only each
peer's income per unit, never an entry, and write nothing.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.disclosure.v1 import events_pb2
from xinyi_disclosure.readmodels import (
    AccountMonth,
    Budget,
    Entry,
    Flag,
    Period,
    Reconciliation,
    Suggestion,
    TakingsFlag,
    month_entries,
    movements,
    totals,
)
from xinyi_disclosure.store import EstateOverview
from xinyi_kit.db import SCOPE_SETTING, xact_lock
from xinyi_kit.outbox import Outbox

INCOME_KIND, EXPENSE_KIND = 1, 2
# Sources whose takings vary from month to month with use; a fixed contract (advertising) does
# not. The same amount three months running from one of these is the pilot's tell-tale.
VARYING = {"4002": "parking", "4004": "venue"}
FLAT_MONTHS = 3
# A month's income per unit from a varying source is far below similar estates when it is below
# a third of the median of at least three other estates of the community that have that income.
PEERS_AT_LEAST = 3
BELOW_PEERS = Fraction(1, 3)


# Where a newly raised flag is announced (the approving body and supervisors hear of it); set
# by the service at start, unset in tools that only read.
_outbox: Outbox | None = None


def announce_with(outbox: Outbox | None) -> None:
    global _outbox
    _outbox = outbox


def announcer() -> Outbox | None:
    return _outbox


@dataclass(frozen=True)
class Raised:
    flag_id: str
    kind: str
    reason: str
    entry_ids: tuple[uuid.UUID, ...] = ()


def _yuan(fen: int) -> str:
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{whole:,}.{cents:02d}"


def _previous(period: str, n: int) -> str:
    index = int(period[:4]) * 12 + int(period[5:]) - 1 - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


async def _conditions(
    session: AsyncSession,
    estate_id: uuid.UUID,
    period: str,
    now: datetime,
    this: Sequence[Entry],
) -> list[Raised]:
    out: list[Raised] = []
    months = [_previous(period, n) for n in range(FLAT_MONTHS)]
    lumps = [e.entry_id for e in this if e.kind == INCOME_KIND and e.lump_sum]
    # A lump sum the company reversed (to post the itemised takings instead) is gone. The
    # lump sums go as one array, not as an IN list: a list of its own length each time would
    # be a new statement each posting, prepared and cached on every connection.
    reversed_ = set(
        (
            await session.execute(
                select(Entry.reverses_entry_id).where(
                    Entry.estate_id == estate_id,
                    Entry.reverses_entry_id == any_(bindparam("lumps", lumps, ARRAY(UUID))),
                )
            )
        ).scalars()
        if lumps
        else ()
    )
    for e in this:
        if e.kind == INCOME_KIND and e.lump_sum and e.entry_id not in reversed_:
            amount = -sum(fen for code, fen in e.lines if code.startswith("4"))
            out.append(
                Raised(
                    f"lump_sum_income:{e.entry_id}",
                    "lump_sum_income",
                    f"收入只以一笔总数入账、没有明细：{e.description}（{_yuan(amount)} 元）",
                    (e.entry_id,),
                )
            )
        if e.kind == EXPENSE_KIND and not e.vouchers:
            out.append(
                Raised(
                    f"expense_without_voucher:{e.entry_id}",
                    "expense_without_voucher",
                    f"支出没有凭证：{e.description}",
                    (e.entry_id,),
                )
            )
    # The same posted amount month after month from a source that should vary.
    by_month: dict[str, dict[str, int]] = defaultdict(dict)
    for code, moved in (await movements(session, estate_id, VARYING, months)).items():
        by_month[code] = {month: -fen for month, fen in moved.items()}
    behind: dict[str, list[uuid.UUID]] = defaultdict(list)
    for e in this:
        for code, _ in e.lines:
            if code in VARYING:
                behind[code].append(e.entry_id)
    for code, source in VARYING.items():
        amounts = [by_month[code].get(m, 0) for m in months]
        if amounts[0] > 0 and len(set(amounts)) == 1:
            out.append(
                Raised(
                    f"flat_income:{period}:{source}",
                    "flat_income",
                    f"{source} 收入连续 {FLAT_MONTHS} 个月都是 {_yuan(amounts[0])} 元："
                    "随使用变化的收入不应每月相同",
                    tuple(behind[code]),
                )
            )
    out.extend(await _below_peers(session, estate_id, period, by_month, behind))
    takings = (
        await session.execute(
            select(TakingsFlag).where(
                TakingsFlag.estate_id == estate_id, TakingsFlag.month == period
            )
        )
    ).scalars()
    for t in takings:
        out.append(Raised(f"takings:{period}:{t.source}:{t.flag}", f"takings_{t.flag}", t.reason))
    # Spending over a budget line, this year up to the month.
    budget = await session.get(Budget, (estate_id, int(period[:4])))
    if budget is not None:
        spent = await totals(session, estate_id, f"{period[:4]}-01", period)
        for line in budget.lines:
            used = spent.get(line["expense_code"], 0)
            if used > line["amount_fen"]:
                out.append(
                    Raised(
                        f"over_budget:{period}:{line['line_id']}",
                        "over_budget",
                        f"预算科目“{line['name']}”全年预算 {_yuan(line['amount_fen'])} 元，"
                        f"至本月已支出 {_yuan(used)} 元",
                    )
                )
    bank = await session.get(Reconciliation, (estate_id, "fund"))
    if bank is not None and bank.open_alarms:
        out.append(
            Raised(
                f"bank_alarm:{period}",
                "bank_alarm",
                f"银行对账单上有 {bank.open_alarms} 笔没有批准付款的支出（未授权扣款）",
            )
        )
    if bank is not None and unreconciled_in(period, bank):
        out.append(
            Raised(
                f"unreconciled:{period}",
                "unreconciled",
                f"本月银行对账单尚有 {bank.open_lines} 笔未核对；已核对至 "
                f"{bank.reconciled_through.isoformat() if bank.reconciled_through else '—'}",
            )
        )
    overdue = (
        await session.execute(
            select(Suggestion.suggestion_id).where(
                Suggestion.estate_id == estate_id,
                Suggestion.resolved_at.is_(None),
                Suggestion.due_at < now.astimezone(UTC),
            )
        )
    ).scalars()
    for suggestion_id in overdue:
        out.append(
            Raised(
                f"overdue_rectification:{suggestion_id}",
                "overdue_rectification",
                "整改承诺已过期限仍未完成",
            )
        )
    head = await session.get(Period, (estate_id, period))
    if head is not None and all(s["role"] != "committee" for s in head.signatures):
        out.append(
            Raised(
                f"head_awaiting_cosign:{period}",
                "head_awaiting_cosign",
                f"{period} 账期已结账，业主委员会尚未会签",
            )
        )
    return out


async def _units(
    session: AsyncSession, estate_ids: list[uuid.UUID], period: str
) -> dict[uuid.UUID, int]:
    """Units assessed in the month, or in the latest month before it with fees."""
    rows = await session.execute(
        text(
            "SELECT DISTINCT ON (estate_id) estate_id, units_assessed FROM fee_months "
            "WHERE estate_id = ANY(:estates) AND period <= :period AND units_assessed > 0 "
            "ORDER BY estate_id, period DESC"
        ).bindparams(bindparam("estates", type_=ARRAY(UUID(as_uuid=True)))),
        {"estates": estate_ids, "period": period},
    )
    return {estate: int(units) for estate, units in rows.all()}


async def peer_income(
    session: AsyncSession, estate_id: uuid.UUID, community_id: uuid.UUID, period: str
) -> dict[str, list[Fraction]]:
    """Each other estate of the community with income from a varying source in the month: its
    income per unit (fen), by source; nothing else is returned. Read in system scope, set for
    these reads only (local to the transaction: should one fail, the transaction ends with it)."""
    await session.execute(text("SELECT set_config(:k, 'system', true)"), {"k": SCOPE_SETTING})
    others = list(
        (
            await session.execute(
                select(EstateOverview.estate_id).where(
                    EstateOverview.community_id == community_id,
                    EstateOverview.estate_id != estate_id,
                )
            )
        ).scalars()
    )
    income = await session.execute(
        select(AccountMonth.estate_id, AccountMonth.code, AccountMonth.amount_fen).where(
            AccountMonth.estate_id.in_(others),
            AccountMonth.period == period,
            AccountMonth.code.in_(VARYING),
        )
    )
    earned = [(estate, str(code), -int(fen)) for estate, code, fen in income.all()]
    units = await _units(session, others, period)
    await session.execute(text("SELECT set_config(:k, '', true)"), {"k": SCOPE_SETTING})
    out: dict[str, list[Fraction]] = defaultdict(list)
    for estate, code, fen in earned:
        if fen > 0 and units.get(estate):
            out[code].append(Fraction(fen, units[estate]))
    return out


async def _below_peers(
    session: AsyncSession,
    estate_id: uuid.UUID,
    period: str,
    by_month: dict[str, dict[str, int]],
    behind: dict[str, list[uuid.UUID]],
) -> list[Raised]:
    """The month's income per unit from a varying source the estate has (posted in the month
    or the two before) against the median of its community's other estates."""
    estate = await session.get(EstateOverview, estate_id)
    has = [c for c in VARYING if any(by_month[c].values())]
    if estate is None or estate.community_id is None or not has:
        return []
    units = (await _units(session, [estate_id], period)).get(estate_id)
    if not units:
        return []
    peers = await peer_income(session, estate_id, estate.community_id, period)
    out = []
    for code in has:
        others = peers.get(code, [])
        if len(others) < PEERS_AT_LEAST:
            continue
        median = Fraction(statistics.median(others))
        mine = Fraction(max(by_month[code].get(period, 0), 0), units)
        if mine < median * BELOW_PEERS:
            out.append(
                Raised(
                    f"below_peers:{period}:{VARYING[code]}",
                    "income_below_peers",
                    f"{VARYING[code]} 收入每户 {_yuan(_fen(mine))} 元，不到同社区 "
                    f"{len(others)} 个小区每户中位数 {_yuan(_fen(median))} 元的三分之一",
                    tuple(behind[code]),
                )
            )
    return out


def _fen(value: Fraction) -> int:
    """Whole fen, half up."""
    return int(value + Fraction(1, 2))


def month_end(period: str) -> date:
    year, month = int(period[:4]), int(period[5:])
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def unreconciled_in(period: str, bank: Reconciliation) -> bool:
    """Open statement lines fall in or before the month: the statements reach into it and the
    account is not reconciled through its end."""
    first, last = date.fromisoformat(f"{period}-01"), month_end(period)
    reaches = bank.statement_through is not None and bank.statement_through >= first
    behind = bank.reconciled_through is None or bank.reconciled_through < min(
        last, bank.statement_through or last
    )
    return bank.open_lines > 0 and reaches and behind


async def evaluate(
    session: AsyncSession,
    estate_id: uuid.UUID,
    period: str,
    now: datetime,
    entries: Sequence[Entry] | None = None,
) -> list[Flag]:
    """Raises what holds now, resolves what no longer does; returns the month's flags.
    `entries` are the month's (`month_entries`), when the caller has read them already."""
    if entries is None:
        entries = await month_entries(session, estate_id, period)
    current = {r.flag_id: r for r in await _conditions(session, estate_id, period, now, entries)}
    kept = await _kept(session, estate_id, period, lock=False)
    # Most reads find the flags as they stand: those write nothing and lock nothing.
    if _standing(current, kept):
        return _ordered(kept)
    # Reports of the month read at once (its owners opening it together) change its flags one
    # after another: the row locks below cannot cover a flag not on record yet, and two would
    # both raise it.
    await xact_lock(session, f"flags:{estate_id}:{period}")
    kept = await _kept(session, estate_id, period, lock=True)
    if _standing(current, kept):
        return _ordered(kept)
    fresh: list[Flag] = []
    for flag_id, raised in current.items():
        row = kept.get(flag_id)
        if row is None:
            row = Flag(
                estate_id=estate_id,
                flag_id=flag_id,
                period=period,
                kind=raised.kind,
                state="open",
                reason=raised.reason,
                entry_ids=list(raised.entry_ids),
                explanation="",
                raised_at=now,
            )
            session.add(row)
            kept[flag_id] = row
            fresh.append(row)
        else:
            row.reason, row.entry_ids = raised.reason, list(raised.entry_ids)
            if row.state == "resolved":
                row.state = "explained" if row.explanation else "open"
    for flag_id, row in kept.items():
        if flag_id not in current:
            row.state = "resolved"
    await session.flush()
    if _outbox is not None and fresh:
        await _outbox.emit_many(
            session,
            estate_id,
            [
                (
                    "flag_raised",
                    events_pb2.FlagChanged(
                        estate_id=str(estate_id),
                        flag_id=f.flag_id,
                        kind=f.kind,
                        state=f.state,
                        reason=f.reason,
                        entry_ids=[str(e) for e in f.entry_ids],
                        period=period,
                    ),
                )
                for f in fresh
            ],
        )
    return _ordered(kept)


async def _kept(
    session: AsyncSession, estate_id: uuid.UUID, period: str, *, lock: bool
) -> dict[str, Flag]:
    """The month's flags on record; locked (and read afresh) to be changed."""
    query = select(Flag).where(Flag.estate_id == estate_id, Flag.period == period)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return {f.flag_id: f for f in (await session.execute(query)).scalars()}


def _standing(current: dict[str, Raised], kept: dict[str, Flag]) -> bool:
    """Every flag that holds is on record as raised, with its reason and entries, and every
    other one is resolved: evaluating would change nothing."""
    raised = all(
        (row := kept.get(flag_id)) is not None
        and row.state != "resolved"
        and (row.reason, row.entry_ids) == (r.reason, list(r.entry_ids))
        for flag_id, r in current.items()
    )
    return raised and all(
        row.state == "resolved" for flag_id, row in kept.items() if flag_id not in current
    )


def _ordered(kept: dict[str, Flag]) -> list[Flag]:
    return sorted(kept.values(), key=lambda f: (f.state == "resolved", f.kind, f.flag_id))


def as_dict(f: Flag) -> dict[str, Any]:
    return {
        "flag_id": f.flag_id,
        "kind": f.kind,
        "reason": f.reason,
        "state": f.state,
        "entry_ids": [str(e) for e in f.entry_ids],
        "explanation": f.explanation or None,
        "explained_by": str(f.explained_by) if f.explained_by else None,
        "explained_at": f.explained_at.isoformat() if f.explained_at else None,
    }
