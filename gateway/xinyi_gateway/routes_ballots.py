"""REST routes of the owners' assembly: ballots from draft to final, votes and receipts."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AwareDatetime, BaseModel, Field

from xinyi.common.v1 import common_pb2
from xinyi.voting.v1 import voting_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, IdempotencyKey, Svc, iso
from xinyi_gateway.limits import Allowance
from xinyi_gateway.uploads import file_body, read_file

router = APIRouter(prefix="/api/v1/estates/{estate_id}/ballots", tags=["voting"])
BallotId = Annotated[str, Path(pattern=UUID_PATTERN)]
SUBJECT_KINDS = {
    k.removeprefix("KIND_").lower(): v for k, v in common_pb2.DecisionSubject.Kind.items() if v
}


class CandidateIO(BaseModel):
    candidate_id: str = Field(default="", max_length=40, pattern=r"^[\w-]*$")
    name: str = Field(min_length=1, max_length=200)


class SubjectIO(BaseModel):
    kind: Literal[tuple(SUBJECT_KINDS)]  # type: ignore[valid-type]
    id: str = Field(min_length=1, max_length=100)


class QuestionIO(BaseModel):
    question_id: str = Field(default="", max_length=40, pattern=r"^[\w-]*$")
    text: str = Field(min_length=1, max_length=4000)
    matter_class: int = Field(
        ge=1, le=9, description="Civil Code art. 278 item (1-9); it fixes the thresholds"
    )
    kind: Literal["yes_no", "candidates"] = "yes_no"
    seats: int = Field(default=0, ge=0, le=100)
    candidates: list[CandidateIO] = Field(default_factory=list, max_length=100)
    subject: SubjectIO | None = None


class BallotIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    questions: list[QuestionIO] = Field(min_length=1, max_length=50)
    petition_id: str = Field(
        default="", pattern=f"^$|{UUID_PATTERN}", description="The petition that called it"
    )


class AttachmentOut(BaseModel):
    sha256: str
    filename: str
    content_type: str
    size: int


class BallotOut(BaseModel):
    ballot_id: str
    title: str
    state: str
    description: str
    questions: list[QuestionIO]
    announced_at: str | None
    voting_opens_at: str | None
    voting_closes_at: str | None
    objection_days: int
    closed_at: str | None
    objections_until: str | None
    finalized_at: str | None
    roll_units: int
    roll_area_centi_m2: int
    roll_headcount: int
    roll_as_of: str | None
    receipts_counted: int
    cancelled_reason: str | None
    petition_id: str | None
    attachments: list[AttachmentOut]


def _ballot(b: voting_pb2.Ballot) -> BallotOut:
    return BallotOut(
        ballot_id=b.ballot_id,
        title=b.title,
        state=b.state,
        description=b.description,
        questions=[
            QuestionIO(
                question_id=q.question_id,
                text=q.text,
                matter_class=int(q.matter_class),
                kind=q.kind,
                seats=q.seats,
                candidates=[
                    CandidateIO(candidate_id=c.candidate_id, name=c.name) for c in q.candidates
                ],
                subject=SubjectIO(
                    kind=common_pb2.DecisionSubject.Kind.Name(q.subject.kind)
                    .removeprefix("KIND_")
                    .lower(),
                    id=q.subject.id,
                )
                if q.subject.kind
                else None,
            )
            for q in b.questions
        ],
        announced_at=iso(b.announced_at),
        voting_opens_at=iso(b.voting_opens_at),
        voting_closes_at=iso(b.voting_closes_at),
        objection_days=b.objection_days,
        closed_at=iso(b.closed_at),
        objections_until=iso(b.objections_until),
        finalized_at=iso(b.finalized_at),
        roll_units=b.roll_units,
        roll_area_centi_m2=b.roll_area_centi_m2,
        roll_headcount=b.roll_headcount,
        roll_as_of=iso(b.roll_as_of),
        receipts_counted=b.receipts_counted,
        cancelled_reason=b.cancelled_reason or None,
        petition_id=b.petition_id or None,
        attachments=[
            AttachmentOut(
                sha256=a.sha256, filename=a.filename, content_type=a.content_type, size=a.size
            )
            for a in b.attachments
        ],
    )


def _stamp(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


@router.get("", response_model=list[BallotOut], summary="The estate's ballots, newest first")
async def list_ballots(estate_id: EstateId, who: Authed, svc: Svc) -> list[BallotOut]:
    reply = await svc.voting.ListBallots(
        voting_pb2.ListBallotsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_ballot(b) for b in reply.ballots]


@router.post(
    "", response_model=BallotOut, status_code=201, summary="Draft an assembly's ballot (committee)"
)
async def create_ballot(
    estate_id: EstateId,
    body: BallotIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> BallotOut:
    questions = [
        voting_pb2.Question(
            question_id=q.question_id,
            text=q.text,
            matter_class=q.matter_class,  # type: ignore[arg-type]
            kind=q.kind,
            seats=q.seats,
            candidates=[
                voting_pb2.Candidate(candidate_id=c.candidate_id, name=c.name) for c in q.candidates
            ],
            subject=common_pb2.DecisionSubject(
                kind=SUBJECT_KINDS[q.subject.kind],  # type: ignore[arg-type]
                id=q.subject.id,
            )
            if q.subject
            else None,
        )
        for q in body.questions
    ]
    return _ballot(
        await svc.voting.CreateBallot(
            voting_pb2.CreateBallotRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                title=body.title,
                description=body.description,
                questions=questions,
                petition_id=body.petition_id,
            ),
            metadata=who.metadata,
        )
    )


@router.get("/{ballot_id}", response_model=BallotOut, summary="One ballot with its questions")
async def get_ballot(estate_id: EstateId, ballot_id: BallotId, who: Authed, svc: Svc) -> BallotOut:
    return _ballot(
        await svc.voting.GetBallot(
            voting_pb2.GetBallotRequest(estate_id=estate_id, ballot_id=ballot_id),
            metadata=who.metadata,
        )
    )


class AnnounceIn(BaseModel):
    voting_opens_at: AwareDatetime = Field(description="At least 15 days from now")
    voting_closes_at: AwareDatetime
    objection_days: int = Field(default=7, ge=1, le=60)


@router.post(
    "/{ballot_id}/announce",
    response_model=BallotOut,
    summary="Announce: the roll is published for objections; voting opens 15 days later at least",
)
async def announce(
    estate_id: EstateId, ballot_id: BallotId, body: AnnounceIn, who: Authed, svc: Svc
) -> BallotOut:
    return _ballot(
        await svc.voting.AnnounceBallot(
            voting_pb2.AnnounceBallotRequest(
                estate_id=estate_id,
                ballot_id=ballot_id,
                voting_opens_at=_stamp(body.voting_opens_at),
                voting_closes_at=_stamp(body.voting_closes_at),
                objection_days=body.objection_days,
            ),
            metadata=who.metadata,
        )
    )


async def _step(method: Any, estate_id: str, ballot_id: str, who: Authed) -> BallotOut:
    return _ballot(
        await method(
            voting_pb2.BallotRef(estate_id=estate_id, ballot_id=ballot_id), metadata=who.metadata
        )
    )


@router.post(
    "/{ballot_id}/open",
    response_model=BallotOut,
    summary="Open voting as announced; the roll is frozen as of this instant",
)
async def open_ballot(estate_id: EstateId, ballot_id: BallotId, who: Authed, svc: Svc) -> BallotOut:
    return await _step(svc.voting.OpenBallot, estate_id, ballot_id, who)


@router.post(
    "/{ballot_id}/close",
    response_model=BallotOut,
    summary="Close voting as announced: count, publish the result, open objections",
)
async def close_ballot(
    estate_id: EstateId, ballot_id: BallotId, who: Authed, svc: Svc
) -> BallotOut:
    return await _step(svc.voting.CloseBallot, estate_id, ballot_id, who)


@router.post(
    "/{ballot_id}/finalize",
    response_model=BallotOut,
    summary="After the objection window: the result is final and its decisions take effect",
)
async def finalize_ballot(
    estate_id: EstateId, ballot_id: BallotId, who: Authed, svc: Svc
) -> BallotOut:
    return await _step(svc.voting.FinalizeBallot, estate_id, ballot_id, who)


class CancelIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/{ballot_id}/cancel", response_model=BallotOut, summary="Cancel before the count")
async def cancel_ballot(
    estate_id: EstateId, ballot_id: BallotId, body: CancelIn, who: Authed, svc: Svc
) -> BallotOut:
    return _ballot(
        await svc.voting.CancelBallot(
            voting_pb2.CancelBallotRequest(
                estate_id=estate_id, ballot_id=ballot_id, reason=body.reason
            ),
            metadata=who.metadata,
        )
    )


class ChoiceIO(BaseModel):
    question_id: str = Field(min_length=1, max_length=40)
    answer: Literal["yes", "no", "abstain"] | None = None
    candidate_ids: list[str] = Field(default_factory=list, max_length=100)


class VoteIn(BaseModel):
    choices: list[ChoiceIO] = Field(min_length=1, max_length=50)


def _choice_in(choices: list[ChoiceIO]) -> list[voting_pb2.Choice]:
    return [
        voting_pb2.Choice(
            question_id=c.question_id, answer=c.answer or "", candidate_ids=c.candidate_ids
        )
        for c in choices
    ]


class ReceiptOut(BaseModel):
    receipt_code: str
    state: Literal["counted", "superseded"]
    superseded_by: str | None
    cast_at: str | None
    voter_key: str
    unit_count: int
    area_centi_m2: int
    choices: list[ChoiceIO]
    channel: Literal["online", "proxy", "paper"]
    scan_sha256: str | None


class VoteOut(BaseModel):
    receipts: list[ReceiptOut]


def _receipt(r: voting_pb2.Receipt) -> ReceiptOut:
    return ReceiptOut(
        receipt_code=r.receipt_code,
        state=r.state,
        superseded_by=r.superseded_by or None,
        cast_at=iso(r.cast_at),
        voter_key=r.voter_key,
        unit_count=r.unit_count,
        area_centi_m2=r.area_centi_m2,
        choices=[
            ChoiceIO(
                question_id=c.question_id,
                answer=c.answer or None,
                candidate_ids=list(c.candidate_ids),
            )
            for c in r.choices
        ],
        channel=r.channel or "online",
        scan_sha256=r.scan_sha256 or None,
    )


@router.put(
    "/{ballot_id}/vote",
    response_model=VoteOut,
    summary="Vote, or change my vote, for every holding of mine on the roll; a receipt each",
)
async def vote(
    estate_id: EstateId,
    ballot_id: BallotId,
    body: VoteIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> VoteOut:
    reply = await svc.voting.CastVote(
        voting_pb2.CastVoteRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            ballot_id=ballot_id,
            choices=_choice_in(body.choices),
        ),
        metadata=who.metadata,
    )
    return VoteOut(receipts=[_receipt(r) for r in reply.receipts])


@router.get(
    "/{ballot_id}/vote", response_model=VoteOut, summary="My receipts on this ballot, newest first"
)
async def my_vote(estate_id: EstateId, ballot_id: BallotId, who: Authed, svc: Svc) -> VoteOut:
    reply = await svc.voting.GetMyVote(
        voting_pb2.BallotRef(estate_id=estate_id, ballot_id=ballot_id), metadata=who.metadata
    )
    return VoteOut(receipts=[_receipt(r) for r in reply.receipts])


@router.get(
    "/{ballot_id}/receipts/{code}",
    response_model=ReceiptOut,
    summary="Whether a receipt is counted or superseded",
)
async def receipt(
    estate_id: EstateId,
    ballot_id: BallotId,
    code: Annotated[str, Path(pattern=r"^[0-9A-Fa-f]{4}(-[0-9A-Fa-f]{4}){3}$")],
    who: Authed,
    svc: Svc,
) -> ReceiptOut:
    return _receipt(
        await svc.voting.GetReceipt(
            voting_pb2.GetReceiptRequest(
                estate_id=estate_id, ballot_id=ballot_id, receipt_code=code
            ),
            metadata=who.metadata,
        )
    )


class ResultOut(BaseModel):
    ballot: BallotOut
    document: dict[str, Any] = Field(
        description="Format xinyi-assembly-result/1: every figure and counted receipt; "
        "services/voting/recount.py recounts it"
    )


@router.get(
    "/{ballot_id}/result",
    response_model=ResultOut,
    summary="The published result with every figure and the receipts to recount it",
)
async def result(estate_id: EstateId, ballot_id: BallotId, who: Authed, svc: Svc) -> ResultOut:
    reply = await svc.voting.GetResult(
        voting_pb2.BallotRef(estate_id=estate_id, ballot_id=ballot_id), metadata=who.metadata
    )
    return ResultOut(ballot=_ballot(reply.ballot), document=json.loads(reply.document_json))


class RollLineOut(BaseModel):
    unit_id: str
    building: str
    number: str
    area_centi_m2: int
    owner_count: int
    holding: str = Field(description="The same for every unit one owner (or co-owners) holds")


class RollOut(BaseModel):
    state: str
    roll_as_of: str | None
    units: int
    area_centi_m2: int
    headcount: int
    lines: list[RollLineOut] | None = Field(
        description="Unit by unit for the approving body, supervisors and the company; "
        "null for everyone else, who see the totals"
    )


@router.get(
    "/{ballot_id}/roll",
    response_model=RollOut,
    summary="The roll published for objections (frozen once voting opens)",
)
async def roll(estate_id: EstateId, ballot_id: BallotId, who: Authed, svc: Svc) -> RollOut:
    r = await svc.voting.GetRoll(
        voting_pb2.BallotRef(estate_id=estate_id, ballot_id=ballot_id), metadata=who.metadata
    )
    detailed = r.detailed
    return RollOut(
        state=r.state,
        roll_as_of=iso(r.roll_as_of),
        units=r.units,
        area_centi_m2=r.area_centi_m2,
        headcount=r.headcount,
        lines=[
            RollLineOut(
                unit_id=x.unit_id,
                building=x.building,
                number=x.number,
                area_centi_m2=x.area_centi_m2,
                owner_count=x.owner_count,
                holding=x.holding,
            )
            for x in r.lines
        ]
        if detailed
        else None,
    )


# -- proxies -------------------------------------------------------------------------------------
class ProxyIn(BaseModel):
    proxy_username: str = Field(min_length=1, max_length=100)


class ProxyOut(BaseModel):
    proxy_id: str
    grantor_username: str
    proxy_username: str
    state: Literal["active", "revoked"]
    granted_at: str | None
    revoked_at: str | None


def _proxy(p: voting_pb2.Proxy) -> ProxyOut:
    return ProxyOut(
        proxy_id=p.proxy_id,
        grantor_username=p.grantor_username,
        proxy_username=p.proxy_username,
        state=p.state,
        granted_at=iso(p.granted_at),
        revoked_at=iso(p.revoked_at),
    )


@router.post(
    "/{ballot_id}/proxies",
    response_model=ProxyOut,
    status_code=201,
    summary="Name a proxy for my holdings on this ballot (replaces an earlier one)",
)
async def grant_proxy(
    estate_id: EstateId,
    ballot_id: BallotId,
    body: ProxyIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> ProxyOut:
    return _proxy(
        await svc.voting.GrantProxy(
            voting_pb2.GrantProxyRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                ballot_id=ballot_id,
                proxy_username=body.proxy_username,
            ),
            metadata=who.metadata,
        )
    )


@router.delete(
    "/{ballot_id}/proxies/{proxy_id}", response_model=ProxyOut, summary="Revoke my proxy"
)
async def revoke_proxy(
    estate_id: EstateId,
    ballot_id: BallotId,
    proxy_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    who: Authed,
    svc: Svc,
) -> ProxyOut:
    return _proxy(
        await svc.voting.RevokeProxy(
            voting_pb2.RevokeProxyRequest(
                estate_id=estate_id, ballot_id=ballot_id, proxy_id=proxy_id
            ),
            metadata=who.metadata,
        )
    )


@router.get(
    "/{ballot_id}/proxies",
    response_model=list[ProxyOut],
    summary="Proxies I gave or hold (the approving body: all of them)",
)
async def list_proxies(
    estate_id: EstateId, ballot_id: BallotId, who: Authed, svc: Svc
) -> list[ProxyOut]:
    reply = await svc.voting.ListProxies(
        voting_pb2.BallotRef(estate_id=estate_id, ballot_id=ballot_id), metadata=who.metadata
    )
    return [_proxy(p) for p in reply.proxies]


# -- paper ballots -------------------------------------------------------------------------------
SCAN_TYPES = ("image/jpeg", "image/png", "application/pdf")
MAX_SCAN_BYTES = 10 * 1024 * 1024
BODY_ALLOWANCES: list[Allowance] = [
    ("POST", re.compile(r"/api/v1/estates/[^/]+/ballots/[^/]+/scans"), MAX_SCAN_BYTES),
    ("POST", re.compile(r"/api/v1/estates/[^/]+/ballots/[^/]+/attachments"), MAX_SCAN_BYTES),
]


class ScanOut(BaseModel):
    sha256: str
    content_type: str
    size: int


@router.post(
    "/{ballot_id}/scans",
    response_model=ScanOut,
    status_code=201,
    summary="Keep the scan of a signed paper ballot (approving body): the raw body",
    openapi_extra=file_body(SCAN_TYPES, MAX_SCAN_BYTES),
)
async def upload_scan(
    estate_id: EstateId, ballot_id: BallotId, request: Request, who: Authed, svc: Svc
) -> ScanOut | Response:
    got = await read_file(request, SCAN_TYPES, MAX_SCAN_BYTES, "a scan")
    if isinstance(got, Response):
        return got
    content, declared = got
    reply = await svc.voting.UploadScan(
        voting_pb2.UploadScanRequest(
            estate_id=estate_id, ballot_id=ballot_id, content=content, content_type=declared
        ),
        metadata=who.metadata,
        timeout=30,
    )
    return ScanOut(sha256=reply.sha256, content_type=reply.content_type, size=reply.size)


@router.get(
    "/{ballot_id}/scans/{sha256}",
    summary="A paper ballot's scan (approving body, supervisors, the company)",
    response_class=Response,
)
async def get_scan(
    estate_id: EstateId,
    ballot_id: BallotId,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    who: Authed,
    svc: Svc,
) -> Response:
    reply = await svc.voting.GetScan(
        voting_pb2.GetScanRequest(estate_id=estate_id, ballot_id=ballot_id, sha256=sha256),
        metadata=who.metadata,
        timeout=30,
    )
    return Response(
        reply.content,
        media_type=reply.scan.content_type,
        headers={"Cache-Control": "private, max-age=3600, immutable"},
    )


@router.post(
    "/{ballot_id}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    summary="Attach a document the ballot decides on (approving body, until voting opens): "
    "the raw body, PDF, JPEG or PNG",
    openapi_extra=file_body(SCAN_TYPES, MAX_SCAN_BYTES),
)
async def add_attachment(
    estate_id: EstateId,
    ballot_id: BallotId,
    request: Request,
    who: Authed,
    svc: Svc,
    filename: Annotated[str, Query(max_length=255)] = "",
) -> AttachmentOut | Response:
    got = await read_file(request, SCAN_TYPES, MAX_SCAN_BYTES, "an attachment")
    if isinstance(got, Response):
        return got
    content, _ = got
    a = await svc.voting.AddAttachment(
        voting_pb2.AddAttachmentRequest(
            estate_id=estate_id, ballot_id=ballot_id, filename=filename, content=content
        ),
        metadata=who.metadata,
        timeout=30,
    )
    return AttachmentOut(
        sha256=a.sha256, filename=a.filename, content_type=a.content_type, size=a.size
    )


@router.get(
    "/{ballot_id}/attachments/{sha256}",
    summary="A ballot's attachment (everyone in the estate)",
    response_class=Response,
)
async def get_attachment(
    estate_id: EstateId,
    ballot_id: BallotId,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    who: Authed,
    svc: Svc,
) -> Response:
    reply = await svc.voting.GetAttachment(
        voting_pb2.GetAttachmentRequest(estate_id=estate_id, ballot_id=ballot_id, sha256=sha256),
        metadata=who.metadata,
        timeout=30,
    )
    name = reply.attachment.filename
    return Response(
        reply.content,
        media_type=reply.attachment.content_type,
        headers={
            "Cache-Control": "private, max-age=3600, immutable",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


class PaperVoteIn(VoteIn):
    unit_id: str = Field(pattern=UUID_PATTERN, description="Any unit of the holding")
    scan_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


@router.post(
    "/{ballot_id}/paper-votes",
    response_model=VoteOut,
    status_code=201,
    summary="Enter a signed paper ballot with its scan (approving body)",
)
async def paper_vote(
    estate_id: EstateId,
    ballot_id: BallotId,
    body: PaperVoteIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> VoteOut:
    reply = await svc.voting.EnterPaperVote(
        voting_pb2.EnterPaperVoteRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            ballot_id=ballot_id,
            unit_id=body.unit_id,
            scan_sha256=body.scan_sha256,
            choices=_choice_in(body.choices),
        ),
        metadata=who.metadata,
    )
    return VoteOut(receipts=[_receipt(r) for r in reply.receipts])


# -- petitions for an extraordinary assembly -----------------------------------------------------
petitions = APIRouter(prefix="/api/v1/estates/{estate_id}/petitions", tags=["voting"])
PetitionId = Annotated[str, Path(pattern=UUID_PATTERN)]


class PetitionIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=20_000)


class PetitionOut(BaseModel):
    petition_id: str
    title: str
    reason: str
    created_at: str | None
    state: Literal["collecting", "reached", "answered"]
    signed_headcount: int
    total_headcount: int
    threshold: str = Field(description="At least this share of the headcount: 1/5")
    reached_at: str | None
    ballot_id: str | None
    signed_by_me: bool


def _petition(p: voting_pb2.Petition) -> PetitionOut:
    return PetitionOut(
        petition_id=p.petition_id,
        title=p.title,
        reason=p.reason,
        created_at=iso(p.created_at),
        state=p.state,
        signed_headcount=p.signed_headcount,
        total_headcount=p.total_headcount,
        threshold=p.threshold,
        reached_at=iso(p.reached_at),
        ballot_id=p.ballot_id or None,
        signed_by_me=p.signed_by_me,
    )


@petitions.post(
    "",
    response_model=PetitionOut,
    status_code=201,
    summary="Petition for an extraordinary assembly (owner); my holdings sign it",
)
async def create_petition(
    estate_id: EstateId,
    body: PetitionIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> PetitionOut:
    return _petition(
        await svc.voting.CreatePetition(
            voting_pb2.CreatePetitionRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                title=body.title,
                reason=body.reason,
            ),
            metadata=who.metadata,
        )
    )


@petitions.get("", response_model=list[PetitionOut], summary="The estate's petitions")
async def list_petitions(estate_id: EstateId, who: Authed, svc: Svc) -> list[PetitionOut]:
    reply = await svc.voting.ListPetitions(
        voting_pb2.ListPetitionsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_petition(p) for p in reply.petitions]


@petitions.get("/{petition_id}", response_model=PetitionOut, summary="One petition")
async def get_petition(
    estate_id: EstateId, petition_id: PetitionId, who: Authed, svc: Svc
) -> PetitionOut:
    return _petition(
        await svc.voting.GetPetition(
            voting_pb2.PetitionRef(estate_id=estate_id, petition_id=petition_id),
            metadata=who.metadata,
        )
    )


@petitions.post(
    "/{petition_id}/signatures",
    response_model=PetitionOut,
    summary="Sign a petition for my holdings (owner); signing twice changes nothing",
)
async def sign_petition(
    estate_id: EstateId, petition_id: PetitionId, who: Authed, svc: Svc
) -> PetitionOut:
    return _petition(
        await svc.voting.SignPetition(
            voting_pb2.PetitionRef(estate_id=estate_id, petition_id=petition_id),
            metadata=who.metadata,
        )
    )
