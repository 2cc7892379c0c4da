"""Tenders (招标): the estate publishes its terms, companies bid sealed, the assembly chooses.

draft -> open (published: companies bid until closes_at, each company seeing only its own bid)
-> closed (from closes_at on: every bid revealed to everyone in the estate) -> decided (the
assembly's final ballot chose a bid), or cancelled with a reason from draft, open or closed.

A company manager's grant is company-scoped and reaches only the estates the company serves
today, so an estate-scoped check would hide every other estate's tender from the companies that
could bid for it. The bidders' calls therefore name no estate: `tender.bid` is checked on the
caller's company-scoped grants, open tenders are listed city-wide, and a bid finds its estate
from the tender. Every other call is the estate's own and goes through `authorize_estate`.

The assembly chooses by a ballot drafted from the closed tender (one candidates question, art.
278 item 4, a candidate per bid, subject company:<tender_id>). When it is final, its
`ballot_decided` reaches `TenderApi.ballot_decided` in the same transaction (VotingApi's
on_decided hooks), which records the chosen bid. Published, closed, decided and cancelled
tenders emit `tender_updated`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Final, Literal, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy import BigInteger, DateTime, Integer, String, Text, and_, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import identity_pb2, identity_pb2_grpc
from xinyi.voting.v1 import events_pb2, tenders_pb2, tenders_pb2_grpc, voting_pb2
from xinyi_kit import audit, auth, clock, idempotency
from xinyi_kit.auth import Principal
from xinyi_kit.db import Database, xact_lock
from xinyi_kit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import (
    MATRIX,
    SCOPE_OF,
    Action,
    Scope,
    allowed,
    authorize_estate,
)
from xinyi_voting import api, store
from xinyi_voting.store import Base, known
from xinyi_voting.voice import SHA256, _stamp, _uuid, acting_role, clean_text

STATES: Final = ("draft", "open", "closed", "decided", "cancelled")
UNIT_TYPES: Final = ("residential", "commercial", "parking", "other")
MAX_TITLE: Final = 200
MAX_TERMS: Final = 20_000
MAX_TERM_MONTHS: Final = 120
MAX_OPEN_DAYS: Final = 366
MAX_REASON: Final = 2000
MAX_STAFF_LINES: Final = 50
MAX_STAFF_COUNT: Final = 10_000
MAX_ROLE: Final = 100
MAX_NOTES: Final = 5000
MAX_ATTACHMENTS: Final = 10
# A fixed remuneration above 10 million yuan a month is a typing mistake.
MAX_MONTHLY_FEN: Final = 1_000_000_000
# As the ledger's fee rates: more than 0 and at most 1,000 yuan per m² and month.
MAX_RATE_FEN: Final = 100_000
# Every bid must fit on the ballot as a candidate.
MAX_BIDS: Final = api.MAX_CANDIDATES
MAX_LIST: Final = 500
QUESTION_ID: Final = "company"

R = TypeVar("R", bound=Message)


# -- tables ------------------------------------------------------------------------------------
class TenderRow(Base):
    __tablename__ = "tenders"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    tender_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    service_standard: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    term_months: Mapped[int] = mapped_column(Integer)
    closes_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[uuid.UUID] = mapped_column(UUID)
    created_by_role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_reason: Mapped[str] = mapped_column(Text, default="")
    ballot_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    chosen_bid_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class BidRow(Base):
    """A company's bid: one per company and tender, replaced in place until the tender closes."""

    __tablename__ = "tender_bids"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    tender_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    bid_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(UUID)
    # As identity named the company when it bid: what owners read on the ballot.
    company_name: Mapped[str] = mapped_column(String(200))
    remuneration_ratio: Mapped[str] = mapped_column(String(40), default="")
    remuneration_monthly_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # [{"unit_type": "residential", "fen_per_m2_month": "250"}, ...]
    fee_rates: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    # [{"role": "保洁", "count": 4}, ...]
    staffing: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    staffing_notes: Mapped[str] = mapped_column(Text, default="")
    references: Mapped[str] = mapped_column("references_text", Text, default="")
    attachments: Mapped[list[str]] = mapped_column(JSONB)
    submitted_by: Mapped[uuid.UUID] = mapped_column(UUID)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision: Mapped[int] = mapped_column(Integer)


