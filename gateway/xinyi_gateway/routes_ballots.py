"""REST routes of the owners' assembly: ballots from draft to final, votes and receipts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AwareDatetime, BaseModel, Field

from xinyi.common.v1 import common_pb2
from xinyi.voting.v1 import voting_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, IdempotencyKey, Svc, iso

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


class ReceiptOut(BaseModel):
    receipt_code: str
    state: Literal["counted", "superseded"]
    superseded_by: str | None
    cast_at: str | None
    voter_key: str
    unit_count: int
    area_centi_m2: int
    choices: list[ChoiceIO]


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
            choices=[
                voting_pb2.Choice(
                    question_id=c.question_id, answer=c.answer or "", candidate_ids=c.candidate_ids
                )
                for c in body.choices
            ],
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
