"""Bringing an estate into the trust model, and changing its company.

The community opens an onboarding case for an estate and records where it stands (its working
group, the survey, the KPI baseline). The stage follows from facts: an approving body formed
(identity's own), a tender published and the assembly's decisions (voting's events: the trust
model adopted, `trust_model:<case_id>`; the company chosen by the tender's ballot), the trust
contract signed by both parties on their own devices, and its start.

A contract in force is where the company's access comes from: signing it assigns the estate to
the company from its start (tokens carry the estates a company serves that day), and its
financial terms go to the ledger by `trust_contract_effective`. The owners end it by a dismissal
ballot (`dismissal:<contract_id>`, 60 days' notice, Civil Code art. 946) or the company by not
renewing (90 days before the term ends, art. 947); either opens a handover whose checklist the
approving body ticks. On the handover day the outgoing company's access ends and the incoming
one's begins; if the outgoing company refused to hand over, it earns no remuneration from the
end of its notice until that day (art. 949), which the ledger learns by events.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from fractions import Fraction
from typing import Any

import grpc
from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Date, DateTime, String, Text

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2, identity_pb2, onboarding_pb2, onboarding_pb2_grpc
from xinyi.voting.v1 import events_pb2 as voting_events
from xinyi_identity import domain, store
from xinyi_identity.common import SHANGHAI, midnight, stamp, today
from xinyi_kit import audit, auth, clock, idempotency
from xinyi_kit.consumer import Handler
from xinyi_kit.db import Database
from xinyi_kit.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import (
    MATRIX,
    SCOPE_OF,
    Action,
    Role,
    Scope,
    allowed,
    authorize_estate,
)
from xinyi_kit.signatures import canonical, verify_signature

ARRANGEMENTS = ("none", "lump_sum", "self_managed", "other")
UNIT_TYPES = ("residential", "commercial", "parking", "other")
SOURCES = ("property_fee", "parking", "advertising", "venue", "other")
CHECKLIST = ("balances", "arrears", "vouchers", "keys", "documents")
ITEM_STATES = ("pending", "done", "refused")
MIN_DISMISSAL_NOTICE = 60  # days, Civil Code art. 946
MIN_NON_RENEWAL_NOTICE = 90  # days, art. 947
UNKNOWN = -1
COMMITTEE = identity_pb2.APPROVING_BODY_KIND_COMMITTEE


class CaseRow(store.Base):
    __tablename__ = "onboarding_cases"
    estate_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    opened_at: Mapped[Any] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[uuid.UUID]
    working_group: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    situation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    baseline: Mapped[dict[str, int]] = mapped_column(JSONB)
    tender_id: Mapped[uuid.UUID | None]
    tender_state: Mapped[str] = mapped_column(String(20), default="")
    chosen_company_id: Mapped[uuid.UUID | None]
    company_ballot_id: Mapped[uuid.UUID | None]
    trust_model_ballot_id: Mapped[uuid.UUID | None]


class ContractRow(store.Base):
    __tablename__ = "trust_contracts"
    estate_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID | None]
    company_id: Mapped[uuid.UUID]
    company_ballot_id: Mapped[uuid.UUID | None]
    terms: Mapped[dict[str, Any]] = mapped_column(JSONB)
    payload_json: Mapped[str] = mapped_column(Text)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    drafted_at: Mapped[Any] = mapped_column(DateTime(timezone=True))
    drafted_by: Mapped[uuid.UUID]
    signed_at: Mapped[Any | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class SignatureRow(store.Base):
    __tablename__ = "contract_signatures"
    estate_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    party: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[uuid.UUID]
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[Any] = mapped_column(DateTime(timezone=True))


class HandoverRow(store.Base):
    __tablename__ = "handovers"
    estate_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    handover_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    outgoing_contract_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(String(20))
    ballot_id: Mapped[uuid.UUID | None]
    decided_on: Mapped[date] = mapped_column(Date)
    notice_ends_on: Mapped[date] = mapped_column(Date)
    checklist: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    refused_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    incoming_contract_id: Mapped[uuid.UUID | None]
    handed_over_on: Mapped[date | None] = mapped_column(Date, nullable=True)


# -- checks of what callers send -------------------------------------------------------------
def _text(value: str, what: str, most: int) -> str:
    cleaned = value.strip()
    if len(cleaned) > most:
        raise InvalidArgument(f"{what} has at most {most} characters")
    return cleaned


def check_group(members: Sequence[onboarding_pb2.WorkingGroupMember]) -> list[dict[str, str]]:
    if not 1 <= len(members) <= 30:
        raise InvalidArgument("name the working group: 1 to 30 members")
    out = []
    for m in members:
        user = str(domain.parse_uuid(m.user_id, "a member's user_id")) if m.user_id else ""
        out.append(
            {
                "name": domain.clean_name(m.name, "a member's name"),
                "affiliation": _text(m.affiliation, "a member's affiliation", 100),
                "user_id": user,
            }
        )
    return out


def check_situation(s: onboarding_pb2.Situation) -> dict[str, Any]:
    if s.arrangement not in ARRANGEMENTS:
        raise InvalidArgument(f"arrangement is one of {', '.join(ARRANGEMENTS)}")
    if s.surveyed_households < 0 or not 0 <= s.accepting_households <= s.surveyed_households:
        raise InvalidArgument("accepting households are between 0 and the households surveyed")
    return {
        "arrangement": s.arrangement,
        "notes": _text(s.notes, "notes", 4000),
        "surveyed_households": s.surveyed_households,
        "accepting_households": s.accepting_households,
        "needs": _text(s.needs, "needs", 4000),
    }


def check_baseline(b: onboarding_pb2.Baseline) -> dict[str, int]:
    for name, value in (
        ("payment_rate_permille", b.payment_rate_permille),
        ("satisfaction_permille", b.satisfaction_permille),
    ):
        if value != UNKNOWN and not 0 <= value <= 1000:
            raise InvalidArgument(f"{name} is per mille, 0 to 1000 (or -1: not known)")
    if b.open_disputes < UNKNOWN:
        raise InvalidArgument("open_disputes is a count (or -1: not known)")
    return {
        "payment_rate_permille": b.payment_rate_permille,
        "open_disputes": b.open_disputes,
        "satisfaction_permille": b.satisfaction_permille,
    }


def _rate(text: str) -> str:
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise InvalidArgument(
            f"a fee rate is fen per m² and month, e.g. 250 or 2.5: {text[:20]!r}"
        ) from None
    if not 0 < value <= 100_000:
        raise InvalidArgument("a fee rate is above 0 and at most 1,000 yuan per m² and month")
    return text.strip()


def check_terms(t: onboarding_pb2.ContractTerms, on: date) -> dict[str, Any]:
    """The terms as the contract keeps and signs them, or INVALID_ARGUMENT naming what is wrong."""
    starts = domain.parse_date(t.starts_on, "starts_on")
    ends = domain.parse_date(t.ends_on, "ends_on")
    if starts < on:
        raise InvalidArgument("starts_on is today or later: a contract does not start in the past")
    if ends <= starts + timedelta(days=30):
        raise InvalidArgument("ends_on is more than a month after starts_on")
    rates = {}
    for r in t.fee_rates:
        if r.unit_type not in UNIT_TYPES:
            raise InvalidArgument(f"a fee rate's unit_type is one of {', '.join(UNIT_TYPES)}")
        if r.unit_type in rates:
            raise InvalidArgument(f"the fee rate of {r.unit_type} is given twice")
        rates[r.unit_type] = _rate(r.fen_per_m2_month)
    if not rates:
        raise InvalidArgument("the contract sets the fee rates (fen per m² and month by unit type)")
    ratio, fixed = t.remuneration_ratio.strip(), t.remuneration_fixed_monthly_fen
    if bool(ratio) == bool(fixed):
        raise InvalidArgument("remuneration is a ratio of income or a fixed monthly sum: one")
    if ratio:
        try:
            share = Fraction(ratio)
        except (ValueError, ZeroDivisionError):
            raise InvalidArgument("remuneration_ratio is a fraction such as 1/10") from None
        if not 0 < share < Fraction(1, 2):
            raise InvalidArgument("remuneration_ratio is above 0 and below 1/2")
    elif not 0 < fixed <= 100_000_000:
        raise InvalidArgument(
            "remuneration_fixed_monthly_fen is above 0 and at most 1,000,000 yuan"
        )
    sources = list(dict.fromkeys(t.remuneration_sources))
    if not sources or any(s not in SOURCES for s in sources):
        raise InvalidArgument(f"remuneration_sources are some of {', '.join(SOURCES)}")
    if t.dismissal_notice_days < MIN_DISMISSAL_NOTICE or t.dismissal_notice_days > 365:
        raise InvalidArgument("dismissal_notice_days is 60 to 365 (Civil Code art. 946)")
    if t.non_renewal_notice_days < MIN_NON_RENEWAL_NOTICE or t.non_renewal_notice_days > 365:
        raise InvalidArgument("non_renewal_notice_days is 90 to 365 (Civil Code art. 947)")
    number = " ".join(t.bank_account_number.split())
    digits = number.replace(" ", "").replace("-", "")
    if not 6 <= len(digits) <= 34 or not digits.isalnum():
        raise InvalidArgument("bank_account_number is the dual-control account's number")
    bank = domain.clean_name(t.bank_name, "bank_name")
    holder = domain.clean_name(t.bank_account_holder, "bank_account_holder")
    thresholds = [
        {"up_to_fen": x.up_to_fen, "approvals": x.approvals} for x in t.approval_thresholds
    ]
    if not thresholds or thresholds[-1]["up_to_fen"] != 0:
        raise InvalidArgument("approval thresholds end with one without an upper bound (0)")
    bounds = [x["up_to_fen"] for x in thresholds[:-1]]
    if any(b <= 0 for b in bounds) or bounds != sorted(set(bounds)):
        raise InvalidArgument("approval thresholds rise: each bound above the one before")
    counts = [x["approvals"] for x in thresholds]
    if any(not 1 <= c <= 9 for c in counts) or counts != sorted(counts):
        raise InvalidArgument("each threshold needs 1 to 9 approvals, never fewer than below it")
    supervisors = [domain.clean_name(s, "a supervisor") for s in t.supervisors]
    if not 1 <= len(supervisors) <= 20:
        raise InvalidArgument("the contract names its supervisors (1 to 20)")
    return {
        "service_standard": _required(t.service_standard, "service_standard"),
        "scope": _required(t.scope, "scope"),
        "fee_rates": [{"unit_type": k, "fen_per_m2_month": v} for k, v in rates.items()],
        "remuneration_ratio": ratio,
        "remuneration_fixed_monthly_fen": fixed,
        "remuneration_sources": sources,
        "starts_on": starts.isoformat(),
        "ends_on": ends.isoformat(),
        "dismissal_notice_days": t.dismissal_notice_days,
        "non_renewal_notice_days": t.non_renewal_notice_days,
        "bank_account_number": number,
        "bank_name": bank,
        "bank_account_holder": holder,
        "approval_thresholds": thresholds,
        "supervisors": supervisors,
    }


def _required(value: str, what: str) -> str:
    text = _text(value, what, 8000)
    if not text:
        raise InvalidArgument(f"{what} must not be empty")
    return text


def terms_pb(terms: dict[str, Any]) -> onboarding_pb2.ContractTerms:
    return onboarding_pb2.ContractTerms(
        service_standard=terms["service_standard"],
        scope=terms["scope"],
        fee_rates=[onboarding_pb2.FeeRate(**r) for r in terms["fee_rates"]],
        remuneration_ratio=terms["remuneration_ratio"],
        remuneration_fixed_monthly_fen=terms["remuneration_fixed_monthly_fen"],
        remuneration_sources=terms["remuneration_sources"],
        starts_on=terms["starts_on"],
        ends_on=terms["ends_on"],
        dismissal_notice_days=terms["dismissal_notice_days"],
        non_renewal_notice_days=terms["non_renewal_notice_days"],
        bank_account_number=terms["bank_account_number"],
        bank_name=terms["bank_name"],
        bank_account_holder=terms["bank_account_holder"],
        approval_thresholds=[
            onboarding_pb2.ApprovalThreshold(**x) for x in terms["approval_thresholds"]
        ],
        supervisors=terms["supervisors"],
    )


# -- stages ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Facts:
    case: CaseRow | None
    has_approving_body: bool
    contract: ContractRow | None  # the latest signed one
    handover_open: bool


def stage_of(facts: Facts, on: date) -> str:
    """Where the estate stands, from what happened (never stored, so never stale)."""
    c = facts.contract
    if c is not None and c.signed_at is not None and c.ended_on is None:
        if facts.handover_open:
            return "changing"
        return "active" if c.starts_on <= on else "contract_signed"
    case = facts.case
    if case is None:
        return "not_started"
    if case.chosen_company_id and (case.trust_model_ballot_id or c is not None):
        return "decided"
    if case.tender_id and case.tender_state in ("open", "closed", "decided"):
        return "tendering"
    return "group_formed" if facts.has_approving_body else "opened"


def company_managers_of(principal: auth.Principal) -> frozenset[str]:
    """The companies the caller manages: company-scoped grants reach every estate's contract."""
    roles = {r.value for r in MATRIX[Action.CONTRACT_SIGN_TRUSTEE] if SCOPE_OF[r] is Scope.COMPANY}
    return frozenset(g.company_id for g in principal.grants if g.role in roles and g.company_id)