# -- pure rules --------------------------------------------------------------------------------
def tender_state(row: TenderRow, now: datetime) -> str:
    """The state as read now: an open tender past its closing time is closed."""
    if row.state == "open" and now >= row.closes_at:
        return "closed"
    return row.state


def closed_at(row: TenderRow, now: datetime) -> datetime | None:
    if row.closed_at is not None:
        return row.closed_at
    return row.closes_at if tender_state(row, now) == "closed" else None


def bids_revealed(row: TenderRow, now: datetime) -> bool:
    """Whether the estate sees every bid: once the tender has closed, even if cancelled later
    (a tender cancelled while open keeps its bids sealed for good)."""
    if row.state == "cancelled":
        return row.cancelled_at is not None and row.cancelled_at >= row.closes_at
    return tender_state(row, now) in ("closed", "decided")


def check_state_filter(state: str) -> str:
    if state and state not in STATES:
        raise InvalidArgument(f"state is one of {', '.join(STATES)}, not {state[:20]}")
    return state


def check_terms(
    title: str,
    service_standard: str,
    scope: str,
    term_months: int,
    closes_at: timestamp_pb2.Timestamp | None,
    now: datetime,
) -> dict[str, Any]:
    """A tender's terms, checked: what it asks for, for how long, until when bids are taken."""
    if not 1 <= term_months <= MAX_TERM_MONTHS:
        raise InvalidArgument(f"term_months is from 1 to {MAX_TERM_MONTHS} (ten years)")
    if closes_at is None:
        raise InvalidArgument("closes_at is required: until when bids are accepted")
    closes = closes_at.ToDatetime(tzinfo=UTC)
    if closes <= now:
        raise InvalidArgument("closes_at must be in the future: bids are accepted until then")
    if closes > now + timedelta(days=MAX_OPEN_DAYS):
        raise InvalidArgument(f"a tender closes within {MAX_OPEN_DAYS} days")
    return {
        "title": clean_text(title, "title", MAX_TITLE),
        "service_standard": clean_text(service_standard, "service_standard", MAX_TERMS),
        "scope": clean_text(scope, "scope", MAX_TERMS),
        "term_months": term_months,
        "closes_at": closes,
    }


def fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def parse_ratio(value: str) -> Fraction:
    """A remuneration ratio of income, exact: "1/10" or "0.1"; more than 0 and less than 1."""
    try:
        ratio = Fraction(value.strip()) if len(value) <= 40 else None
    except (ValueError, ZeroDivisionError):
        ratio = None
    if ratio is None:
        raise InvalidArgument(
            f"remuneration_ratio {value[:40]!r} is not a fraction like 1/10 or a decimal like 0.1"
        )
    if not 0 < ratio < 1:
        raise InvalidArgument("remuneration_ratio is more than 0 and less than 1")
    if ratio.denominator >= 2**31:
        raise InvalidArgument("give remuneration_ratio with fewer digits")
    return ratio


def parse_rate(value: str) -> Fraction:
    """A fee rate in fen per m² and month, exact: "250", "212.5" or "425/2"."""
    try:
        rate = Fraction(value.strip()) if len(value) <= 40 else None
    except (ValueError, ZeroDivisionError):
        rate = None
    if rate is None:
        raise InvalidArgument(
            f"the rate {value[:40]!r} is not a number of fen per m² and month, like 250, 212.5 "
            "or 425/2"
        )
    if not 0 < rate <= MAX_RATE_FEN:
        raise InvalidArgument(
            "a rate is more than 0 and at most 100000 fen (1,000 yuan) per m² and month"
        )
    if rate.denominator >= 2**31:
        raise InvalidArgument("give the rate with fewer decimals")
    return rate


def rate_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else fraction_text(value)


def check_remuneration(ratio: str, monthly_fen: int) -> tuple[str, int | None]:
    """Exactly one of a ratio of income (as "n/d") or a fixed monthly sum in fen."""
    if ratio.strip() and monthly_fen:
        raise InvalidArgument(
            "propose remuneration as a ratio of income or as a fixed monthly sum, not both"
        )
    if ratio.strip():
        return fraction_text(parse_ratio(ratio)), None
    if not monthly_fen:
        raise InvalidArgument(
            "propose remuneration: remuneration_ratio (e.g. 1/10) or remuneration_monthly_fen"
        )
    if not 0 < monthly_fen <= MAX_MONTHLY_FEN:
        raise InvalidArgument(
            f"remuneration_monthly_fen is more than 0 and at most {MAX_MONTHLY_FEN} fen"
        )
    return "", monthly_fen


