"""The journal's write path and its proofs: one hash chain per estate, periods closed into
signed heads, inclusion proofs, and a verification that names the first broken link."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from xinyi.ledger.v1 import events_pb2
from xinyi_kit import clock
from xinyi_kit.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from xinyi_kit.outbox import Outbox
from xinyi_ledger import chain, domain, merkle, money, store

SHANGHAI = ZoneInfo("Asia/Shanghai")
Kind = events_pb2.EntryKind


def today() -> date:
    return clock.now().astimezone(SHANGHAI).date()


@dataclass
class Draft:
    """An entry before it is chained: the posting rules fill it, `post` hashes and stores it."""

    kind: int
    booked_on: date
    description: str
    lines: list[tuple[str, int, str]]  # account code, debit-positive fen, unit id or ""
    income_source: str = ""
    lump_sum: bool = False
    items: list[tuple[str, int, str]] = field(default_factory=list)  # text, fen, YYYY-MM-DD
    vouchers: list[str] = field(default_factory=list)
    reverses: str = ""
    disbursement_id: str = ""


async def unit_refs(session: AsyncSession, estate_id: uuid.UUID) -> Callable[[str], str]:
    """Units' pseudonyms in the hashed journal: HMAC-SHA256 under the estate's own secret, so
    an entry verifies for every owner without naming whose arrears it records."""
    await session.execute(
        insert(store.EstateSecret)
        .values(estate_id=estate_id, unit_pepper=secrets.token_bytes(32))
        .on_conflict_do_nothing()
    )
    row = await session.get(store.EstateSecret, estate_id)
    assert row is not None
    pepper = row.unit_pepper

    def ref(unit_id: str) -> str:
        if not unit_id:
            return ""
        return hmac.new(pepper, unit_id.encode(), hashlib.sha256).hexdigest()[:24]

    return ref


async def closed_periods(session: AsyncSession, estate_id: uuid.UUID) -> set[str]:
    rows = await session.execute(
        select(store.Period.period).where(store.Period.estate_id == estate_id)
    )
    return {p for (p,) in rows.all()}


def require_accounts(accounts: set[str], codes: set[str]) -> None:
    """Refuses lines on accounts the estate's chart lacks. An estate without any is one whose
    books are not open yet: the ledger learns of a new estate from identity's events, within
    seconds (more after a large import), so the caller may try again shortly."""
    if not accounts:
        raise Unavailable("the ledger has not opened this estate's books yet; try again shortly")
    unknown = sorted(codes - accounts)
    if unknown:
        raise InvalidArgument(f"no such account in this estate: {', '.join(unknown)}")


async def post(
    session: AsyncSession,
    outbox: Outbox,
    estate_id: uuid.UUID,
    draft: Draft,
    actor: str | None,
) -> store.Entry:
    """Chains and stores one entry; the chain head's row lock orders concurrent postings."""
    domain.check_lines(draft.lines)
    accounts = {a.code for a in await store.accounts(session, estate_id)}
    require_accounts(accounts, {code for code, _, _ in draft.lines})
    head = await session.execute(
        insert(store.ChainHead)
        .values(estate_id=estate_id, last_index=0, last_hash=chain.GENESIS)
        .on_conflict_do_nothing()
    )
    del head
    head_row = (
        await session.execute(
            select(store.ChainHead).where(store.ChainHead.estate_id == estate_id).with_for_update()
        )
    ).scalar_one()
    period = domain.period_of(draft.booked_on)
    late_for = None
    if period in await closed_periods(session, estate_id):
        # A closed period accepts nothing: a late item goes into the open period, saying so.
        late_for, period = period, domain.period_of(today())
        if period == late_for:
            raise FailedPrecondition("this month is closed; post into the next one")
    index = head_row.last_index + 1
    recorded_at = clock.now()
    refs = await unit_refs(session, estate_id) if any(u for _, _, u in draft.lines) else str
    entry_id = uuid.uuid4()
    fields: dict[str, object] = {
        "estate_id": str(estate_id),
        "entry_id": str(entry_id),
        "index": index,
        "kind": events_pb2.EntryKind.Name(draft.kind).removeprefix("ENTRY_KIND_").lower(),
        "period": period,
        "booked_on": draft.booked_on.isoformat(),
        "description": draft.description,
        "lines": [{"account": c, "amount_fen": a, "unit": refs(u)} for c, a, u in draft.lines],
        "items": [{"description": d, "amount_fen": a, "occurred_on": o} for d, a, o in draft.items],
        "income_source": draft.income_source,
        "lump_sum": draft.lump_sum,
        "vouchers": sorted(draft.vouchers),
        "reverses": draft.reverses,
        "late_for_period": late_for or "",
        "disbursement_id": draft.disbursement_id,
        "recorded_at": recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    entry_hash = chain.entry_hash(fields)
    chain_hash = chain.chain_hash(head_row.last_hash, entry_hash)
    row = store.Entry(
        estate_id=estate_id,
        entry_id=entry_id,
        chain_index=index,
        kind=draft.kind,
        period=period,
        booked_on=draft.booked_on,
        description=draft.description,
        income_source=draft.income_source,
        lump_sum=draft.lump_sum,
        reverses_entry_id=uuid.UUID(draft.reverses) if draft.reverses else None,
        late_for_period=late_for,
        disbursement_id=uuid.UUID(draft.disbursement_id) if draft.disbursement_id else None,
        voucher_sha256=sorted(draft.vouchers),
        canonical=chain.canonical(fields).decode(),
        entry_hash=entry_hash,
        chain_hash=chain_hash,
        recorded_at=recorded_at,
        recorded_by=uuid.UUID(actor) if actor else None,
    )
    session.add(row)
    await session.flush()
    await _insert_lines(session, estate_id, entry_id, draft.lines)
    for n, (said, amount, occurred) in enumerate(draft.items, 1):
        session.add(
            store.EntryItem(
                estate_id=estate_id,
                entry_id=entry_id,
                item_no=n,
                description=said,
                amount_fen=amount,
                occurred_on=date.fromisoformat(occurred) if occurred else None,
            )
        )
    head_row.last_index, head_row.last_hash = index, chain_hash
    await session.flush()
    await outbox.emit(
        session, estate_id, "entry_posted", entry_event(row, draft.lines, draft.items)
    )
    return row


# An entry's lines in one statement however many there are: a month's fee assessment has a line
# per unit, and an ORM object per line cost more than chaining the whole entry.
_INSERT_LINES = text(
    "INSERT INTO entry_lines (estate_id, entry_id, line_no, account_code, amount_fen, unit_id) "
    "SELECT CAST(:estate AS uuid), CAST(:entry AS uuid), n, code, fen, unit "
    "FROM unnest(CAST(:codes AS text[]), CAST(:fens AS bigint[]), CAST(:units AS uuid[])) "
    "WITH ORDINALITY AS line (code, fen, unit, n)"
)


async def _insert_lines(
    session: AsyncSession,
    estate_id: uuid.UUID,
    entry_id: uuid.UUID,
    lines: Sequence[tuple[str, int, str]],
) -> None:
    """Stores an entry's lines numbered 1, 2, ... in their order (its row is flushed first)."""
    await session.execute(
        _INSERT_LINES,
        {
            "estate": estate_id,
            "entry": entry_id,
            "codes": [code for code, _, _ in lines],
            "fens": [amount for _, amount, _ in lines],
            "units": [uuid.UUID(unit) if unit else None for _, _, unit in lines],
        },
    )


def entry_event(
    row: store.Entry,
    lines: Sequence[tuple[str, int, str]],
    items: Sequence[tuple[str, int, str]] = (),
) -> events_pb2.EntryPosted:
    event = events_pb2.EntryPosted(
        estate_id=str(row.estate_id),
        entry_id=str(row.entry_id),
        chain_index=row.chain_index,
        kind=row.kind,  # type: ignore[arg-type]
        period=row.period,
        description=row.description,
        lines=[events_pb2.EntryLine(account_code=c, amount_fen=a, unit_id=u) for c, a, u in lines],
        income_source=row.income_source,
        lump_sum=row.lump_sum,
        voucher_sha256=row.voucher_sha256,
        reverses_entry_id=str(row.reverses_entry_id or ""),
        entry_hash=row.entry_hash.hex(),
        chain_hash=row.chain_hash.hex(),
        items=[
            events_pb2.EntryItem(description=d, amount_fen=a, occurred_on=o or "")
            for d, a, o in items
        ],
        disbursement_id=str(row.disbursement_id or ""),
        late_for_period=row.late_for_period or "",
    )
    event.booked_at.FromDatetime(datetime.combine(row.booked_on, datetime.min.time(), SHANGHAI))
    return event


# -- remuneration ------------------------------------------------------------------------------
async def terms_on(
    session: AsyncSession, estate_id: uuid.UUID, day: date
) -> store.ContractTerms | None:
    rows = await session.execute(
        select(store.ContractTerms)
        .where(
            store.ContractTerms.estate_id == estate_id, store.ContractTerms.effective_from <= day
        )
        .order_by(store.ContractTerms.effective_from.desc())
        .limit(1)
    )
    return rows.scalars().first()


async def accrue_remuneration(
    session: AsyncSession,
    outbox: Outbox,
    estate_id: uuid.UUID,
    period: str,
    day: date,
    actor: str | None,
) -> store.Entry | None:
    """Brings the period's accrued remuneration to the ratio of its cumulative eligible income,
    rounded once, so the accruals always sum to the exact ratio of the total, to the fen."""
    terms = await terms_on(session, estate_id, day)
    if terms is None or terms.ratio_num is None or terms.ratio_den is None:
        return None
    ratio = Fraction(terms.ratio_num, terms.ratio_den)
    # The terms' own part of the period (a new company may start mid-month), less the days its
    # company refused to hand over and so earns nothing on.
    days = Days(since=terms.effective_from, skip=await _suspended(session, estate_id))
    income = await _received_income(session, estate_id, period, terms.sources, days)
    accrued = await _period_sum(
        session,
        estate_id,
        period,
        [domain.REMUNERATION_PAYABLE],
        kind=Kind.ENTRY_KIND_REMUNERATION,
        days=Days(since=terms.effective_from),
    )
    # Income is credited (negative, debit-positive); accruals credit the payable likewise.
    step = money.remuneration_accrual(-income, ratio, -accrued)
    if step == 0:
        return None
    return await post(
        session,
        outbox,
        estate_id,
        Draft(
            kind=Kind.ENTRY_KIND_REMUNERATION,
            booked_on=day,
            description=(
                f"物业服务酬金计提 {period}（收入 × {ratio.numerator}/{ratio.denominator}）"
            ),
            lines=[
                (domain.REMUNERATION_EXPENSE, step, ""),
                (domain.REMUNERATION_PAYABLE, -step, ""),
            ],
        ),
        actor,
    )


@dataclass(frozen=True)
class Days:
    """Which days' entries a sum counts: from `since`, without the `skip` windows
    ([from, until), until None: still running)."""

    since: date | None = None
    skip: tuple[tuple[date, date | None], ...] = ()


async def _suspended(
    session: AsyncSession, estate_id: uuid.UUID
) -> tuple[tuple[date, date | None], ...]:
    rows = await session.execute(
        select(store.SuspensionRow.from_day, store.SuspensionRow.until_day).where(
            store.SuspensionRow.estate_id == estate_id
        )
    )
    return tuple((a, b) for a, b in rows.all())


async def _received_income(
    session: AsyncSession,
    estate_id: uuid.UUID,
    period: str,
    sources: list[str],
    days: Days = Days(),
) -> int:
    """The period's income received from the sources (credit-negative, like income lines).

    A fee assessment credits property fee income too, but nothing is received until the unit
    pays: remuneration on fees merely assessed would pay the company for arrears. So property
    fees count when paid (a payment's credits to receivables and prepaid fees), and only the
    income lines of other entries (income posted directly, its reversals) count as they are.
    """
    codes = [domain.INCOME_ACCOUNT[s] for s in sources]
    income = await _period_sum(
        session, estate_id, period, codes, exclude_kind=Kind.ENTRY_KIND_ASSESSMENT, days=days
    )
    if "property_fee" in sources:
        income += await _period_sum(
            session,
            estate_id,
            period,
            [domain.RECEIVABLES, domain.PREPAID],
            kind=Kind.ENTRY_KIND_PAYMENT,
            days=days,
        )
    return income


async def _period_sum(
    session: AsyncSession,
    estate_id: uuid.UUID,
    period: str,
    codes: list[str],
    kind: int | None = None,
    exclude_kind: int | None = None,
    days: Days = Days(),
) -> int:
    """The period's sum of the accounts' lines, by the kind of entry they belong to; a reversal
    counts as the kind it reverses (a payment taken back lowers the fees received)."""
    original = aliased(store.Entry)
    kind_of = func.coalesce(original.kind, store.Entry.kind)
    query = (
        select(func.coalesce(func.sum(store.EntryLine.amount_fen), 0))
        .join(
            store.Entry,
            (store.Entry.estate_id == store.EntryLine.estate_id)
            & (store.Entry.entry_id == store.EntryLine.entry_id),
        )
        .outerjoin(
            original,
            (original.estate_id == store.Entry.estate_id)
            & (original.entry_id == store.Entry.reverses_entry_id),
        )
        .where(
            store.EntryLine.estate_id == estate_id,
            store.Entry.period == period,
            store.EntryLine.account_code.in_(codes),
        )
    )
    if kind is not None:
        query = query.where(kind_of == kind)
    if exclude_kind is not None:
        query = query.where(kind_of != exclude_kind)
    if days.since is not None:
        query = query.where(store.Entry.booked_on >= days.since)
    for first, until in days.skip:
        inside = store.Entry.booked_on >= first
        if until is not None:
            inside &= store.Entry.booked_on < until
        query = query.where(~inside)
    return int((await session.execute(query)).scalar_one())


# -- periods and proofs -------------------------------------------------------------------------
async def period_entries(
    session: AsyncSession, estate_id: uuid.UUID, period: str
) -> list[store.Entry]:
    rows = await session.execute(
        select(store.Entry)
        .where(store.Entry.estate_id == estate_id, store.Entry.period == period)
        .order_by(store.Entry.chain_index)
    )
    return list(rows.scalars())


async def close_period(
    session: AsyncSession,
    outbox: Outbox,
    estate_id: uuid.UUID,
    period: str,
    actor: str | None,
) -> store.Period:
    domain.check_period(period)
    if period >= domain.period_of(today()):
        raise FailedPrecondition(f"{period} has not ended yet; a month closes after its last day")
    # The chain head's lock keeps postings out while the head is computed.
    await session.execute(
        insert(store.ChainHead)
        .values(estate_id=estate_id, last_index=0, last_hash=chain.GENESIS)
        .on_conflict_do_nothing()
    )
    head_row = (
        await session.execute(
            select(store.ChainHead).where(store.ChainHead.estate_id == estate_id).with_for_update()
        )
    ).scalar_one()
    closed = await closed_periods(session, estate_id)
    if period in closed:
        raise FailedPrecondition(f"{period} is closed already")
    earlier = await session.execute(
        select(func.min(store.Entry.period)).where(
            store.Entry.estate_id == estate_id,
            store.Entry.period < period,
            store.Entry.period.not_in(closed or {""}),
        )
    )
    open_before = earlier.scalar_one()
    if open_before is not None:
        raise FailedPrecondition(f"close {open_before} first: months close in order")
    unpaid = await session.execute(
        select(func.count())
        .select_from(store.Disbursement)
        .where(
            store.Disbursement.estate_id == estate_id,
            store.Disbursement.state == events_pb2.DISBURSEMENT_STATE_APPROVED,
            func.to_char(
                store.Disbursement.requested_at.op("AT TIME ZONE")("Asia/Shanghai"), "YYYY-MM"
            )
            <= period,
        )
    )
    if unpaid.scalar_one():
        raise FailedPrecondition(
            "an approved disbursement of this month or before is not paid yet; record the "
            "payment first"
        )
    # The books reconcile with the bank: every statement line of the month is tied to its entry
    # or explained.
    from xinyi_ledger.bankstatements import StatementLineRow

    unreconciled = await session.execute(
        select(func.count()).where(
            StatementLineRow.estate_id == estate_id,
            StatementLineRow.state == "open",
            StatementLineRow.booked_on >= date(int(period[:4]), int(period[5:]), 1),
            StatementLineRow.booked_on <= _last_day(period),
        )
    )
    if count := unreconciled.scalar_one():
        raise FailedPrecondition(
            f"{count} line(s) of the bank's statements for {period} are open: tie each to its "
            "entry or explain it, so the month reconciles with the bank"
        )
    terms = await terms_on(session, estate_id, _last_day(period))
    if terms is not None and terms.fixed_monthly_fen:
        accrued = await _period_sum(
            session,
            estate_id,
            period,
            [domain.REMUNERATION_PAYABLE],
            kind=Kind.ENTRY_KIND_REMUNERATION,
        )
        if accrued == 0:
            await post(
                session,
                outbox,
                estate_id,
                Draft(
                    kind=Kind.ENTRY_KIND_REMUNERATION,
                    booked_on=_last_day(period),
                    description=f"物业服务酬金计提 {period}（固定金额）",
                    lines=[
                        (domain.REMUNERATION_EXPENSE, terms.fixed_monthly_fen, ""),
                        (domain.REMUNERATION_PAYABLE, -terms.fixed_monthly_fen, ""),
                    ],
                ),
                actor,
            )
            head_row = (
                await session.execute(
                    select(store.ChainHead).where(store.ChainHead.estate_id == estate_id)
                )
            ).scalar_one()
    entries = await period_entries(session, estate_id, period)
    leaves = [e.entry_hash for e in entries]
    if entries:
        first, last, chain_head = (
            entries[0].chain_index,
            entries[-1].chain_index,
            entries[-1].chain_hash,
        )
    else:
        previous = await session.execute(
            select(store.Entry)
            .where(store.Entry.estate_id == estate_id, store.Entry.period < period)
            .order_by(store.Entry.chain_index.desc())
            .limit(1)
        )
        before = previous.scalars().first()
        last = before.chain_index if before else 0
        first, chain_head = last + 1, before.chain_hash if before else chain.GENESIS
    del head_row
    closed_at = clock.now()
    root = merkle.root(leaves)
    # The month's closing balances: every entry of it and of the months before, wherever the
    # next month's first entries fall in the chain.
    balances = await store.balances(session, estate_id, up_to_period=period)
    payload = chain.head_payload(
        estate_id=str(estate_id),
        period=period,
        first_index=first,
        last_index=last,
        merkle_root=root,
        chain_head=chain_head,
        balances=balances,
        closed_at=closed_at,
    )
    row = store.Period(
        estate_id=estate_id,
        period=period,
        closed_at=closed_at,
        payload=chain.head_bytes(payload).decode(),
        merkle_root=root,
        chain_head=chain_head,
        entry_count=len(entries),
    )
    session.add(row)
    await session.flush()
    await outbox.emit(
        session,
        estate_id,
        "period_closed",
        events_pb2.PeriodClosed(
            estate_id=str(estate_id),
            period=period,
            merkle_root=row.merkle_root.hex(),
            entry_count=len(entries),
            chain_head=chain_head.hex(),
            fund_balance_fen=balances.get(domain.FUND_BANK, 0),
            maintenance_fund_balance_fen=balances.get(domain.MAINTENANCE_BANK, 0),
        ),
    )
    return row


def _last_day(period: str) -> date:
    year, month = int(period[:4]), int(period[5:])
    following = date(year + (month == 12), month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


@dataclass(frozen=True)
class Proof:
    entry: store.Entry
    leaf_index: int
    tree_size: int
    path: list[bytes]
    period: store.Period


async def proof_of(session: AsyncSession, estate_id: uuid.UUID, entry_id: uuid.UUID) -> Proof:
    entry = await session.get(store.Entry, (estate_id, entry_id))
    if entry is None:
        raise NotFound("no such entry")
    period = await session.get(store.Period, (estate_id, entry.period))
    if period is None:
        raise FailedPrecondition(
            f"{entry.period} is still open: an entry's proof comes with its month's signed head"
        )
    entries = await period_entries(session, estate_id, entry.period)
    leaves = [e.entry_hash for e in entries]
    index = next(i for i, e in enumerate(entries) if e.entry_id == entry_id)
    return Proof(entry, index, len(leaves), merkle.inclusion_proof(leaves, index), period)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    heads: int
    problem: str = ""
    broken_index: int = 0


async def verify(session: AsyncSession, estate_id: uuid.UUID) -> Verdict:
    """Recomputes every entry hash and chain link from the stored canonical fields, and every
    closed period's Merkle root, chain head and signatures."""
    entries = list(
        (
            await session.execute(
                select(store.Entry)
                .where(store.Entry.estate_id == estate_id)
                .order_by(store.Entry.chain_index)
            )
        ).scalars()
    )
    triples = [(json.loads(e.canonical), e.entry_hash, e.chain_hash) for e in entries]
    broken = chain.verify_chain(triples)
    if broken is not None:
        e = entries[broken]
        return Verdict(
            False,
            broken,
            0,
            f"entry #{e.chain_index} ({e.entry_id}) does not match "
            "its hash or its link to the previous entry",
            e.chain_index,
        )
    for position, e in enumerate(entries, 1):
        if e.chain_index != position:
            return Verdict(
                False, position - 1, 0, f"entry #{position} is missing from the chain", position
            )
    periods = list(
        (
            await session.execute(
                select(store.Period)
                .where(store.Period.estate_id == estate_id)
                .order_by(store.Period.period)
            )
        ).scalars()
    )
    by_period: dict[str, list[store.Entry]] = {}
    for e in entries:
        by_period.setdefault(e.period, []).append(e)
    months = sorted(by_period)
    for n, p in enumerate(periods):
        payload = json.loads(p.payload)
        mine = by_period.get(p.period, [])
        if merkle.root([e.entry_hash for e in mine]).hex() != payload["merkle_root"]:
            return Verdict(
                False,
                len(entries),
                n,
                f"the head of {p.period} does not match the Merkle root of its entries",
            )
        # The balances it states are those of its entries and every earlier month's.
        balances: dict[str, int] = {}
        for month in months:
            if month > p.period:
                break
            for e in by_period[month]:
                for line in json.loads(e.canonical)["lines"]:
                    balances[line["account"]] = (
                        balances.get(line["account"], 0) + line["amount_fen"]
                    )
        if {c: f for c, f in balances.items() if f} != {
            c: f for c, f in payload["balances"].items() if f
        }:
            return Verdict(
                False,
                len(entries),
                n,
                f"the balances in the head of {p.period} are not those of the journal",
            )
        signatures = (
            await session.execute(
                select(store.HeadSignature).where(
                    store.HeadSignature.estate_id == estate_id,
                    store.HeadSignature.period == p.period,
                )
            )
        ).scalars()
        for s in signatures:
            if not chain.verify_signature(s.public_jwk, p.payload.encode(), s.signature):
                return Verdict(
                    False,
                    len(entries),
                    n,
                    f"the {s.role}'s signature on the head of {p.period} does not verify",
                )
    return Verdict(True, len(entries), len(periods))


def parse_day(value: str, what: str) -> date:
    if not value:
        return today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{what} must be a date like 2026-01-31") from None