def _b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidArgument("signature is base64url") from None


async def _recorded(session: AsyncSession, outbox: Outbox, case: CaseRow) -> None:
    """Tells readers (disclosure's KPIs) the case's baseline."""
    await outbox.emit(
        session,
        case.estate_id,
        "onboarding_case_recorded",
        events_pb2.OnboardingCaseRecorded(
            estate_id=str(case.estate_id),
            case_id=str(case.case_id),
            arrangement=case.situation["arrangement"],
            payment_rate_permille=case.baseline["payment_rate_permille"],
            open_disputes=case.baseline["open_disputes"],
            satisfaction_permille=case.baseline["satisfaction_permille"],
        ),
    )


class OnboardingApi(onboarding_pb2_grpc.OnboardingServiceServicer):
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    # -- reading
    async def _facts(self, session: AsyncSession, estate_id: uuid.UUID) -> Facts:
        estate = await session.get(store.Estate, estate_id)
        if estate is None:
            raise NotFound("no such estate")
        case = (
            await session.execute(select(CaseRow).where(CaseRow.estate_id == estate_id))
        ).scalar_one_or_none()
        contract = (
            await session.execute(
                select(ContractRow)
                .where(ContractRow.estate_id == estate_id, ContractRow.signed_at.is_not(None))
                .order_by(ContractRow.signed_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        handover = (
            await session.execute(
                select(HandoverRow.handover_id).where(
                    HandoverRow.estate_id == estate_id, HandoverRow.handed_over_on.is_(None)
                )
            )
        ).first()
        return Facts(case, bool(estate.approving_body_kind), contract, handover is not None)

    async def _case_pb(
        self, session: AsyncSession, estate_id: uuid.UUID
    ) -> onboarding_pb2.OnboardingCase:
        facts = await self._facts(session, estate_id)
        case = facts.case
        if case is None:
            raise NotFound("the estate has no onboarding case")
        estate = await session.get(store.Estate, estate_id)
        assert estate is not None
        latest = (
            await session.execute(
                select(ContractRow.contract_id)
                .where(ContractRow.estate_id == estate_id)
                .order_by(ContractRow.drafted_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        s, b = case.situation, case.baseline
        return onboarding_pb2.OnboardingCase(
            estate_id=str(estate_id),
            case_id=str(case.case_id),
            estate_name=estate.name,
            community_id=str(estate.community_id or ""),
            stage=stage_of(facts, today()),
            working_group=[onboarding_pb2.WorkingGroupMember(**m) for m in case.working_group],
            situation=onboarding_pb2.Situation(**s),
            baseline=onboarding_pb2.Baseline(**b),
            opened_at=stamp(case.opened_at),
            opened_by=str(case.opened_by),
            tender_id=str(case.tender_id or ""),
            chosen_company_id=str(case.chosen_company_id or ""),
            trust_model_ballot_id=str(case.trust_model_ballot_id or ""),
            company_ballot_id=str(case.company_ballot_id or ""),
            contract_id=str(latest or ""),
            approving_body=estate.approving_body_name if estate.approving_body_kind else "",
        )

    async def GetCase(
        self, request: onboarding_pb2.GetCaseRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.OnboardingCase:
        _, estate_id = authorize_estate(Action.ONBOARDING_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            return await self._case_pb(session, estate_id)

    async def ListStages(
        self, request: onboarding_pb2.ListStagesRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.ListStagesResponse:
        principal = auth.require()
        community = (
            domain.parse_uuid(request.community_id, "community_id")
            if request.community_id
            else None
        )
        query = select(store.Estate).order_by(store.Estate.name).limit(5000)
        if not allowed(principal, Action.ESTATE_LIST_ALL):
            mine = {
                uuid.UUID(g.community_id)
                for g in principal.grants
                if g.community_id and g.role == Role.COMMUNITY_SUPERVISOR.value
            }
            if not mine:
                raise PermissionDenied(
                    "the stages of estates are for their community's supervisors and the operator"
                )
            if community is not None and community not in mine:
                raise PermissionDenied("you oversee other communities")
            query = query.where(store.Estate.community_id.in_(mine))
        if community is not None:
            query = query.where(store.Estate.community_id == community)
        on = today()
        out = []
        async with self.db.system_tx() as session:
            estates = list((await session.execute(query)).scalars())
            names = {
                c.company_id: c.name
                for c in (await session.execute(select(store.Company))).scalars()
            }
            for e in estates:
                facts = await self._facts(session, e.estate_id)
                serving = await store.current_company(session, e.estate_id, on)
                c = facts.contract
                out.append(
                    onboarding_pb2.EstateStage(
                        estate_id=str(e.estate_id),
                        estate_name=e.name,
                        community_id=str(e.community_id or ""),
                        stage=stage_of(facts, on),
                        company_id=str(serving or ""),
                        company_name=names.get(serving, "") if serving else "",
                        contract_ends_on=c.ends_on.isoformat() if c and not c.ended_on else "",
                    )
                )
        return onboarding_pb2.ListStagesResponse(estates=out)

    # -- the case
    async def OpenCase(
        self, request: onboarding_pb2.OpenCaseRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.OnboardingCase:
        principal, estate_id = authorize_estate(Action.ONBOARDING_MANAGE, request.estate_id)
        group = check_group(request.working_group)
        situation = check_situation(request.situation)
        baseline = check_baseline(request.baseline)

        async def run() -> onboarding_pb2.OnboardingCase:
            if await session.get(store.Estate, estate_id) is None:
                raise NotFound("no such estate")
            have = (
                await session.execute(select(CaseRow).where(CaseRow.estate_id == estate_id))
            ).scalar_one_or_none()
            if have is not None:
                raise AlreadyExists("the estate has its onboarding case already")
            case = CaseRow(
                estate_id=estate_id,
                case_id=uuid.uuid4(),
                opened_at=clock.now(),
                opened_by=uuid.UUID(principal.user_id),
                working_group=group,
                situation=situation,
                baseline=baseline,
            )
            session.add(case)
            await session.flush()
            await _recorded(session, self.outbox, case)
            await audit.record(session, estate_id, "onboarding.open", str(case.case_id))
            return await self._case_pb(session, estate_id)

        async with self.db.estate_tx(estate_id) as session:
            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:OpenCase",
                request.idempotency_key,
                request,
                onboarding_pb2.OnboardingCase,
                run,
            )

    async def UpdateCase(
        self, request: onboarding_pb2.UpdateCaseRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.OnboardingCase:
        _, estate_id = authorize_estate(Action.ONBOARDING_MANAGE, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            case = (
                await session.execute(
                    select(CaseRow).where(CaseRow.estate_id == estate_id).with_for_update()
                )
            ).scalar_one_or_none()
            if case is None:
                raise NotFound("the estate has no onboarding case")
            if request.working_group:
                case.working_group = check_group(request.working_group)
            if request.HasField("situation"):
                case.situation = check_situation(request.situation)
            if request.HasField("baseline"):
                case.baseline = check_baseline(request.baseline)
            await session.flush()
            await _recorded(session, self.outbox, case)
            await audit.record(session, estate_id, "onboarding.update", str(case.case_id))
            return await self._case_pb(session, estate_id)

    # -- the contract
    async def _contract_pb(
        self, session: AsyncSession, row: ContractRow
    ) -> onboarding_pb2.TrustContract:
        company = await session.get(store.Company, row.company_id)
        estate = await session.get(store.Estate, row.estate_id)
        signatures = (
            await session.execute(
                select(SignatureRow)
                .where(
                    SignatureRow.estate_id == row.estate_id,
                    SignatureRow.contract_id == row.contract_id,
                )
                .order_by(SignatureRow.signed_at)
            )
        ).scalars()
        waiting = (
            await session.execute(
                select(HandoverRow.handover_id).where(
                    HandoverRow.estate_id == row.estate_id,
                    HandoverRow.incoming_contract_id == row.contract_id,
                    HandoverRow.handed_over_on.is_(None),
                )
            )
        ).first()
        if row.ended_on is not None:
            state = "ended"
        elif row.signed_at is None:
            state = "awaiting_signatures"
        elif waiting is not None or row.starts_on > today():
            state = "signed"
        else:
            state = "in_force"
        return onboarding_pb2.TrustContract(
            estate_id=str(row.estate_id),
            contract_id=str(row.contract_id),
            case_id=str(row.case_id or ""),
            company_id=str(row.company_id),
            company_name=company.name if company else "",
            settlor=f"{estate.name}业主大会" if estate else "",
            terms=terms_pb(row.terms),
            state=state,
            payload_json=row.payload_json,
            signatures=[
                onboarding_pb2.ContractSignature(
                    party=s.party,
                    user_id=str(s.user_id),
                    key_id=s.key_id,
                    signature=s.signature,
                    signed_at=stamp(s.signed_at),
                )
                for s in signatures
            ],
            company_ballot_id=str(row.company_ballot_id or ""),
            drafted_at=stamp(row.drafted_at),
            ended_on=row.ended_on.isoformat() if row.ended_on else "",
        )

    async def _contract(
        self, session: AsyncSession, estate_id: uuid.UUID, raw: str, *, lock: bool = False
    ) -> ContractRow:
        contract_id = domain.parse_uuid(raw, "contract_id")
        row = await session.get(ContractRow, (estate_id, contract_id), with_for_update=lock)
        if row is None:
            raise NotFound("no such contract")
        return row

    async def DraftContract(
        self, request: onboarding_pb2.DraftContractRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.TrustContract:
        principal, estate_id = authorize_estate(Action.CONTRACT_DRAFT, request.estate_id)
        terms = check_terms(request.terms, today())

        async def run() -> onboarding_pb2.TrustContract:
            facts = await self._facts(session, estate_id)
            case = facts.case
            if case is None:
                raise FailedPrecondition("open the estate's onboarding case first")
            if case.chosen_company_id is None or case.company_ballot_id is None:
                raise FailedPrecondition(
                    "the assembly has not chosen the company yet: a tender decided by ballot "
                    "(Civil Code art. 278 item 4) comes before the contract"
                )
            if case.trust_model_ballot_id is None and facts.contract is None:
                raise FailedPrecondition(
                    "the assembly has not adopted the trust model yet (a ballot on "
                    f"trust_model:{case.case_id})"
                )
            used = (
                await session.execute(
                    select(ContractRow.contract_id).where(
                        ContractRow.estate_id == estate_id,
                        ContractRow.company_ballot_id == case.company_ballot_id,
                    )
                )
            ).first()
            if used is not None:
                raise FailedPrecondition(
                    "a contract was drafted on this decision already; a new company needs a new "
                    "tender and decision"
                )
            estate = await session.get(store.Estate, estate_id)
            company = await session.get(store.Company, case.chosen_company_id)
            assert estate is not None and company is not None
            contract_id = uuid.uuid4()
            payload = {
                "kind": "xinyi.trust_contract.v1",
                "contract_id": str(contract_id),
                "estate": {"estate_id": str(estate_id), "name": estate.name},
                "settlor": f"{estate.name}业主大会",
                "trustee": {
                    "company_id": str(company.company_id),
                    "name": company.name,
                    "credit_code": company.credit_code,
                },
                "decided_by_ballot": str(case.company_ballot_id),
                "terms": terms,
            }
            row = ContractRow(
                estate_id=estate_id,
                contract_id=contract_id,
                case_id=case.case_id,
                company_id=company.company_id,
                company_ballot_id=case.company_ballot_id,
                terms=terms,
                payload_json=canonical(payload).decode(),
                starts_on=date.fromisoformat(terms["starts_on"]),
                ends_on=date.fromisoformat(terms["ends_on"]),
                drafted_at=clock.now(),
                drafted_by=uuid.UUID(principal.user_id),
            )
            session.add(row)
            await session.flush()
            await audit.record(session, estate_id, "contract.draft", str(contract_id))
            return await self._contract_pb(session, row)

        async with self.db.estate_tx(estate_id) as session:
            await session.execute(
                select(CaseRow).where(CaseRow.estate_id == estate_id).with_for_update()
            )
            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:DraftContract",
                request.idempotency_key,
                request,
                onboarding_pb2.TrustContract,
                run,
            )

    async def GetContract(
        self, request: onboarding_pb2.GetContractRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.TrustContract:
        estate_id, companies = self._reader(request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._contract(session, estate_id, request.contract_id)
            if companies is not None and str(row.company_id) not in companies:
                raise NotFound("no such estate")
            return await self._contract_pb(session, row)

    async def ListContracts(
        self, request: onboarding_pb2.ListContractsRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.ListContractsResponse:
        estate_id, companies = self._reader(request.estate_id)
        query = (
            select(ContractRow)
            .where(ContractRow.estate_id == estate_id)
            .order_by(ContractRow.drafted_at.desc())
        )
        if companies is not None:
            query = query.where(ContractRow.company_id.in_([uuid.UUID(c) for c in companies]))
        async with self.db.estate_tx(estate_id) as session:
            rows = (await session.execute(query)).scalars()
            return onboarding_pb2.ListContractsResponse(
                contracts=[await self._contract_pb(session, r) for r in rows]
            )

    def _reader(self, raw: str) -> tuple[uuid.UUID, frozenset[str] | None]:
        """The estate's people read all its contracts and handovers; the manager of a company
        that does not serve it only those it is a party to (to sign before it starts). Returns
        the estate and, for such a manager, its companies."""
        principal = auth.require()
        estate_id = domain.parse_uuid(raw, "estate_id")
        if allowed(principal, Action.ONBOARDING_READ, estate_id):
            return estate_id, None
        if companies := company_managers_of(principal):
            return estate_id, companies
        _, estate = authorize_estate(Action.ONBOARDING_READ, estate_id)
        return estate, None

    async def SignContract(
        self, request: onboarding_pb2.SignContractRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.TrustContract:
        principal = auth.require()
        estate_id = domain.parse_uuid(request.estate_id, "estate_id")
        signature = _b64url(request.signature)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._contract(session, estate_id, request.contract_id, lock=True)
            if str(row.company_id) in company_managers_of(principal):
                party = "company"
            elif allowed(principal, Action.CONTRACT_SIGN_SETTLOR, estate_id):
                party = "approving_body"
            else:
                authorize_estate(Action.CONTRACT_SIGN_SETTLOR, estate_id)  # not found, or:
                raise PermissionDenied(
                    "the contract is signed by the chosen company's manager and by the approving "
                    "body"
                )
            if row.signed_at is not None or row.ended_on is not None:
                raise FailedPrecondition("the contract is signed already")
            if await session.get(SignatureRow, (estate_id, row.contract_id, party)) is not None:
                raise AlreadyExists(f"the {party.replace('_', ' ')} has signed already")
            key = await session.get(store.DeviceKeyRow, request.key_id)
            if key is None or str(key.user_id) != principal.user_id or key.revoked_at is not None:
                raise FailedPrecondition(
                    "sign with a key registered on your own device (and not revoked)"
                )
            if not verify_signature(key.public_jwk, row.payload_json.encode(), signature):
                raise InvalidArgument(
                    "the signature does not verify: it must be over the contract's payload_json, "
                    "exactly as given"
                )
            session.add(
                SignatureRow(
                    estate_id=estate_id,
                    contract_id=row.contract_id,
                    party=party,
                    user_id=uuid.UUID(principal.user_id),
                    key_id=key.key_id,
                    signature=request.signature,
                    signed_at=clock.now(),
                )
            )
            await session.flush()
            await audit.record(
                session, estate_id, "contract.sign", str(row.contract_id), {"party": party}
            )
            parties = set(
                (
                    await session.execute(
                        select(SignatureRow.party).where(
                            SignatureRow.estate_id == estate_id,
                            SignatureRow.contract_id == row.contract_id,
                        )
                    )
                ).scalars()
            )
            if parties == {"company", "approving_body"}:
                row.signed_at = clock.now()
                await self._take_effect_or_wait(session, row)
            await session.flush()
            return await self._contract_pb(session, row)

    async def _take_effect_or_wait(self, session: AsyncSession, row: ContractRow) -> None:
        """A signed contract starts at its start date, or waits for the handover from the
        company serving now."""
        handover = (
            await session.execute(
                select(HandoverRow)
                .where(HandoverRow.estate_id == row.estate_id, HandoverRow.handed_over_on.is_(None))
                .with_for_update()
            )
        ).scalar_one_or_none()
        if handover is not None:
            handover.incoming_contract_id = row.contract_id
            return
        clash = await store.overlapping_assignment(
            session, row.estate_id, row.starts_on, row.ends_on
        )
        if clash is not None:
            raise FailedPrecondition(
                f"the estate is served by another company from {clash.starts_on.isoformat()}; "
                "its service ends by a dismissal or notice and a handover first"
            )
        await self._start(session, row, row.starts_on)

    async def _start(self, session: AsyncSession, row: ContractRow, on: date) -> None:
        session.add(
            store.CompanyAssignment(
                estate_id=row.estate_id,
                company_id=row.company_id,
                starts_on=on,
                ends_on=row.ends_on,
            )
        )
        assigned = events_pb2.CompanyAssigned(
            estate_id=str(row.estate_id), company_id=str(row.company_id)
        )
        assigned.starts_at.FromDatetime(midnight(on))
        assigned.ends_at.FromDatetime(midnight(row.ends_on))
        await self.outbox.emit(session, row.estate_id, "company_assigned", assigned)
        await self.outbox.emit(
            session,
            row.estate_id,
            "trust_contract_effective",
            events_pb2.TrustContractEffective(
                estate_id=str(row.estate_id),
                contract_id=str(row.contract_id),
                company_id=str(row.company_id),
                starts_on=on.isoformat(),
                ends_on=row.ends_on.isoformat(),
                payload_json=row.payload_json,
            ),
        )

    # -- the end of a contract, and the handover
    def _handover_pb(self, h: HandoverRow, company_id: uuid.UUID) -> onboarding_pb2.Handover:
        return onboarding_pb2.Handover(
            estate_id=str(h.estate_id),
            handover_id=str(h.handover_id),
            outgoing_contract_id=str(h.outgoing_contract_id),
            outgoing_company_id=str(company_id),
            reason=h.reason,
            decided_on=h.decided_on.isoformat(),
            notice_ends_on=h.notice_ends_on.isoformat(),
            checklist=[onboarding_pb2.HandoverItem(**i) for i in h.checklist],
            state="completed" if h.handed_over_on else "open",
            handed_over_on=h.handed_over_on.isoformat() if h.handed_over_on else "",
            incoming_contract_id=str(h.incoming_contract_id or ""),
            refused_from=h.refused_from.isoformat() if h.refused_from else "",
            ballot_id=str(h.ballot_id or ""),
        )

    async def _open_handover(
        self,
        session: AsyncSession,
        contract: ContractRow,
        reason: str,
        decided_on: date,
        notice_ends_on: date,
        ballot_id: uuid.UUID | None,
    ) -> HandoverRow:
        row = HandoverRow(
            estate_id=contract.estate_id,
            handover_id=uuid.uuid4(),
            outgoing_contract_id=contract.contract_id,
            reason=reason,
            ballot_id=ballot_id,
            decided_on=decided_on,
            notice_ends_on=notice_ends_on,
            checklist=[{"item": i, "state": "pending", "note": ""} for i in CHECKLIST],
        )
        session.add(row)
        await session.flush()
        await audit.record(
            session,
            contract.estate_id,
            f"handover.{reason}",
            str(contract.contract_id),
            {"notice_ends_on": notice_ends_on.isoformat()},
        )
        return row

    async def GiveNotice(
        self, request: onboarding_pb2.GiveNoticeRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.Handover:
        principal = auth.require()
        estate_id = domain.parse_uuid(request.estate_id, "estate_id")
        async with self.db.estate_tx(estate_id) as session:
            contract = await self._contract(session, estate_id, request.contract_id, lock=True)
            if str(contract.company_id) not in company_managers_of(principal):
                authorize_estate(Action.CONTRACT_SIGN_TRUSTEE, estate_id)
                raise PermissionDenied("the company's own manager gives its notice")
            if contract.signed_at is None or contract.ended_on is not None:
                raise FailedPrecondition("only a contract in force can be left")
            if await self._handover_of(session, contract) is not None:
                raise FailedPrecondition("the contract is ending already: see its handover")
            latest = contract.ends_on - timedelta(days=contract.terms["non_renewal_notice_days"])
            now = today()
            if now > latest:
                raise FailedPrecondition(
                    f"notice not to renew is given at least "
                    f"{contract.terms['non_renewal_notice_days']} days before the term ends "
                    f"(by {latest.isoformat()}, Civil Code art. 947); the contract continues"
                )
            row = await self._open_handover(
                session, contract, "non_renewal", now, contract.ends_on, None
            )
            return self._handover_pb(row, contract.company_id)

    async def _handover_of(
        self, session: AsyncSession, contract: ContractRow
    ) -> HandoverRow | None:
        return (
            await session.execute(
                select(HandoverRow).where(
                    HandoverRow.estate_id == contract.estate_id,
                    HandoverRow.outgoing_contract_id == contract.contract_id,
                )
            )
        ).scalar_one_or_none()

    async def ListHandovers(
        self, request: onboarding_pb2.ListHandoversRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.ListHandoversResponse:
        estate_id, companies = self._reader(request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            rows = (
                await session.execute(
                    select(HandoverRow, ContractRow.company_id)
                    .join(
                        ContractRow,
                        (ContractRow.estate_id == HandoverRow.estate_id)
                        & (ContractRow.contract_id == HandoverRow.outgoing_contract_id),
                    )
                    .where(HandoverRow.estate_id == estate_id)
                    .order_by(HandoverRow.decided_on.desc())
                )
            ).all()
            return onboarding_pb2.ListHandoversResponse(
                handovers=[
                    self._handover_pb(h, company)
                    for h, company in rows
                    if companies is None or str(company) in companies
                ]
            )

    async def _handover(
        self, session: AsyncSession, estate_id: uuid.UUID, raw: str
    ) -> tuple[HandoverRow, ContractRow]:
        handover_id = domain.parse_uuid(raw, "handover_id")
        row = await session.get(HandoverRow, (estate_id, handover_id), with_for_update=True)
        if row is None:
            raise NotFound("no such handover")
        contract = await session.get(
            ContractRow, (estate_id, row.outgoing_contract_id), with_for_update=True
        )
        assert contract is not None
        return row, contract

    async def UpdateHandover(
        self, request: onboarding_pb2.UpdateHandoverRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.Handover:
        _, estate_id = authorize_estate(Action.HANDOVER_MANAGE, request.estate_id)
        if not request.items:
            raise InvalidArgument("name the checklist items to update")
        async with self.db.estate_tx(estate_id) as session:
            row, contract = await self._handover(session, estate_id, request.handover_id)
            if row.handed_over_on is not None:
                raise FailedPrecondition("the handover is complete")
            checklist = {i["item"]: dict(i) for i in row.checklist}
            refused = ""
            for item in request.items:
                if item.item not in checklist:
                    raise InvalidArgument(f"the checklist items are {', '.join(CHECKLIST)}")
                if item.state not in ITEM_STATES:
                    raise InvalidArgument(f"an item's state is one of {', '.join(ITEM_STATES)}")
                checklist[item.item] = {
                    "item": item.item,
                    "state": item.state,
                    "note": _text(item.note, "a note", 500),
                }
                if item.state == "refused":
                    refused = item.item
            row.checklist = [checklist[i] for i in CHECKLIST]
            if refused and row.refused_from is None:
                # It earns nothing from the day its service should have ended (art. 949).
                row.refused_from = row.notice_ends_on
                await self.outbox.emit(
                    session,
                    estate_id,
                    "handover_refused",
                    events_pb2.HandoverRefused(
                        estate_id=str(estate_id),
                        handover_id=str(row.handover_id),
                        company_id=str(contract.company_id),
                        refused_from=row.refused_from.isoformat(),
                        item=refused,
                    ),
                )
            await session.flush()
            await audit.record(
                session,
                estate_id,
                "handover.update",
                str(row.handover_id),
                {"items": [i.item for i in request.items], "refused": refused},
            )
            return self._handover_pb(row, contract.company_id)

    async def CompleteHandover(
        self, request: onboarding_pb2.CompleteHandoverRequest, context: grpc.aio.ServicerContext
    ) -> onboarding_pb2.Handover:
        _, estate_id = authorize_estate(Action.HANDOVER_MANAGE, request.estate_id)
        now = today()
        on = (
            domain.parse_date(request.handed_over_on, "handed_over_on")
            if request.handed_over_on
            else now
        )
        if on > now:
            raise InvalidArgument("handed_over_on is the day it took place: not after today")
        async with self.db.estate_tx(estate_id) as session:
            row, contract = await self._handover(session, estate_id, request.handover_id)
            if row.handed_over_on is not None:
                raise FailedPrecondition("the handover is complete already")
            if on < row.notice_ends_on:
                raise FailedPrecondition(
                    f"the notice period runs until {row.notice_ends_on.isoformat()}: the handover "
                    "is on or after that day"
                )
            open_items = [i["item"] for i in row.checklist if i["state"] != "done"]
            if open_items:
                raise FailedPrecondition(
                    f"the checklist is not done: {', '.join(open_items)}; tick each item once "
                    "handed over"
                )
            row.handed_over_on = on
            contract.ended_on = on
            serving = (
                await session.execute(
                    select(store.CompanyAssignment)
                    .where(
                        store.CompanyAssignment.estate_id == estate_id,
                        store.CompanyAssignment.company_id == contract.company_id,
                        store.CompanyAssignment.starts_on <= on,
                    )
                    .order_by(store.CompanyAssignment.starts_on.desc())
                    .limit(1)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if serving is not None and (serving.ends_on is None or serving.ends_on > on):
                serving.ends_on = on
            await session.flush()
            incoming = (
                await session.get(ContractRow, (estate_id, row.incoming_contract_id))
                if row.incoming_contract_id
                else None
            )
            if incoming is not None and incoming.signed_at is not None:
                await self._start(session, incoming, on)
            await self.outbox.emit(
                session,
                estate_id,
                "handover_completed",
                events_pb2.HandoverCompleted(
                    estate_id=str(estate_id),
                    handover_id=str(row.handover_id),
                    outgoing_company_id=str(contract.company_id),
                    incoming_company_id=str(incoming.company_id) if incoming else "",
                    handed_over_on=on.isoformat(),
                    refused_from=row.refused_from.isoformat() if row.refused_from else "",
                ),
            )
            await audit.record(
                session,
                estate_id,
                "handover.complete",
                str(row.handover_id),
                {"on": on.isoformat()},
            )
            return self._handover_pb(row, contract.company_id)


# -- what voting decided ---------------------------------------------------------------------
def voting_handlers(outbox: Outbox) -> dict[type[Message], Handler]:
    """The case follows the tender and the assembly's decisions; a dismissal opens a handover."""

    async def case_of(session: AsyncSession, estate_id: uuid.UUID) -> CaseRow | None:
        return (
            await session.execute(
                select(CaseRow).where(CaseRow.estate_id == estate_id).with_for_update()
            )
        ).scalar_one_or_none()

    async def tender_updated(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        assert isinstance(event, voting_events.TenderUpdated)
        case = await case_of(session, uuid.UUID(event.estate_id))
        if case is None:
            return
        if event.state in ("open", "closed"):
            case.tender_id, case.tender_state = uuid.UUID(event.tender_id), event.state
            case.chosen_company_id = case.company_ballot_id = None
        elif event.state == "decided" and event.chosen_company_id:
            case.tender_id, case.tender_state = uuid.UUID(event.tender_id), "decided"
            case.chosen_company_id = uuid.UUID(event.chosen_company_id)
            case.company_ballot_id = uuid.UUID(event.ballot_id) if event.ballot_id else None
        elif event.state == "cancelled" and case.tender_id == uuid.UUID(event.tender_id):
            case.tender_state = "cancelled"

    async def ballot_decided(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        assert isinstance(event, voting_events.BallotDecided)
        if not event.approved:
            return
        estate_id = uuid.UUID(event.estate_id)
        kind, subject = event.subject.kind, event.subject.id
        if kind == common_pb2.DecisionSubject.KIND_TRUST_MODEL:
            case = await case_of(session, estate_id)
            if case is not None and str(case.case_id) == subject:
                case.trust_model_ballot_id = uuid.UUID(event.ballot_id)
        elif kind == common_pb2.DecisionSubject.KIND_COMMITTEE_ELECTION:
            # The elected committee replaces a self-governance group or property-management
            # committee as the approving body (its members' roles are granted as ever).
            estate = await session.get(store.Estate, estate_id, with_for_update=True)
            if estate is not None and estate.approving_body_kind != COMMITTEE:
                estate.approving_body_kind = COMMITTEE
                estate.approving_body_name = f"{estate.name}业主委员会"
                estate.approving_body_formed_on = (
                    event.decided_at.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI).date()
                )
                await audit.record(
                    session,
                    estate_id,
                    "estate.committee_elected",
                    event.ballot_id,
                    {"name": estate.approving_body_name},
                )
        elif kind == common_pb2.DecisionSubject.KIND_DISMISSAL:
            try:
                contract_id = uuid.UUID(subject)
            except ValueError:
                return
            contract = await session.get(
                ContractRow, (estate_id, contract_id), with_for_update=True
            )
            if contract is None or contract.signed_at is None or contract.ended_on is not None:
                return
            decided = event.decided_at.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI).date()
            notice = decided + timedelta(days=contract.terms["dismissal_notice_days"])
            existing = (
                await session.execute(
                    select(HandoverRow).where(
                        HandoverRow.estate_id == estate_id,
                        HandoverRow.outgoing_contract_id == contract_id,
                    )
                )
            ).scalar_one_or_none()
            if existing is None:
                row = HandoverRow(
                    estate_id=estate_id,
                    handover_id=uuid.uuid4(),
                    outgoing_contract_id=contract_id,
                    reason="dismissal",
                    ballot_id=uuid.UUID(event.ballot_id),
                    decided_on=decided,
                    notice_ends_on=min(notice, contract.ends_on),
                    checklist=[{"item": i, "state": "pending", "note": ""} for i in CHECKLIST],
                )
                session.add(row)
                await audit.record(
                    session,
                    estate_id,
                    "handover.dismissal",
                    str(contract_id),
                    {"notice_ends_on": row.notice_ends_on.isoformat()},
                )

    return {
        voting_events.TenderUpdated: tender_updated,
        voting_events.BallotDecided: ballot_decided,
    }