def check_fee_rates(rates: Iterable[tenders_pb2.FeeRate]) -> list[dict[str, str]]:
    out: dict[str, str] = {}
    for r in rates:
        if r.unit_type not in UNIT_TYPES:
            raise InvalidArgument(
                f"unit_type is one of {', '.join(UNIT_TYPES)}, not {r.unit_type[:20] or 'empty'}"
            )
        if r.unit_type in out:
            raise InvalidArgument(f"{r.unit_type} has two rates; propose one")
        out[r.unit_type] = rate_text(parse_rate(r.fen_per_m2_month))
    if not out:
        raise InvalidArgument("propose a fee rate for at least one unit type")
    return [{"unit_type": t, "fen_per_m2_month": out[t]} for t in UNIT_TYPES if t in out]


def check_staffing(lines: Sequence[tenders_pb2.StaffLine], notes: str) -> list[dict[str, Any]]:
    """The staff the company proposes, role by role; the notes may say the rest."""
    if len(lines) > MAX_STAFF_LINES:
        raise InvalidArgument(f"staffing lists at most {MAX_STAFF_LINES} roles")
    out: list[dict[str, Any]] = []
    for n, line in enumerate(lines, start=1):
        role = clean_text(line.role, f"the role of staffing line {n}", MAX_ROLE)
        if not 1 <= line.count <= MAX_STAFF_COUNT:
            raise InvalidArgument(f"staffing line {n}: count is from 1 to {MAX_STAFF_COUNT}")
        if any(o["role"] == role for o in out):
            raise InvalidArgument(f"staffing lists {role} twice")
        out.append({"role": role, "count": line.count})
    if not out and not notes:
        raise InvalidArgument("say how the estate would be staffed: staffing or staffing_notes")
    return out


def check_attachments(shas: Sequence[str]) -> list[str]:
    if len(shas) > MAX_ATTACHMENTS:
        raise InvalidArgument(f"at most {MAX_ATTACHMENTS} attachments")
    for sha in shas:
        if not SHA256.match(sha):
            raise InvalidArgument("an attachment is named by its sha256: 64 lowercase hex digits")
    if len(set(shas)) != len(shas):
        raise InvalidArgument("an attachment is listed twice")
    return list(shas)


def bidder_companies(principal: Principal) -> frozenset[str]:
    """The companies the caller may bid for: those of its company-scoped grants allowing it."""
    roles = {r.value for r in MATRIX[Action.TENDER_BID] if SCOPE_OF[r] is Scope.COMPANY}
    return frozenset(g.company_id for g in principal.grants if g.role in roles and g.company_id)


def authorize_bidder(company_id: str) -> tuple[Principal, uuid.UUID]:
    """The caller, and the company it bids for (named, or its only one)."""
    principal = auth.require()
    companies = bidder_companies(principal)
    if not companies:
        raise PermissionDenied(
            f"your roles do not allow this ({Action.TENDER_BID.value}): a property company's "
            "manager bids for it"
        )
    if company_id:
        if company_id.lower() not in companies:
            raise PermissionDenied("you do not manage the company named by company_id")
        return principal, uuid.UUID(company_id)
    if len(companies) > 1:
        raise InvalidArgument("you manage several companies: name the one bidding as company_id")
    return principal, uuid.UUID(next(iter(companies)))


# -- messages ----------------------------------------------------------------------------------
def bid_pb(row: BidRow, mine: bool) -> tenders_pb2.Bid:
    return tenders_pb2.Bid(
        estate_id=str(row.estate_id),
        tender_id=str(row.tender_id),
        bid_id=str(row.bid_id),
        company_id=str(row.company_id),
        company_name=row.company_name,
        remuneration_ratio=row.remuneration_ratio,
        remuneration_monthly_fen=row.remuneration_monthly_fen or 0,
        fee_rates=[tenders_pb2.FeeRate(**r) for r in row.fee_rates],
        staffing=[tenders_pb2.StaffLine(**s) for s in row.staffing],
        staffing_notes=row.staffing_notes,
        references=row.references,
        attachment_sha256s=row.attachments,
        submitted_at=_stamp(row.submitted_at),
        updated_at=_stamp(row.updated_at),
        revision=row.revision,
        mine=mine,
    )


