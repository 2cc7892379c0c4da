"""REST routes of tenders with sealed bids, and of monthly meetings.

The estate's people use the estate's routes (`/api/v1/estates/{estate_id}/tenders`, `.../meetings`).
Companies bid through city-wide routes (`/api/v1/tenders`): a company manager's grant reaches
only the estates its company serves, and a company bidding for a new estate serves none of it
yet, so these routes name no estate and are open to any company manager.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AwareDatetime, BaseModel, Field

from xinyi.voting.v1 import tenders_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, IdempotencyKey, Svc, iso
from xinyi_gateway.routes_ballots import BallotOut, _ballot
from xinyi_gateway.routes_voice import Plain, SuggestionDetailOut, _detail
from xinyi_kit.errors import InvalidArgument

tenders = APIRouter(prefix="/api/v1/estates/{estate_id}/tenders", tags=["voting"])
bidders = APIRouter(prefix="/api/v1/tenders", tags=["voting"])
meetings = APIRouter(prefix="/api/v1/estates/{estate_id}/meetings", tags=["voting"])

TenderId = Annotated[str, Path(pattern=UUID_PATTERN, description="Tender UUID")]
MeetingId = Annotated[str, Path(pattern=UUID_PATTERN, description="Meeting UUID")]
PointId = Annotated[str, Path(pattern=r"^p[0-9]{1,3}$", description='A point of the minutes, "p1"')]
TenderState = Literal["draft", "open", "closed", "decided", "cancelled"]
MeetingState = Literal["scheduled", "held", "cancelled"]
UnitType = Literal["residential", "commercial", "parking", "other"]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Terms = Annotated[Plain, Field(max_length=20_000)]
Note = Annotated[Plain, Field(max_length=5000)]


def _stamp(value: datetime) -> Timestamp:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise InvalidArgument(
            "the time is out of range: give a date between 0001 and 9999"
        ) from None
    out = Timestamp()
    out.FromDatetime(utc)
    return out


class ReasonIn(BaseModel):
    reason: Plain = Field(max_length=2000, description="Why: the estate reads it")


# -- tenders ----------------------------------------------------------------------------------
class TenderIn(BaseModel):
    title: Plain = Field(max_length=200)
    service_standard: Terms = Field(description="The service standard asked for")
    scope: Terms = Field(description="What the company would manage")
    term_months: int = Field(ge=1, le=120, description="The contract's term in months")
    closes_at: AwareDatetime = Field(description="Bids are accepted until then; within a year")


class FeeRateIO(BaseModel):
    unit_type: UnitType
    fen_per_m2_month: Plain = Field(
        max_length=40,
        description="Fen per m² and month, exact: a whole number, a decimal or a fraction",
        examples=["250", "212.5"],
    )


class StaffLineIO(BaseModel):
    role: Plain = Field(max_length=100, examples=["保洁"])
    count: int = Field(ge=1, le=10_000)


class BidIn(BaseModel):
    company_id: str = Field(
        default="",
        pattern=f"^$|{UUID_PATTERN}",
        description="The company bidding; may be left out by a manager of only one company",
    )
    remuneration_ratio: Plain | None = Field(
        default=None,
        max_length=40,
        description="A ratio of income received, e.g. 1/10; or give remuneration_monthly_fen",
        examples=["1/10"],
    )
    remuneration_monthly_fen: int | None = Field(
        default=None, ge=1, le=10**12, description="A fixed monthly sum in fen, instead"
    )
    fee_rates: list[FeeRateIO] = Field(min_length=1, max_length=4)
    staffing: list[StaffLineIO] = Field(default_factory=list, max_length=50)
    staffing_notes: Note = ""
    references: Note = Field(default="", description="Estates served, results, awards")
    attachment_sha256s: list[Sha256] = Field(
        default_factory=list, max_length=10, description="Documents kept with the bid, by sha256"
    )


class BidOut(BaseModel):
    bid_id: str
    tender_id: str
    estate_id: str
    company_id: str
    company_name: str
    remuneration_ratio: str | None
    remuneration_monthly_fen: int | None
    fee_rates: list[FeeRateIO]
    staffing: list[StaffLineIO]
    staffing_notes: str
    references: str
    attachment_sha256s: list[str]
    submitted_at: str | None
    updated_at: str | None
    revision: int = Field(description="1, and one more for each replacement")
    mine: bool = Field(description="The caller bids for this company")


class TenderSummaryOut(BaseModel):
    tender_id: str
    estate_id: str
    estate_name: str
    title: str
    service_standard: str
    scope: str
    term_months: int
    state: str = Field(description="draft, open, closed, decided or cancelled")
    closes_at: str | None
    created_at: str | None
    published_at: str | None
    closed_at: str | None
    decided_at: str | None
    cancelled_at: str | None
    cancelled_reason: str | None
    created_by_role: str | None
    bid_count: int
    ballot_id: str | None = Field(description="The last ballot drafted from it")
    chosen_bid_id: str | None
    chosen_company_id: str | None
    chosen_company_name: str | None


class TenderOut(TenderSummaryOut):
    bids: list[BidOut] = Field(
        description="Sealed while open (only the caller's own company's); every bid, to the "
        "estate's people, once closed"
    )


class TenderBallotIn(BaseModel):
    title: Plain = Field(default="", max_length=200, description="The tender's title by default")
    description: Terms = ""
    question_text: Plain = Field(default="", max_length=4000)


def _bid(b: tenders_pb2.Bid) -> BidOut:
    return BidOut(
        bid_id=b.bid_id,
        tender_id=b.tender_id,
        estate_id=b.estate_id,
        company_id=b.company_id,
        company_name=b.company_name,
        remuneration_ratio=b.remuneration_ratio or None,
        remuneration_monthly_fen=b.remuneration_monthly_fen or None,
        fee_rates=[
            FeeRateIO.model_validate(
                {"unit_type": r.unit_type, "fen_per_m2_month": r.fen_per_m2_month}
            )
            for r in b.fee_rates
        ],
        staffing=[StaffLineIO(role=s.role, count=s.count) for s in b.staffing],
        staffing_notes=b.staffing_notes,
        references=b.references,
        attachment_sha256s=list(b.attachment_sha256s),
        submitted_at=iso(b.submitted_at),
        updated_at=iso(b.updated_at),
        revision=b.revision,
        mine=b.mine,
    )


def _summary(t: tenders_pb2.Tender) -> dict[str, object]:
    return {
        "tender_id": t.tender_id,
        "estate_id": t.estate_id,
        "estate_name": t.estate_name,
        "title": t.title,
        "service_standard": t.service_standard,
        "scope": t.scope,
        "term_months": t.term_months,
        "state": t.state,
        "closes_at": iso(t.closes_at),
        "created_at": iso(t.created_at),
        "published_at": iso(t.published_at),
        "closed_at": iso(t.closed_at),
        "decided_at": iso(t.decided_at),
        "cancelled_at": iso(t.cancelled_at),
        "cancelled_reason": t.cancelled_reason or None,
        "created_by_role": t.created_by_role or None,
        "bid_count": t.bid_count,
        "ballot_id": t.ballot_id or None,
        "chosen_bid_id": t.chosen_bid_id or None,
        "chosen_company_id": t.chosen_company_id or None,
        "chosen_company_name": t.chosen_company_name or None,
    }


def _tender(t: tenders_pb2.Tender) -> TenderOut:
    return TenderOut.model_validate({**_summary(t), "bids": [_bid(b) for b in t.bids]})


def _terms(
    body: TenderIn, request: tenders_pb2.CreateTenderRequest | tenders_pb2.UpdateTenderRequest
) -> None:
    request.title = body.title
    request.service_standard = body.service_standard
    request.scope = body.scope
    request.term_months = body.term_months
    request.closes_at.CopyFrom(_stamp(body.closes_at))


@tenders.post(
    "",
    response_model=TenderOut,
    status_code=201,
    summary="Draft a tender: service standard, scope, term, and until when bids are taken "
    "(approving body)",
)
async def create_tender(
    estate_id: EstateId,
    body: TenderIn,
    who: Authed,
    svc: Svc,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TenderOut:
    request = tenders_pb2.CreateTenderRequest(
        idempotency_key=idempotency_key or "", estate_id=estate_id
    )
    _terms(body, request)
    reply = await svc.tenders.CreateTender(request, metadata=who.metadata)
    response.headers["Location"] = f"/api/v1/estates/{estate_id}/tenders/{reply.tender_id}"
    return _tender(reply)


@tenders.get(
    "",
    response_model=list[TenderSummaryOut],
    summary="The estate's tenders, newest first (drafts only for the approving body)",
)
async def list_tenders(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    state: Annotated[TenderState | None, Query()] = None,
) -> list[TenderSummaryOut]:
    reply = await svc.tenders.ListTenders(
        tenders_pb2.ListTendersRequest(estate_id=estate_id, state=state or ""),
        metadata=who.metadata,
    )
    return [TenderSummaryOut.model_validate(_summary(t)) for t in reply.tenders]


@tenders.get(
    "/{tender_id}",
    response_model=TenderOut,
    summary="A tender with the bids the caller may see: all of them once it has closed",
)
async def get_tender(estate_id: EstateId, tender_id: TenderId, who: Authed, svc: Svc) -> TenderOut:
    reply = await svc.tenders.GetTender(
        tenders_pb2.TenderRef(estate_id=estate_id, tender_id=tender_id), metadata=who.metadata
    )
    return _tender(reply)


@tenders.put(
    "/{tender_id}", response_model=TenderOut, summary="Replace a draft's terms (approving body)"
)
async def update_tender(
    estate_id: EstateId, tender_id: TenderId, body: TenderIn, who: Authed, svc: Svc
) -> TenderOut:
    request = tenders_pb2.UpdateTenderRequest(estate_id=estate_id, tender_id=tender_id)
    _terms(body, request)
    reply = await svc.tenders.UpdateTender(request, metadata=who.metadata)
    return _tender(reply)


@tenders.post(
    "/{tender_id}/publish",
    response_model=TenderOut,
    summary="Publish a draft: companies on the platform bid until closes_at (approving body)",
)
async def publish_tender(
    estate_id: EstateId, tender_id: TenderId, who: Authed, svc: Svc
) -> TenderOut:
    reply = await svc.tenders.PublishTender(
        tenders_pb2.TenderRef(estate_id=estate_id, tender_id=tender_id), metadata=who.metadata
    )
    return _tender(reply)


@tenders.post(
    "/{tender_id}/close",
    response_model=TenderOut,
    summary="Record the close from closes_at on: the bids are revealed to the estate (approving "
    "body; a tender past closes_at reads as closed anyway)",
)
async def close_tender(
    estate_id: EstateId, tender_id: TenderId, who: Authed, svc: Svc
) -> TenderOut:
    reply = await svc.tenders.CloseTender(
        tenders_pb2.TenderRef(estate_id=estate_id, tender_id=tender_id), metadata=who.metadata
    )
    return _tender(reply)


@tenders.post(
    "/{tender_id}/cancel",
    response_model=TenderOut,
    summary="Cancel a draft, open or closed tender, saying why (approving body)",
)
async def cancel_tender(
    estate_id: EstateId, tender_id: TenderId, body: ReasonIn, who: Authed, svc: Svc
) -> TenderOut:
    reply = await svc.tenders.CancelTender(
        tenders_pb2.CancelTenderRequest(
            estate_id=estate_id, tender_id=tender_id, reason=body.reason
        ),
        metadata=who.metadata,
    )
    return _tender(reply)


@tenders.post(
    "/{tender_id}/ballot",
    response_model=BallotOut,
    status_code=201,
    summary="Draft the assembly's ballot on a closed tender: one question (art. 278 item 4, one "
    "seat) with a candidate per bid (candidate_id = bid_id), subject company:<tender_id>. When "
    "that ballot is final, its chosen bid decides the tender (approving body)",
)
async def draft_tender_ballot(
    estate_id: EstateId,
    tender_id: TenderId,
    who: Authed,
    svc: Svc,
    response: Response,
    body: TenderBallotIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> BallotOut:
    given = body or TenderBallotIn()
    reply = await svc.tenders.DraftTenderBallot(
        tenders_pb2.DraftTenderBallotRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            tender_id=tender_id,
            title=given.title,
            description=given.description,
            question_text=given.question_text,
        ),
        metadata=who.metadata,
    )
    response.headers["Location"] = f"/api/v1/estates/{estate_id}/ballots/{reply.ballot_id}"
    return _ballot(reply)


# -- the bidders' routes ----------------------------------------------------------------------
@bidders.get(
    "",
    response_model=list[TenderOut],
    summary="Open tenders of every estate, soonest closing first, each with the caller's own "
    "bid (company managers, whether or not their company serves the estate)",
)
async def open_tenders(
    who: Authed,
    svc: Svc,
    state: Annotated[Literal["open"], Query(description="Only open tenders are listed")] = "open",
) -> list[TenderOut]:
    reply = await svc.tenders.ListOpenTenders(
        tenders_pb2.ListOpenTendersRequest(), metadata=who.metadata
    )
    return [_tender(t) for t in reply.tenders]


@bidders.get(
    "/{tender_id}",
    response_model=TenderOut,
    summary="A published tender as a bidder sees it: its terms, its state and the caller's "
    "own bid (company managers)",
)
async def bidder_tender(tender_id: TenderId, who: Authed, svc: Svc) -> TenderOut:
    reply = await svc.tenders.GetTenderAsBidder(
        tenders_pb2.BidderTenderRef(tender_id=tender_id), metadata=who.metadata
    )
    return _tender(reply)


@bidders.post(
    "/{tender_id}/bids",
    response_model=BidOut,
    status_code=201,
    summary="Submit the company's bid, or replace it, until the tender closes (company "
    "managers): 201 for the first, 200 for a replacement. Sealed until the tender closes",
)
async def submit_bid(
    tender_id: TenderId,
    body: BidIn,
    who: Authed,
    svc: Svc,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> BidOut:
    reply = await svc.tenders.SubmitBid(
        tenders_pb2.SubmitBidRequest(
            idempotency_key=idempotency_key or "",
            tender_id=tender_id,
            company_id=body.company_id,
            remuneration_ratio=body.remuneration_ratio or "",
            remuneration_monthly_fen=body.remuneration_monthly_fen or 0,
            fee_rates=[
                tenders_pb2.FeeRate(unit_type=r.unit_type, fen_per_m2_month=r.fen_per_m2_month)
                for r in body.fee_rates
            ],
            staffing=[tenders_pb2.StaffLine(role=s.role, count=s.count) for s in body.staffing],
            staffing_notes=body.staffing_notes,
            references=body.references,
            attachment_sha256s=body.attachment_sha256s,
        ),
        metadata=who.metadata,
    )
    if reply.revision > 1:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/tenders/{tender_id}"
    return _bid(reply)


# -- monthly meetings -------------------------------------------------------------------------
AgendaItem = Annotated[Plain, Field(max_length=500)]


class MeetingIn(BaseModel):
    title: Plain = Field(max_length=200, examples=["2025年6月物业联席会"])
    starts_at: AwareDatetime = Field(description="When it begins, with a time zone; in the future")
    place: Plain = Field(max_length=200)
    agenda: list[AgendaItem] = Field(min_length=1, max_length=30)


class ReportIn(BaseModel):
    report: Annotated[Plain, Field(max_length=20_000)]
    attachment_sha256s: list[Sha256] = Field(default_factory=list, max_length=10)


class MinutesIn(BaseModel):
    minutes: Annotated[Plain, Field(max_length=50_000)]
    points: list[Annotated[Plain, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=50, description="The points raised, one text each"
    )


class RaiseIn(BaseModel):
    title: Plain = Field(
        default="", max_length=200, description="The point's first line by default"
    )


class PointOut(BaseModel):
    point_id: str
    text: str
    suggestion_id: str | None = Field(description="Once the point has become a suggestion")


class MeetingOut(BaseModel):
    meeting_id: str
    title: str
    starts_at: str | None
    place: str
    agenda: list[str]
    state: str = Field(description="scheduled, held (minutes published) or cancelled")
    scheduled_by_role: str
    created_at: str | None
    updated_at: str | None
    report: str | None = Field(description="The company's work report")
    report_attachment_sha256s: list[str]
    report_posted_at: str | None
    report_posted_by_role: str | None
    minutes: str | None
    points: list[PointOut]
    minutes_published_at: str | None
    minutes_published_by_role: str | None
    cancelled_at: str | None
    cancelled_reason: str | None


class RaisedOut(BaseModel):
    meeting: MeetingOut
    suggestion: SuggestionDetailOut


def _meeting(m: tenders_pb2.Meeting) -> MeetingOut:
    return MeetingOut(
        meeting_id=m.meeting_id,
        title=m.title,
        starts_at=iso(m.starts_at),
        place=m.place,
        agenda=list(m.agenda),
        state=m.state,
        scheduled_by_role=m.scheduled_by_role,
        created_at=iso(m.created_at),
        updated_at=iso(m.updated_at),
        report=m.report or None,
        report_attachment_sha256s=list(m.report_attachment_sha256s),
        report_posted_at=iso(m.report_posted_at),
        report_posted_by_role=m.report_posted_by_role or None,
        minutes=m.minutes or None,
        points=[
            PointOut(point_id=p.point_id, text=p.text, suggestion_id=p.suggestion_id or None)
            for p in m.points
        ],
        minutes_published_at=iso(m.minutes_published_at),
        minutes_published_by_role=m.minutes_published_by_role or None,
        cancelled_at=iso(m.cancelled_at),
        cancelled_reason=m.cancelled_reason or None,
    )


@meetings.post(
    "",
    response_model=MeetingOut,
    status_code=201,
    summary="Schedule a monthly meeting: time, place, agenda (approving body or company manager)",
)
async def schedule_meeting(
    estate_id: EstateId,
    body: MeetingIn,
    who: Authed,
    svc: Svc,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> MeetingOut:
    reply = await svc.meetings.ScheduleMeeting(
        tenders_pb2.ScheduleMeetingRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            title=body.title,
            starts_at=_stamp(body.starts_at),
            place=body.place,
            agenda=body.agenda,
        ),
        metadata=who.metadata,
    )
    response.headers["Location"] = f"/api/v1/estates/{estate_id}/meetings/{reply.meeting_id}"
    return _meeting(reply)


@meetings.get(
    "",
    response_model=list[MeetingOut],
    summary="The estate's meetings, latest first (everyone in it)",
)
async def list_meetings(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    state: Annotated[MeetingState | None, Query()] = None,
) -> list[MeetingOut]:
    reply = await svc.meetings.ListMeetings(
        tenders_pb2.ListMeetingsRequest(estate_id=estate_id, state=state or ""),
        metadata=who.metadata,
    )
    return [_meeting(m) for m in reply.meetings]


@meetings.get("/{meeting_id}", response_model=MeetingOut, summary="One meeting")
async def get_meeting(
    estate_id: EstateId, meeting_id: MeetingId, who: Authed, svc: Svc
) -> MeetingOut:
    reply = await svc.meetings.GetMeeting(
        tenders_pb2.MeetingRef(estate_id=estate_id, meeting_id=meeting_id), metadata=who.metadata
    )
    return _meeting(reply)


@meetings.put(
    "/{meeting_id}",
    response_model=MeetingOut,
    summary="Change a scheduled meeting's title, time, place or agenda (approving body or "
    "company manager)",
)
async def update_meeting(
    estate_id: EstateId, meeting_id: MeetingId, body: MeetingIn, who: Authed, svc: Svc
) -> MeetingOut:
    reply = await svc.meetings.UpdateMeeting(
        tenders_pb2.UpdateMeetingRequest(
            estate_id=estate_id,
            meeting_id=meeting_id,
            title=body.title,
            starts_at=_stamp(body.starts_at),
            place=body.place,
            agenda=body.agenda,
        ),
        metadata=who.metadata,
    )
    return _meeting(reply)


@meetings.post(
    "/{meeting_id}/cancel",
    response_model=MeetingOut,
    summary="Cancel a scheduled meeting, saying why (approving body or company manager)",
)
async def cancel_meeting(
    estate_id: EstateId, meeting_id: MeetingId, body: ReasonIn, who: Authed, svc: Svc
) -> MeetingOut:
    reply = await svc.meetings.CancelMeeting(
        tenders_pb2.CancelMeetingRequest(
            estate_id=estate_id, meeting_id=meeting_id, reason=body.reason
        ),
        metadata=who.metadata,
    )
    return _meeting(reply)


@meetings.put(
    "/{meeting_id}/report",
    response_model=MeetingOut,
    summary="Post or replace the company's work report until the minutes are published "
    "(company manager)",
)
async def post_report(
    estate_id: EstateId,
    meeting_id: MeetingId,
    body: ReportIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> MeetingOut:
    reply = await svc.meetings.PostWorkReport(
        tenders_pb2.PostWorkReportRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            meeting_id=meeting_id,
            report=body.report,
            attachment_sha256s=body.attachment_sha256s,
        ),
        metadata=who.metadata,
    )
    return _meeting(reply)


@meetings.post(
    "/{meeting_id}/minutes",
    response_model=MeetingOut,
    summary="Publish the minutes and the points raised, once the meeting has begun: it is held "
    "(approving body)",
)
async def publish_minutes(
    estate_id: EstateId,
    meeting_id: MeetingId,
    body: MinutesIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> MeetingOut:
    reply = await svc.meetings.PublishMinutes(
        tenders_pb2.PublishMinutesRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            meeting_id=meeting_id,
            minutes=body.minutes,
            points=body.points,
        ),
        metadata=who.metadata,
    )
    return _meeting(reply)


@meetings.post(
    "/{meeting_id}/points/{point_id}/suggestion",
    response_model=RaisedOut,
    status_code=201,
    summary="Turn a point of the minutes into a suggestion (kind suggestion) submitted by the "
    "caller, naming the meeting; once per point (approving body)",
)
async def raise_suggestion(
    estate_id: EstateId,
    meeting_id: MeetingId,
    point_id: PointId,
    who: Authed,
    svc: Svc,
    response: Response,
    body: RaiseIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> RaisedOut:
    reply = await svc.meetings.RaiseSuggestion(
        tenders_pb2.RaiseSuggestionRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            meeting_id=meeting_id,
            point_id=point_id,
            title=body.title if body else "",
        ),
        metadata=who.metadata,
    )
    response.headers["Location"] = (
        f"/api/v1/estates/{estate_id}/suggestions/{reply.suggestion.suggestion_id}"
    )
    return RaisedOut(meeting=_meeting(reply.meeting), suggestion=_detail(reply.suggestion))
