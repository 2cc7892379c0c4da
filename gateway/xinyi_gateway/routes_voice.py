"""REST routes of owners' voice: suggestions, complaints and inquiries to rectification; surveys.

Inquiries are a kind of suggestion: `kind: "inquiry"` with a `subject_ref` naming the ledger entry
or disbursement they ask about (`entry:<uuid>`, `disbursement:<uuid>`), opened by supervisors.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from google.protobuf import timestamp_pb2
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from xinyi.voting.v1 import voice_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, IdempotencyKey, Svc, iso
from xinyi_gateway.limits import Allowance
from xinyi_gateway.uploads import file_body, read_file

router = APIRouter(prefix="/api/v1/estates/{estate_id}", tags=["voice"])

MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
# The global body limit stays small; only photo uploads take more.
BODY_ALLOWANCES: list[Allowance] = [
    ("POST", re.compile(r"/api/v1/estates/[^/]+/suggestions/[^/]+/photos"), MAX_PHOTO_BYTES),
]
PHOTO_BODY = file_body(PHOTO_TYPES, MAX_PHOTO_BYTES)

SuggestionId = Annotated[str, Path(pattern=UUID_PATTERN, description="Suggestion UUID")]
SurveyId = Annotated[str, Path(pattern=UUID_PATTERN, description="Survey UUID")]
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The photo's sha256, hex")]
Kind = Literal["suggestion", "complaint", "inquiry"]
State = Literal["submitted", "answered", "committed", "rectified", "confirmed", "reopened"]


def _encodable(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"), which no protobuf string can hold.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


# Bounds on size only; the service states what is wrong with the content.
Plain = Annotated[str, AfterValidator(_encodable)]
Text = Annotated[Plain, Field(max_length=5000)]


# -- suggestions ------------------------------------------------------------------------------
class SuggestionIn(BaseModel):
    kind: Kind
    subject_ref: Plain = Field(
        default="",
        max_length=100,
        description="Inquiries only: entry:<uuid> or disbursement:<uuid>",
        examples=["entry:7f1c0d3e-2b4a-4c8e-9f10-1a2b3c4d5e6f"],
    )
    title: Plain = Field(max_length=200)
    body: Text


class StepIn(BaseModel):
    text: Text


class OptionalStepIn(BaseModel):
    text: Text = ""


class CommitmentIn(BaseModel):
    text: Text = Field(description="What will be done")
    due_on: str = Field(
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="YYYY-MM-DD (Asia/Shanghai), today or later: due by the end of that day",
    )


class StepOut(BaseModel):
    state: str
    at: str | None
    by_role: str
    by_user_id: str | None = Field(
        description="Null for residents, except to themselves and those who may see personal data"
    )
    by_name: str | None
    by_me: bool
    text: str
    due_on: str | None


class PhotoOut(BaseModel):
    sha256: str
    media_type: str
    size: int
    added_at: str | None
    added_by_role: str


class SuggestionOut(BaseModel):
    suggestion_id: str
    kind: str
    subject_ref: str | None
    title: str
    body: str
    state: str
    submitted_by_role: str
    submitted_by_me: bool
    submitted_at: str | None
    updated_at: str | None
    due_on: str | None
    due_at: str | None
    overdue: bool = Field(description="Committed and past its due date, now")


class SuggestionDetailOut(SuggestionOut):
    timeline: list[StepOut] = Field(description="Every step, oldest first")
    photos: list[PhotoOut]


def _summary(s: voice_pb2.Suggestion) -> dict[str, Any]:
    return {
        "suggestion_id": s.suggestion_id,
        "kind": s.kind,
        "subject_ref": s.subject_ref or None,
        "title": s.title,
        "body": s.body,
        "state": s.state,
        "submitted_by_role": s.submitted_by_role,
        "submitted_by_me": s.submitted_by_me,
        "submitted_at": iso(s.submitted_at),
        "updated_at": iso(s.updated_at),
        "due_on": s.due_on or None,
        "due_at": iso(s.due_at),
        "overdue": s.overdue,
    }


def _detail(s: voice_pb2.Suggestion) -> SuggestionDetailOut:
    return SuggestionDetailOut(
        **_summary(s),
        timeline=[
            StepOut(
                state=t.state,
                at=iso(t.at),
                by_role=t.by_role,
                by_user_id=t.by_user_id or None,
                by_name=t.by_name or None,
                by_me=t.by_me,
                text=t.text,
                due_on=t.due_on or None,
            )
            for t in s.timeline
        ],
        photos=[
            PhotoOut(
                sha256=p.sha256,
                media_type=p.media_type,
                size=p.size,
                added_at=iso(p.added_at),
                added_by_role=p.added_by_role,
            )
            for p in s.photos
        ],
    )


def _location(response: Response, estate_id: str, suggestion_id: str) -> None:
    response.headers["Location"] = f"/api/v1/estates/{estate_id}/suggestions/{suggestion_id}"


@router.post(
    "/suggestions",
    response_model=SuggestionDetailOut,
    status_code=201,
    summary="Submit a suggestion or complaint (owners, tenants, committee, supervisors), or open "
    "an inquiry on a ledger entry or disbursement (supervisors: kind inquiry, subject_ref "
    "entry:<uuid> or disbursement:<uuid>)",
)
async def submit(
    estate_id: EstateId,
    body: SuggestionIn,
    who: Authed,
    svc: Svc,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SuggestionDetailOut:
    reply = await svc.voice.SubmitSuggestion(
        voice_pb2.SubmitSuggestionRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            kind=body.kind,
            subject_ref=body.subject_ref,
            title=body.title,
            body=body.body,
        ),
        metadata=who.metadata,
    )
    _location(response, estate_id, reply.suggestion_id)
    return _detail(reply)


@router.get(
    "/suggestions",
    response_model=list[SuggestionOut],
    summary="Suggestions, complaints and inquiries of the estate, newest first (everyone in it)",
)
async def list_suggestions(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    state: Annotated[State | None, Query()] = None,
    kind: Annotated[Kind | None, Query()] = None,
    overdue: Annotated[bool, Query(description="Only committed items past due")] = False,
) -> list[SuggestionOut]:
    reply = await svc.voice.ListSuggestions(
        voice_pb2.ListSuggestionsRequest(
            estate_id=estate_id, state=state or "", kind=kind or "", overdue_only=overdue
        ),
        metadata=who.metadata,
    )
    return [SuggestionOut(**_summary(s)) for s in reply.suggestions]


@router.get(
    "/suggestions/{suggestion_id}",
    response_model=SuggestionDetailOut,
    summary="One item with its timeline and photos",
)
async def get_suggestion(
    estate_id: EstateId, suggestion_id: SuggestionId, who: Authed, svc: Svc
) -> SuggestionDetailOut:
    reply = await svc.voice.GetSuggestion(
        voice_pb2.GetSuggestionRequest(estate_id=estate_id, suggestion_id=suggestion_id),
        metadata=who.metadata,
    )
    return _detail(reply)


@router.post(
    "/suggestions/{suggestion_id}/answer",
    response_model=SuggestionDetailOut,
    summary="The company answers (from submitted or reopened)",
)
async def answer(
    estate_id: EstateId,
    suggestion_id: SuggestionId,
    body: StepIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> SuggestionDetailOut:
    reply = await svc.voice.AnswerSuggestion(
        voice_pb2.AnswerSuggestionRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            suggestion_id=suggestion_id,
            text=body.text,
        ),
        metadata=who.metadata,
    )
    return _detail(reply)


@router.post(
    "/suggestions/{suggestion_id}/commitment",
    response_model=SuggestionDetailOut,
    summary="The company commits to a rectification due by a date (from submitted, answered or "
    "reopened); past the date it reads as overdue",
)
async def commitment(
    estate_id: EstateId,
    suggestion_id: SuggestionId,
    body: CommitmentIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> SuggestionDetailOut:
    reply = await svc.voice.CommitRectification(
        voice_pb2.CommitRectificationRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            suggestion_id=suggestion_id,
            text=body.text,
            due_on=body.due_on,
        ),
        metadata=who.metadata,
    )
    return _detail(reply)


@router.post(
    "/suggestions/{suggestion_id}/rectification",
    response_model=SuggestionDetailOut,
    summary="The company reports the rectification done (from committed)",
)
async def rectification(
    estate_id: EstateId,
    suggestion_id: SuggestionId,
    body: StepIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> SuggestionDetailOut:
    reply = await svc.voice.ReportRectified(
        voice_pb2.ReportRectifiedRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            suggestion_id=suggestion_id,
            text=body.text,
        ),
        metadata=who.metadata,
    )
    return _detail(reply)


@router.post(
    "/suggestions/{suggestion_id}/confirmation",
    response_model=SuggestionDetailOut,
    summary="The submitter confirms the answer or rectification (from answered or rectified)",
)
async def confirmation(
    estate_id: EstateId,
    suggestion_id: SuggestionId,
    who: Authed,
    svc: Svc,
    body: OptionalStepIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> SuggestionDetailOut:
    reply = await svc.voice.ConfirmSuggestion(
        voice_pb2.ConfirmSuggestionRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            suggestion_id=suggestion_id,
            text=body.text if body else "",
        ),
        metadata=who.metadata,
    )
    return _detail(reply)


@router.post(
    "/suggestions/{suggestion_id}/reopening",
    response_model=SuggestionDetailOut,
    summary="The submitter reopens it, saying why (from answered or rectified): back to the "
    "company",
)
async def reopening(
    estate_id: EstateId,
    suggestion_id: SuggestionId,
    body: StepIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> SuggestionDetailOut:
    reply = await svc.voice.ReopenSuggestion(
        voice_pb2.ReopenSuggestionRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            suggestion_id=suggestion_id,
            text=body.text,
        ),
        metadata=who.metadata,
    )
    return _detail(reply)


@router.post(
    "/suggestions/{suggestion_id}/photos",
    response_model=SuggestionDetailOut,
    status_code=201,
    summary="Attach a photo as the raw body: JPEG, PNG or WebP, at most 5 MiB, at most 6 per item "
    "(the submitter, or the company as evidence); the same bytes again change nothing",
    openapi_extra=PHOTO_BODY,
)
async def add_photo(
    estate_id: EstateId, suggestion_id: SuggestionId, request: Request, who: Authed, svc: Svc
) -> SuggestionDetailOut | Response:
    got = await read_file(request, PHOTO_TYPES, MAX_PHOTO_BYTES, "a photo")
    if isinstance(got, Response):
        return got
    content, declared = got
    reply = await svc.voice.AddSuggestionPhoto(
        voice_pb2.AddSuggestionPhotoRequest(
            estate_id=estate_id, suggestion_id=suggestion_id, media_type=declared, content=content
        ),
        metadata=who.metadata,
        timeout=30.0,
    )
    return _detail(reply)


@router.get(
    "/suggestions/{suggestion_id}/photos/{sha256}",
    summary="A photo of an item",
    response_class=Response,
    responses={200: {"content": {t: {} for t in PHOTO_TYPES}}},
)
async def photo(
    estate_id: EstateId,
    suggestion_id: SuggestionId,
    sha256: Sha256,
    request: Request,
    who: Authed,
    svc: Svc,
) -> Response:
    reply = await svc.voice.GetSuggestionPhoto(
        voice_pb2.GetSuggestionPhotoRequest(
            estate_id=estate_id, suggestion_id=suggestion_id, sha256=sha256
        ),
        metadata=who.metadata,
        timeout=30.0,
    )
    headers = {
        "ETag": f'"{reply.sha256}"',
        # Private: only members of the estate may see it. Immutable: a sha names its bytes.
        "Cache-Control": "private, max-age=31536000, immutable",
        "Vary": "Authorization",
        "Content-Disposition": (
            f'inline; filename="{reply.sha256[:16]}{PHOTO_TYPES.get(reply.media_type, "")}"'
        ),
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(reply.content, media_type=reply.media_type, headers=headers)


# -- surveys ----------------------------------------------------------------------------------
class QuestionIn(BaseModel):
    text: Plain = Field(max_length=500)
    kind: Literal["scale", "choice"] = Field(description="scale: 1 to 5; choice: one of options")
    options: list[Annotated[Plain, Field(max_length=100)]] = Field(
        default_factory=list, max_length=10
    )
    satisfaction: bool = Field(
        default=False,
        description="The overall satisfaction question (a scale; at most one): its 4s and 5s "
        "are the estate's satisfaction KPI. Unmarked, the first scale question is it.",
    )


class SurveyIn(BaseModel):
    title: Plain = Field(max_length=200)
    description: Text = ""
    questions: list[QuestionIn] = Field(min_length=1, max_length=30)
    closes_at: AwareDatetime = Field(description="When it closes, with a time zone; within a year")


class AnswerIn(BaseModel):
    question_id: Plain = Field(max_length=20, examples=["q1"])
    value: int = Field(
        ge=0, le=100, description="Scale questions: 1 to 5; choice questions: the option index"
    )


class SurveyAnswerIn(BaseModel):
    answers: list[AnswerIn] = Field(min_length=1, max_length=30)


class QuestionOut(BaseModel):
    question_id: str
    text: str
    kind: str
    options: list[str]
    satisfaction: bool = Field(description="The question the satisfaction KPI counts")


class QuestionResultOut(BaseModel):
    question_id: str
    respondents: int
    counts: list[int] = Field(
        description="Scale: how many answered 1, 2, 3, 4, 5; choice: per option, in order"
    )
    mean: str | None = Field(description='Scale only: exact, e.g. "17/4"')
    mean_text: str | None = Field(description='Scale only: two decimals, half up, e.g. "4.25"')


class SurveyOut(BaseModel):
    survey_id: str
    title: str
    description: str
    questions: list[QuestionOut]
    state: str
    published_by_role: str
    published_at: str | None
    closes_at: str | None
    closed_at: str | None
    respondents: int
    answered_by_me: bool
    results: list[QuestionResultOut] | None = Field(
        description="Per question, once the survey is closed; null while it is open"
    )


def _result(r: voice_pb2.QuestionResult) -> QuestionResultOut:
    scale = r.WhichOneof("result") == "scale"
    return QuestionResultOut(
        question_id=r.question_id,
        respondents=r.respondents,
        counts=list(r.scale.counts if scale else r.choice.counts),
        mean=r.scale.mean if scale else None,
        mean_text=r.scale.mean_text if scale else None,
    )


def _survey(s: voice_pb2.Survey, *, with_results: bool = True) -> SurveyOut:
    return SurveyOut(
        survey_id=s.survey_id,
        title=s.title,
        description=s.description,
        questions=[
            QuestionOut(
                question_id=q.question_id,
                text=q.text,
                kind=q.kind,
                options=list(q.options),
                satisfaction=q.satisfaction,
            )
            for q in s.questions
        ],
        state=s.state,
        published_by_role=s.published_by_role,
        published_at=iso(s.published_at),
        closes_at=iso(s.closes_at),
        closed_at=iso(s.closed_at),
        respondents=s.respondents,
        answered_by_me=s.answered_by_me,
        results=[_result(r) for r in s.results] if with_results and s.state == "closed" else None,
    )


@router.post(
    "/surveys",
    response_model=SurveyOut,
    status_code=201,
    summary="Publish a satisfaction survey, open at once (approving body or company manager)",
)
async def publish_survey(
    estate_id: EstateId,
    body: SurveyIn,
    who: Authed,
    svc: Svc,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SurveyOut:
    closes_at = timestamp_pb2.Timestamp()
    closes_at.FromDatetime(body.closes_at.astimezone(UTC))
    reply = await svc.voice.PublishSurvey(
        voice_pb2.PublishSurveyRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            title=body.title,
            description=body.description,
            questions=[
                voice_pb2.SurveyQuestion(
                    text=q.text, kind=q.kind, options=q.options, satisfaction=q.satisfaction
                )
                for q in body.questions
            ],
            closes_at=closes_at,
        ),
        metadata=who.metadata,
    )
    response.headers["Location"] = f"/api/v1/estates/{estate_id}/surveys/{reply.survey_id}"
    return _survey(reply)


@router.get(
    "/surveys",
    response_model=list[SurveyOut],
    summary="The estate's surveys, newest first (results: see each survey)",
)
async def list_surveys(estate_id: EstateId, who: Authed, svc: Svc) -> list[SurveyOut]:
    reply = await svc.voice.ListSurveys(
        voice_pb2.ListSurveysRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_survey(s, with_results=False) for s in reply.surveys]


@router.get(
    "/surveys/{survey_id}",
    response_model=SurveyOut,
    summary="A survey, with its results per question once closed",
)
async def get_survey(estate_id: EstateId, survey_id: SurveyId, who: Authed, svc: Svc) -> SurveyOut:
    reply = await svc.voice.GetSurvey(
        voice_pb2.GetSurveyRequest(estate_id=estate_id, survey_id=survey_id),
        metadata=who.metadata,
    )
    return _survey(reply)


@router.put(
    "/surveys/{survey_id}/answer",
    response_model=SurveyOut,
    summary="Answer every question (owners and tenants): one answer per person, replaced by "
    "answering again until the survey closes",
)
async def answer_survey(
    estate_id: EstateId, survey_id: SurveyId, body: SurveyAnswerIn, who: Authed, svc: Svc
) -> SurveyOut:
    reply = await svc.voice.AnswerSurvey(
        voice_pb2.AnswerSurveyRequest(
            estate_id=estate_id,
            survey_id=survey_id,
            answers=[
                voice_pb2.SurveyAnswer(question_id=a.question_id, value=a.value)
                for a in body.answers
            ],
        ),
        metadata=who.metadata,
    )
    return _survey(reply)


@router.post(
    "/surveys/{survey_id}/close",
    response_model=SurveyOut,
    summary="Close a survey before its time and publish its results (approving body or company "
    "manager); closing a closed survey changes nothing",
)
async def close_survey(
    estate_id: EstateId, survey_id: SurveyId, who: Authed, svc: Svc
) -> SurveyOut:
    reply = await svc.voice.CloseSurvey(
        voice_pb2.CloseSurveyRequest(estate_id=estate_id, survey_id=survey_id),
        metadata=who.metadata,
    )
    return _survey(reply)