@dataclass(frozen=True)
class Sight:
    """What a caller sees of a tender's bids: those of the companies it bids for, and all of
    them once revealed if it belongs to the estate."""

    companies: frozenset[str]
    in_estate: bool


# -- queries -----------------------------------------------------------------------------------
async def _tender(
    session: AsyncSession,
    estate_id: uuid.UUID,
    tender_id: uuid.UUID,
    *,
    lock: Literal["share", "update"] | None = None,
) -> TenderRow:
    """A tender; bids lock it to share (they go on side by side), the estate's steps to update
    (closing waits for bids in flight, and later ones see it closed)."""
    query = select(TenderRow).where(
        TenderRow.estate_id == estate_id, TenderRow.tender_id == tender_id
    )
    if lock:
        query = query.with_for_update(read=lock == "share")
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound("this estate has no such tender")
    return row


async def _bids(session: AsyncSession, row: TenderRow) -> list[BidRow]:
    return list(
        (
            await session.execute(
                select(BidRow)
                .where(BidRow.estate_id == row.estate_id, BidRow.tender_id == row.tender_id)
                .order_by(BidRow.company_name, BidRow.bid_id)
            )
        ).scalars()
    )


async def _full(
    session: AsyncSession, row: TenderRow, sight: Sight, *, with_bids: bool = True
) -> tenders_pb2.Tender:
    now = clock.now()
    bids = await _bids(session, row)
    estate = await session.get(store.Estate, row.estate_id)
    chosen = next((b for b in bids if b.bid_id == row.chosen_bid_id), None)
    revealed = sight.in_estate and bids_revealed(row, now)
    shown = [b for b in bids if revealed or str(b.company_id) in sight.companies]
    return tenders_pb2.Tender(
        estate_id=str(row.estate_id),
        tender_id=str(row.tender_id),
        estate_name=estate.name if estate else "",
        title=row.title,
        service_standard=row.service_standard,
        scope=row.scope,
        term_months=row.term_months,
        state=tender_state(row, now),
        closes_at=_stamp(row.closes_at),
        created_at=_stamp(row.created_at),
        published_at=_stamp(row.published_at),
        closed_at=_stamp(closed_at(row, now)),
        decided_at=_stamp(row.decided_at),
        cancelled_at=_stamp(row.cancelled_at),
        cancelled_reason=row.cancelled_reason,
        created_by_role=row.created_by_role,
        bid_count=len(bids),
        bids=[bid_pb(b, str(b.company_id) in sight.companies) for b in shown] if with_bids else [],
        ballot_id=str(row.ballot_id or ""),
        chosen_bid_id=str(row.chosen_bid_id or ""),
        chosen_company_id=str(chosen.company_id) if chosen else "",
        chosen_company_name=chosen.company_name if chosen else "",
    )


# -- the servicer ------------------------------------------------------------------------------
class TenderApi(tenders_pb2_grpc.TenderServiceServicer):
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        identity: Callable[[], grpc.aio.Channel],
        voting: api.VotingApi,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self._identity_channel = identity
        self.voting = voting

    async def _emit(self, session: AsyncSession, row: TenderRow) -> None:
        chosen = (
            await session.get(BidRow, (row.estate_id, row.tender_id, row.chosen_bid_id))
            if row.chosen_bid_id
            else None
        )
        await self.outbox.emit(
            session,
            row.estate_id,
            "tender_updated",
            events_pb2.TenderUpdated(
                estate_id=str(row.estate_id),
                tender_id=str(row.tender_id),
                state=row.state,
                chosen_bid_id=str(row.chosen_bid_id or ""),
                chosen_company_id=str(chosen.company_id) if chosen else "",
                ballot_id=str(row.ballot_id or "") if chosen else "",
                term_months=row.term_months,
            ),
        )

    async def _once(
        self,
        estate_id: uuid.UUID,
        principal: Principal,
        method: str,
        request: Message,
        response_type: type[R],
        compute: Callable[[AsyncSession], Awaitable[R]],
    ) -> R:
        async with self.db.estate_tx(estate_id) as session:
            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:{method}",
                getattr(request, "idempotency_key", ""),
                request,
                response_type,
                lambda: compute(session),
            )

    @staticmethod
    def _sight(principal: Principal) -> Sight:
        return Sight(bidder_companies(principal), in_estate=True)

    async def _close(self, session: AsyncSession, row: TenderRow) -> None:
        """Records the close of an open tender past its closing time (bids revealed)."""
        if row.state == "open" and tender_state(row, clock.now()) == "closed":
            row.state, row.closed_at, row.updated_at = "closed", row.closes_at, clock.now()
            await session.flush()
            await self._emit(session, row)
            await audit.record(session, row.estate_id, "tender.close", str(row.tender_id))

    # -- the estate's side ---------------------------------------------------------------------
    async def CreateTender(
        self, request: tenders_pb2.CreateTenderRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Tender:
        principal, estate_id = authorize_estate(Action.TENDER_MANAGE, request.estate_id)
        now = clock.now()
        terms = check_terms(
            request.title,
            request.service_standard,
            request.scope,
            request.term_months,
            request.closes_at if request.HasField("closes_at") else None,
            now,
        )
        role = acting_role(principal, estate_id, Action.TENDER_MANAGE)

        async def run(session: AsyncSession) -> tenders_pb2.Tender:
            if not await known(session, estate_id):
                raise NotFound("no such estate (or its registration has not reached voting yet)")
            row = TenderRow(
                estate_id=estate_id,
                tender_id=uuid.uuid4(),
                state="draft",
                created_by=uuid.UUID(principal.user_id),
                created_by_role=role,
                created_at=now,
                updated_at=now,
                cancelled_reason="",
                **terms,
            )
            session.add(row)
            await session.flush()
            await audit.record(
                session, estate_id, "tender.create", str(row.tender_id), {"title": row.title}
            )
            return await _full(session, row, self._sight(principal))

        return await self._once(
            estate_id, principal, "CreateTender", request, tenders_pb2.Tender, run
        )

    async def UpdateTender(
        self, request: tenders_pb2.UpdateTenderRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Tender:
        principal, estate_id = authorize_estate(Action.TENDER_MANAGE, request.estate_id)
        tender_id = _uuid(request.tender_id, "tender_id")
        terms = check_terms(
            request.title,
            request.service_standard,
            request.scope,
            request.term_months,
            request.closes_at if request.HasField("closes_at") else None,
            clock.now(),
        )
        async with self.db.estate_tx(estate_id) as session:
            row = await _tender(session, estate_id, tender_id, lock="update")
            if row.state != "draft":
                raise FailedPrecondition(
                    f"the tender is {tender_state(row, clock.now())}; only a draft's terms change"
                )
            for name, value in terms.items():
                setattr(row, name, value)
            row.updated_at = clock.now()
            await session.flush()
            return await _full(session, row, self._sight(principal))

    async def PublishTender(
        self, request: tenders_pb2.TenderRef, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Tender:
        principal, estate_id = authorize_estate(Action.TENDER_MANAGE, request.estate_id)
        tender_id = _uuid(request.tender_id, "tender_id")
        async with self.db.estate_tx(estate_id) as session:
            row = await _tender(session, estate_id, tender_id, lock="update")
            now = clock.now()
            if row.state == "open":
                return await _full(session, row, self._sight(principal))
            if row.state != "draft":
                raise FailedPrecondition(f"the tender is {row.state}; only a draft is published")
            if row.closes_at <= now:
                raise FailedPrecondition(
                    f"the draft closes at {row.closes_at.isoformat(timespec='minutes')}, which "
                    "has passed; give it a later closes_at first"
                )
            row.state, row.published_at, row.updated_at = "open", now, now
            await session.flush()
            await self._emit(session, row)
            await audit.record(session, estate_id, "tender.publish", str(row.tender_id))
            return await _full(session, row, self._sight(principal))

    async def CloseTender(
        self, request: tenders_pb2.TenderRef, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Tender:
        principal, estate_id = authorize_estate(Action.TENDER_MANAGE, request.estate_id)
        tender_id = _uuid(request.tender_id, "tender_id")
        async with self.db.estate_tx(estate_id) as session:
            row = await _tender(session, estate_id, tender_id, lock="update")
            state = tender_state(row, clock.now())
            if state == "open":
                raise FailedPrecondition(
                    f"bids are accepted until {row.closes_at.isoformat(timespec='minutes')}, as "
                    "published; the tender closes then, not before"
                )
            if state != "closed":
                raise FailedPrecondition(f"the tender is {state}; only an open one closes")
            await self._close(session, row)
            return await _full(session, row, self._sight(principal))

    async def CancelTender(
        self, request: tenders_pb2.CancelTenderRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Tender:
        principal, estate_id = authorize_estate(Action.TENDER_MANAGE, request.estate_id)
        tender_id = _uuid(request.tender_id, "tender_id")
        reason = clean_text(request.reason, "the reason", MAX_REASON)
        async with self.db.estate_tx(estate_id) as session:
            row = await _tender(session, estate_id, tender_id, lock="update")
            now = clock.now()
            state = tender_state(row, now)
            if state not in ("draft", "open", "closed"):
                raise FailedPrecondition(f"the tender is {state}; it can no longer be cancelled")
            ballot = await self._live_ballot(session, row)
            if ballot is not None:
                raise FailedPrecondition(
                    f"ballot {ballot.ballot_id} on this tender's bids is {ballot.state}; cancel "
                    "the ballot first"
                )
            await self._close(session, row)
            published = row.state != "draft"
            row.state, row.cancelled_at, row.cancelled_reason = "cancelled", now, reason
            row.updated_at = now
            await session.flush()
            if published:
                await self._emit(session, row)
            await audit.record(
                session, estate_id, "tender.cancel", str(row.tender_id), {"reason": reason}
            )
            return await _full(session, row, self._sight(principal))

    async def ListTenders(
        self, request: tenders_pb2.ListTendersRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.ListTendersResponse:
        principal, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        state = check_state_filter(request.state)
        now = clock.now()
        query = (
            select(TenderRow)
            .where(TenderRow.estate_id == estate_id)
            .order_by(TenderRow.created_at.desc(), TenderRow.tender_id)
            .limit(MAX_LIST)
        )
        if not allowed(principal, Action.TENDER_MANAGE, estate_id):
            query = query.where(TenderRow.state != "draft")
        if state == "open":
            query = query.where(TenderRow.state == "open", TenderRow.closes_at > now)
        elif state == "closed":
            query = query.where(
                or_(
                    TenderRow.state == "closed",
                    and_(TenderRow.state == "open", TenderRow.closes_at <= now),
                )
            )
        elif state:
            query = query.where(TenderRow.state == state)
        async with self.db.estate_tx(estate_id) as session:
            if not await known(session, estate_id):
                raise NotFound("no such estate (or its registration has not reached voting yet)")
            rows = list((await session.execute(query)).scalars())
            sight = self._sight(principal)
            return tenders_pb2.ListTendersResponse(
                tenders=[await _full(session, r, sight, with_bids=False) for r in rows]
            )

    async def GetTender(
        self, request: tenders_pb2.TenderRef, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Tender:
        principal, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        tender_id = _uuid(request.tender_id, "tender_id")
        async with self.db.estate_tx(estate_id) as session:
            row = await _tender(session, estate_id, tender_id)
            if row.state == "draft" and not allowed(principal, Action.TENDER_MANAGE, estate_id):
                raise NotFound("this estate has no such tender")
            return await _full(session, row, self._sight(principal))

    async def _live_ballot(self, session: AsyncSession, row: TenderRow) -> store.Ballot | None:
        """The ballot drafted from the tender, unless it was cancelled or is final."""
        if row.ballot_id is None:
            return None
        ballot = await session.get(store.Ballot, (row.estate_id, row.ballot_id))
        if ballot is None or ballot.state in ("cancelled", "final"):
            return None
        return ballot

    async def DraftTenderBallot(
        self, request: tenders_pb2.DraftTenderBallotRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Ballot:
        principal, estate_id = authorize_estate(Action.TENDER_MANAGE, request.estate_id)
        if not allowed(principal, Action.BALLOT_ORGANISE, estate_id):
            raise PermissionDenied(f"your roles do not allow this ({Action.BALLOT_ORGANISE.value})")
        tender_id = _uuid(request.tender_id, "tender_id")
        title = clean_text(request.title, "title", MAX_TITLE, required=False)
        description = clean_text(request.description, "description", MAX_TERMS, required=False)
        question = clean_text(request.question_text, "question_text", 4000, required=False)

        async def run(session: AsyncSession) -> voting_pb2.Ballot:
            row = await _tender(session, estate_id, tender_id, lock="update")
            state = tender_state(row, clock.now())
            if state in ("draft", "open"):
                raise FailedPrecondition(
                    f"the tender is {state}; its bids go to a ballot once it has closed"
                )
            if state != "closed":
                raise FailedPrecondition(f"the tender is {state}; it puts nothing to a ballot")
            live = await self._live_ballot(session, row)
            if live is not None:
                raise FailedPrecondition(
                    f"ballot {live.ballot_id} on this tender's bids is {live.state} already; "
                    "cancel it to draft another"
                )
            await self._close(session, row)
            bids = await _bids(session, row)
            if not bids:
                raise FailedPrecondition(
                    "no company bid on this tender, so there is nothing to choose among; "
                    "cancel it and publish another"
                )
            questions = api._questions(
                [
                    voting_pb2.Question(
                        question_id=QUESTION_ID,
                        text=question
                        or (
                            f'Which company does the estate hire, on the terms of its bid to "'
                            f'{row.title}" ({row.term_months} months)?'
                        ),
                        matter_class=events_pb2.MATTER_CLASS_ITEM_4_COMPANY,
                        kind="candidates",
                        seats=1,
                        candidates=[
                            voting_pb2.Candidate(candidate_id=str(b.bid_id), name=b.company_name)
                            for b in bids
                        ],
                        subject=common_pb2.DecisionSubject(
                            kind=common_pb2.DecisionSubject.KIND_COMPANY, id=str(row.tender_id)
                        ),
                    )
                ]
            )
            ballot = await self.voting.draft(
                session,
                estate_id,
                principal.user_id,
                title or row.title,
                description or f"{row.service_standard}\n\n{row.scope}"[:MAX_TERMS],
                questions,
            )
            row.ballot_id, row.updated_at = ballot.ballot_id, clock.now()
            await session.flush()
            await audit.record(
                session,
                estate_id,
                "tender.ballot",
                str(row.tender_id),
                {"ballot": str(ballot.ballot_id)},
            )
            return await self.voting._ballot_pb(session, ballot)

        return await self._once(
            estate_id, principal, "DraftTenderBallot", request, voting_pb2.Ballot, run
        )

    async def ballot_decided(self, session: AsyncSession, event: events_pb2.BallotDecided) -> None:
        """A final ballot that chose a bid of a closed tender decides it. Anything else, a
        subject naming no tender of the estate or a choice of nothing, leaves tenders alone."""
        if event.subject.kind != common_pb2.DecisionSubject.KIND_COMPANY:
            return
        if len(event.chosen_candidate_ids) != 1:
            return
        try:
            tender_id = uuid.UUID(event.subject.id)
            bid_id = uuid.UUID(event.chosen_candidate_ids[0])
        except ValueError:
            return
        estate_id = uuid.UUID(event.estate_id)
        row = (
            await session.execute(
                select(TenderRow)
                .where(TenderRow.estate_id == estate_id, TenderRow.tender_id == tender_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if row is None or tender_state(row, clock.now()) != "closed":
            return
        if await session.get(BidRow, (estate_id, tender_id, bid_id)) is None:
            return
        await self._close(session, row)
        now = clock.now()
        row.state, row.chosen_bid_id, row.decided_at, row.updated_at = "decided", bid_id, now, now
        row.ballot_id = uuid.UUID(event.ballot_id)
        await session.flush()
        await self._emit(session, row)
        await audit.record(
            session, estate_id, "tender.decide", str(row.tender_id), {"bid": str(bid_id)}
        )

    # -- the bidders' side ---------------------------------------------------------------------
    async def ListOpenTenders(
        self, request: tenders_pb2.ListOpenTendersRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.ListTendersResponse:
        principal, _ = authorize_bidder("")
        sight = Sight(bidder_companies(principal), in_estate=False)
        async with self.db.system_tx() as session:
            rows = list(
                (
                    await session.execute(
                        select(TenderRow)
                        .where(TenderRow.state == "open", TenderRow.closes_at > clock.now())
                        .order_by(TenderRow.closes_at, TenderRow.tender_id)
                        .limit(MAX_LIST)
                    )
                ).scalars()
            )
            return tenders_pb2.ListTendersResponse(
                tenders=[await _full(session, r, sight) for r in rows]
            )

    async def _published(self, session: AsyncSession, tender_id: uuid.UUID) -> TenderRow:
        """A tender bidders may see, whichever estate it is in: any that was published."""
        row = (
            await session.execute(select(TenderRow).where(TenderRow.tender_id == tender_id))
        ).scalar_one_or_none()
        if row is None or row.published_at is None:
            raise NotFound("no such tender open to bids")
        return row

    async def GetTenderAsBidder(
        self, request: tenders_pb2.BidderTenderRef, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Tender:
        principal, _ = authorize_bidder("")
        tender_id = _uuid(request.tender_id, "tender_id")
        async with self.db.system_tx() as session:
            row = await self._published(session, tender_id)
            return await _full(session, row, Sight(bidder_companies(principal), in_estate=False))

    async def _company_name(self, company_id: uuid.UUID) -> str:
        """The company's name as identity has it (companies are not announced by events)."""
        stub = identity_pb2_grpc.IdentityServiceStub(self._identity_channel())
        reply = await stub.ListCompanies(
            identity_pb2.ListCompaniesRequest(), metadata=auth.forwarded_metadata(), timeout=10
        )
        name = next((c.name for c in reply.companies if c.company_id == str(company_id)), None)
        if name is None:
            raise FailedPrecondition("the company you manage is not registered on the platform")
        return str(name)

    async def SubmitBid(
        self, request: tenders_pb2.SubmitBidRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Bid:
        company_id = request.company_id.strip()
        if company_id:
            _uuid(company_id, "company_id")
        principal, company = authorize_bidder(company_id)
        tender_id = _uuid(request.tender_id, "tender_id")
        ratio, monthly = check_remuneration(
            request.remuneration_ratio, request.remuneration_monthly_fen
        )
        rates = check_fee_rates(request.fee_rates)
        notes = clean_text(request.staffing_notes, "staffing_notes", MAX_NOTES, required=False)
        staffing = check_staffing(request.staffing, notes)
        references = clean_text(request.references, "references", MAX_NOTES, required=False)
        attachments = check_attachments(request.attachment_sha256s)
        async with self.db.system_tx() as session:
            estate_id = (await self._published(session, tender_id)).estate_id
        name = await self._company_name(company)

        async def run(session: AsyncSession) -> tenders_pb2.Bid:
            row = await _tender(session, estate_id, tender_id, lock="share")
            now = clock.now()
            state = tender_state(row, now)
            if state != "open":
                raise FailedPrecondition(
                    f"the tender is {state}; bids were accepted until "
                    f"{row.closes_at.isoformat(timespec='minutes')}"
                )
            # One bid per company, however many of its managers submit at once.
            await xact_lock(session, f"bid:{tender_id}:{company}")
            bid = (
                await session.execute(
                    select(BidRow).where(
                        BidRow.estate_id == estate_id,
                        BidRow.tender_id == tender_id,
                        BidRow.company_id == company,
                    )
                )
            ).scalar_one_or_none()
            if bid is None:
                count = await session.scalar(
                    select(func.count()).where(
                        BidRow.estate_id == estate_id, BidRow.tender_id == tender_id
                    )
                )
                if (count or 0) >= MAX_BIDS:
                    raise FailedPrecondition(
                        f"this tender has {MAX_BIDS} bids, the most a ballot can put to owners"
                    )
                bid = BidRow(
                    estate_id=estate_id,
                    tender_id=tender_id,
                    bid_id=uuid.uuid4(),
                    company_id=company,
                    submitted_at=now,
                    revision=0,
                )
                session.add(bid)
            bid.company_name = name[:200]
            bid.remuneration_ratio, bid.remuneration_monthly_fen = ratio, monthly
            bid.fee_rates, bid.staffing, bid.staffing_notes = rates, staffing, notes
            bid.references, bid.attachments = references, attachments
            bid.submitted_by, bid.updated_at = uuid.UUID(principal.user_id), now
            bid.revision += 1
            await session.flush()
            return bid_pb(bid, mine=True)

        return await self._once(estate_id, principal, "SubmitBid", request, tenders_pb2.Bid, run)
