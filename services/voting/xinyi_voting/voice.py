"""Owners' voice: suggestions, complaints and inquiries tracked to rectification, and surveys.

An item moves submitted → answered → committed (with a due date) → rectified → confirmed, or is
reopened by its submitter and goes back to the company. Every step is kept, append-only, with
its time, the role it was taken in and its text, and every state change emits
`suggestion_updated` in the same transaction. A committed item past its due date reads as
overdue. Photos are kept here by sha256 (a few images per item, checked by their bytes).

Surveys: the approving body or the company manager publishes questions (a 1-5 scale or a
choice); owners and tenants answer, one answer per person, replaceable until the survey closes;
the results per question are published only once it is closed. One scale question is the
survey's satisfaction question (满意度): its share of 4s and 5s is what `survey_closed` carries to
the estate's KPIs, whether the publisher closes the survey early or its closing time passes
(`close_due_surveys` notices that).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, Final, Literal, TypeVar
from zoneinfo import ZoneInfo

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy import Date, DateTime, Integer, LargeBinary, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from xinyi.identity.v1 import identity_pb2_grpc
from xinyi.voting.v1 import events_pb2, voice_pb2, voice_pb2_grpc
from xinyi_kit import auth, clock, idempotency
from xinyi_kit.auth import Principal
from xinyi_kit.db import Database
from xinyi_kit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from xinyi_kit.files import NAMES, sniff
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import (
    MATRIX,
    RESIDENTS,
    Action,
    Role,
    allowed,
    authorize_estate,
    roles_in,
)
from xinyi_voting.owners import owners
from xinyi_voting.store import Base, known

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
KINDS: Final = ("suggestion", "complaint", "inquiry")
STATES: Final = ("submitted", "answered", "committed", "rectified", "confirmed", "reopened")
# The state a step enters -> the states it may be taken from.
TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "answered": ("submitted", "reopened"),
    "committed": ("submitted", "answered", "reopened"),
    "rectified": ("committed",),
    "confirmed": ("answered", "rectified"),
    "reopened": ("answered", "rectified"),
}
VERB: Final = {
    "answered": "answered",
    "committed": "committed to",
    "rectified": "reported rectified",
    "confirmed": "confirmed",
    "reopened": "reopened",
}
SUBJECT_REF: Final = re.compile(
    r"^(entry|disbursement):([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})$"
)
SHA256: Final = re.compile(r"^[0-9a-f]{64}$")
MAX_TITLE: Final = 200
MAX_BODY: Final = 5000
MAX_STEP_TEXT: Final = 5000
MAX_DUE_DAYS: Final = 366
MAX_LIST: Final = 500

MAX_PHOTOS: Final = 6
MAX_PHOTO_BYTES: Final = 5 * 1024 * 1024
# The photo types accepted; the declared type must agree with the bytes (xinyi_kit.files).
PHOTO_TYPES: Final = ("image/jpeg", "image/png", "image/webp")

MAX_QUESTIONS: Final = 30
MAX_OPTIONS: Final = 10
MAX_QUESTION_TEXT: Final = 500
MAX_OPTION_TEXT: Final = 100
MAX_DESCRIPTION: Final = 5000
MAX_SURVEY_DAYS: Final = 366
SCALE: Final = range(1, 6)
# Answers on the satisfaction question that count as satisfied: 4 (satisfied) and 5 (very).
SATISFIED: Final = range(4, 6)

R = TypeVar("R", bound=Message)
log = logging.getLogger(__name__)
# How often surveys past their closing time are looked for (the clock may be moved in tests).
SWEEP_SECONDS: Final = 2.0


# -- tables ------------------------------------------------------------------------------------
class SuggestionRow(Base):
    __tablename__ = "suggestions"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    suggestion_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject_ref: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    submitter_user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    submitter_role: Mapped[str] = mapped_column(String(40))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StepRow(Base):
    """One step of an item's timeline; append-only (a trigger refuses changes)."""

    __tablename__ = "suggestion_steps"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    suggestion_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    by_user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    by_role: Mapped[str] = mapped_column(String(40))
    by_name: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class PhotoRow(Base):
    """A photo's bytes, once per estate however many items show it."""

    __tablename__ = "voice_photos"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ItemPhotoRow(Base):
    __tablename__ = "suggestion_photos"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    suggestion_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    added_by_user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    added_by_role: Mapped[str] = mapped_column(String(40))


class SurveyRow(Base):
    __tablename__ = "surveys"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # [{"question_id": "q1", "text": ..., "kind": "scale" | "choice", "options": [...],
    #   "satisfaction": bool}, ...]
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[uuid.UUID] = mapped_column(UUID)
    published_by_role: Mapped[str] = mapped_column(String(40))
    closes_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SurveyAnswerRow(Base):
    __tablename__ = "survey_answers"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    # One answer per unit: the unit's id for an owner (one row per unit they hold), or
    # "user:<id>" for someone who holds none (a tenant).
    respondent: Mapped[str] = mapped_column(String(60), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    # {"q1": 4, "q2": 0, ...}: a scale value 1-5, or a choice's option index.
    answers: Mapped[dict[str, int]] = mapped_column(JSONB)
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- pure rules --------------------------------------------------------------------------------
def clean_text(value: str, what: str, limit: int, *, required: bool = True) -> str:
    """Trimmed text without control characters other than line breaks and tabs."""
    text = value.strip()
    if required and not text:
        raise InvalidArgument(f"{what} is required")
    if len(text) > limit:
        raise InvalidArgument(f"{what} has at most {limit} characters, not {len(text)}")
    if any(not c.isprintable() and c not in "\n\r\t" for c in text):
        raise InvalidArgument(f"{what} contains control characters; send plain text")
    return text


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidArgument(f"kind is one of {', '.join(KINDS)}, not {kind[:40] or 'empty'}")
    return kind


def check_subject_ref(kind: str, ref: str) -> str:
    """An inquiry names what it asks about; suggestions and complaints name nothing."""
    ref = ref.strip()
    if kind != "inquiry":
        if ref:
            raise InvalidArgument("only inquiries name a subject_ref; leave it empty")
        return ""
    match = SUBJECT_REF.match(ref)
    if match is None:
        raise InvalidArgument(
            "an inquiry names the ledger entry or disbursement it asks about as subject_ref: "
            f"entry:<uuid> or disbursement:<uuid>, not {ref[:100] or 'empty'}"
        )
    return f"{match.group(1)}:{match.group(2).lower()}"


def check_transition(kind: str, state: str, target: str) -> None:
    if state not in TRANSITIONS[target]:
        raise FailedPrecondition(
            f"this {kind} is {state}; it can be {VERB[target]} only when it is "
            f"{' or '.join(TRANSITIONS[target])}"
        )


def today() -> date:
    return clock.now().astimezone(SHANGHAI).date()


def parse_due_on(value: str) -> tuple[date, datetime]:
    """A due date, today or later (Asia/Shanghai), and the instant it ends."""
    try:
        day = date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidArgument(f"due_on must be a date, YYYY-MM-DD, not {value[:40] or 'empty'}")
    now = today()
    if day < now:
        raise InvalidArgument(f"due_on {day} has passed; commit to today ({now}) or later")
    if day > now + timedelta(days=MAX_DUE_DAYS):
        raise InvalidArgument(f"due_on is at most {MAX_DUE_DAYS} days ahead")
    end = datetime.combine(day + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)
    return day, end


def is_overdue(row: SuggestionRow, now: datetime) -> bool:
    return row.state == "committed" and row.due_at is not None and now >= row.due_at


def check_photo(content: bytes, declared: str) -> str:
    """The photo's sha256, once its size and type are acceptable and its bytes match its type."""
    if not content:
        raise InvalidArgument("the photo is empty")
    if len(content) > MAX_PHOTO_BYTES:
        raise InvalidArgument(
            f"the photo is larger than the limit of {MAX_PHOTO_BYTES} bytes (5 MiB)"
        )
    if declared not in PHOTO_TYPES:
        raise InvalidArgument(
            f"a photo is one of {', '.join(PHOTO_TYPES)}, not {declared[:100] or 'unnamed'}"
        )
    found = sniff(content, PHOTO_TYPES)
    if found != declared:
        said = f"a {NAMES[found]}" if found else "none of the accepted image types"
        raise InvalidArgument(
            f"the photo is declared {NAMES[declared]} but its bytes say it is {said}; "
            "send it with its true type"
        )
    return hashlib.sha256(content).hexdigest()


def acting_role(principal: Principal, estate_id: uuid.UUID, action: Action) -> str:
    """The role the caller acts in: the first of theirs (in the matrix's order) that allows it."""
    mine = roles_in(principal, estate_id) & MATRIX[action]
    return next(role.value for role in Role if role in mine)


def check_questions(questions: Iterable[voice_pb2.SurveyQuestion]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, q in enumerate(questions, start=1):
        what = f"question {n}"
        text = clean_text(q.text, f"{what}'s text", MAX_QUESTION_TEXT)
        if q.kind == "scale":
            if q.options:
                raise InvalidArgument(f"{what} is a 1-5 scale and has no options")
            options: list[str] = []
        elif q.kind == "choice":
            options = [clean_text(o, f"an option of {what}", MAX_OPTION_TEXT) for o in q.options]
            if not 2 <= len(options) <= MAX_OPTIONS:
                raise InvalidArgument(f"{what} offers 2 to {MAX_OPTIONS} options")
            if len(set(options)) != len(options):
                raise InvalidArgument(f"{what} lists an option twice")
        else:
            raise InvalidArgument(f"{what}'s kind is scale or choice, not {q.kind[:40] or 'empty'}")
        if q.satisfaction and q.kind != "scale":
            raise InvalidArgument(f"{what} measures satisfaction, so it is a 1-5 scale")
        out.append(
            {
                "question_id": f"q{n}",
                "text": text,
                "kind": q.kind,
                "options": options,
                "satisfaction": q.satisfaction,
            }
        )
    if not 1 <= len(out) <= MAX_QUESTIONS:
        raise InvalidArgument(f"a survey has 1 to {MAX_QUESTIONS} questions")
    marked = [q for q in out if q["satisfaction"]]
    if len(marked) > 1:
        raise InvalidArgument("mark at most one question as the survey's satisfaction question")
    # Unmarked, the first scale question is the satisfaction question (the usual 总体满意度).
    first_scale = next((q for q in out if q["kind"] == "scale"), None)
    if not marked and first_scale is not None:
        first_scale["satisfaction"] = True
    return out


def satisfaction_question(questions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The marked question; in a survey published before questions were marked, the first
    scale question, as publishing marks it now."""
    if any("satisfaction" in q for q in questions):
        return next((q for q in questions if q["satisfaction"]), None)
    return next((q for q in questions if q["kind"] == "scale"), None)


def satisfaction_permille(satisfied: int, answered: int) -> int:
    """Per mille, half up; -1 when nobody answered."""
    if not answered:
        return -1
    return int(Fraction(satisfied * 1000, answered) + Fraction(1, 2))


def survey_closed_event(
    row: SurveyRow, closed_at: datetime, answers: Iterable[dict[str, int]]
) -> events_pb2.SurveyClosed:
    """What a closed survey tells the estate's KPIs: its satisfaction question's answers."""
    given = list(answers)
    event = events_pb2.SurveyClosed(
        estate_id=str(row.estate_id),
        survey_id=str(row.survey_id),
        title=row.title,
        respondents=len(given),
        satisfaction_permille=-1,
    )
    event.closed_at.FromDatetime(closed_at)
    question = satisfaction_question(row.questions)
    if question is None:
        return event
    (result,) = tally_survey([question], given)
    counts = list(result.scale.counts)
    satisfied = sum(counts[v - 1] for v in SATISFIED)
    event.question_id, event.question_text = question["question_id"], question["text"]
    event.counts.extend(counts)
    event.satisfied = satisfied
    event.satisfaction_permille = satisfaction_permille(satisfied, sum(counts))
    return event


def check_answers(
    questions: list[dict[str, Any]], answers: Iterable[voice_pb2.SurveyAnswer]
) -> dict[str, int]:
    """One valid answer for every question, keyed by question id."""
    by_id = {q["question_id"]: q for q in questions}
    out: dict[str, int] = {}
    for a in answers:
        q = by_id.get(a.question_id)
        if q is None:
            raise InvalidArgument(f"this survey has no question {a.question_id[:20]!r}")
        if a.question_id in out:
            raise InvalidArgument(f"{a.question_id} is answered twice")
        if q["kind"] == "scale" and a.value not in SCALE:
            raise InvalidArgument(f"{a.question_id} is answered on a scale of 1 to 5")
        if q["kind"] == "choice" and not 0 <= a.value < len(q["options"]):
            raise InvalidArgument(
                f"{a.question_id} is answered with an option index from 0 to "
                f"{len(q['options']) - 1}"
            )
        out[a.question_id] = a.value
    missing = [qid for qid in by_id if qid not in out]
    if missing:
        raise InvalidArgument(f"answer every question; missing: {', '.join(missing)}")
    return out


def mean_text(mean: Fraction) -> str:
    """Two decimals, half up: 17/4 -> "4.25", 13/3 -> "4.33"."""
    hundredths = (mean * 100 * 2 + 1) // 2
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def tally_survey(
    questions: list[dict[str, Any]], answers: Iterable[dict[str, int]]
) -> list[voice_pb2.QuestionResult]:
    counts = {
        q["question_id"]: [0] * (len(SCALE) if q["kind"] == "scale" else len(q["options"]))
        for q in questions
    }
    scales = {q["question_id"] for q in questions if q["kind"] == "scale"}
    for answer in answers:
        for qid, value in answer.items():
            # Scale values count from 1, option indexes from 0.
            index = value - 1 if qid in scales else value
            if qid in counts and 0 <= index < len(counts[qid]):
                counts[qid][index] += 1
    results = []
    for q in questions:
        c = counts[q["question_id"]]
        respondents = sum(c)
        result = voice_pb2.QuestionResult(question_id=q["question_id"], respondents=respondents)
        if q["kind"] == "scale":
            total = sum((i + 1) * n for i, n in enumerate(c))
            mean = Fraction(total, respondents) if respondents else Fraction(0)
            result.scale.CopyFrom(
                voice_pb2.ScaleResult(
                    counts=c,
                    mean=f"{mean.numerator}/{mean.denominator}",
                    mean_text=mean_text(mean),
                )
            )
        else:
            result.choice.CopyFrom(voice_pb2.ChoiceResult(counts=c))
        results.append(result)
    return results


# -- messages ----------------------------------------------------------------------------------
def _stamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{what} must be a UUID") from None


@dataclass(frozen=True)
class Viewer:
    """Who reads: residents' names and ids are shown only to themselves and to those whose
    duties need personal data."""

    user_id: str
    sees_people: bool

    @classmethod
    def of(cls, principal: Principal, estate_id: uuid.UUID) -> Viewer:
        return cls(principal.user_id, allowed(principal, Action.OWNERS_READ_PERSONAL, estate_id))

    def shows(self, user_id: uuid.UUID, role: str) -> bool:
        return self.sees_people or role not in RESIDENTS or str(user_id) == self.user_id


def suggestion_pb(
    row: SuggestionRow,
    viewer: Viewer,
    now: datetime,
    steps: Iterable[StepRow] = (),
    photos: Iterable[ItemPhotoRow] = (),
    sizes: dict[str, tuple[str, int]] | None = None,
) -> voice_pb2.Suggestion:
    sizes = sizes or {}
    return voice_pb2.Suggestion(
        estate_id=str(row.estate_id),
        suggestion_id=str(row.suggestion_id),
        kind=row.kind,
        subject_ref=row.subject_ref,
        title=row.title,
        body=row.body,
        state=row.state,
        submitted_by_role=row.submitter_role,
        submitted_by_me=str(row.submitter_user_id) == viewer.user_id,
        submitted_at=_stamp(row.submitted_at),
        updated_at=_stamp(row.updated_at),
        due_on=row.due_on.isoformat() if row.due_on else "",
        due_at=_stamp(row.due_at),
        overdue=is_overdue(row, now),
        timeline=[
            voice_pb2.SuggestionStep(
                state=s.state,
                at=_stamp(s.at),
                by_role=s.by_role,
                by_user_id=str(s.by_user_id) if viewer.shows(s.by_user_id, s.by_role) else "",
                by_name=s.by_name if viewer.shows(s.by_user_id, s.by_role) else "",
                by_me=str(s.by_user_id) == viewer.user_id,
                text=s.text,
                due_on=s.due_on.isoformat() if s.due_on else "",
            )
            for s in steps
        ],
        photos=[
            voice_pb2.SuggestionPhoto(
                sha256=p.sha256,
                media_type=sizes.get(p.sha256, ("", 0))[0],
                size=sizes.get(p.sha256, ("", 0))[1],
                added_at=_stamp(p.added_at),
                added_by_role=p.added_by_role,
            )
            for p in photos
        ],
    )


def survey_state(row: SurveyRow, now: datetime) -> tuple[str, datetime | None]:
    """open or closed, and when it closed."""
    if row.closed_at is not None:
        return "closed", row.closed_at
    if now >= row.closes_at:
        return "closed", row.closes_at
    return "open", None


# -- queries -----------------------------------------------------------------------------------
async def _suggestion(
    session: AsyncSession, estate_id: uuid.UUID, suggestion_id: uuid.UUID, *, lock: bool = False
) -> SuggestionRow:
    query = select(SuggestionRow).where(
        SuggestionRow.estate_id == estate_id, SuggestionRow.suggestion_id == suggestion_id
    )
    row = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if row is None:
        raise NotFound("this estate has no such suggestion, complaint or inquiry")
    return row


async def _full(session: AsyncSession, row: SuggestionRow, viewer: Viewer) -> voice_pb2.Suggestion:
    keys = (StepRow.estate_id == row.estate_id, StepRow.suggestion_id == row.suggestion_id)
    steps = (await session.execute(select(StepRow).where(*keys).order_by(StepRow.seq))).scalars()
    photos = list(
        (
            await session.execute(
                select(ItemPhotoRow)
                .where(
                    ItemPhotoRow.estate_id == row.estate_id,
                    ItemPhotoRow.suggestion_id == row.suggestion_id,
                )
                .order_by(ItemPhotoRow.added_at, ItemPhotoRow.sha256)
            )
        ).scalars()
    )
    sizes: dict[str, tuple[str, int]] = {}
    if photos:
        meta = await session.execute(
            select(PhotoRow.sha256, PhotoRow.media_type, PhotoRow.size).where(
                PhotoRow.estate_id == row.estate_id,
                PhotoRow.sha256.in_([p.sha256 for p in photos]),
            )
        )
        sizes = {sha: (media_type, size) for sha, media_type, size in meta.all()}
    return suggestion_pb(row, viewer, clock.now(), steps, photos, sizes)


async def _add_step(
    session: AsyncSession,
    row: SuggestionRow,
    principal: Principal,
    role: str,
    state: str,
    text: str,
    due_on: date | None = None,
) -> None:
    last = await session.scalar(
        select(func.coalesce(func.max(StepRow.seq), 0)).where(
            StepRow.estate_id == row.estate_id, StepRow.suggestion_id == row.suggestion_id
        )
    )
    at = clock.now()
    session.add(
        StepRow(
            estate_id=row.estate_id,
            suggestion_id=row.suggestion_id,
            seq=int(last or 0) + 1,
            state=state,
            at=at,
            by_user_id=uuid.UUID(principal.user_id),
            by_role=role,
            by_name=(principal.display_name or principal.username)[:200],
            text=text,
            due_on=due_on,
        )
    )
    row.state = state
    row.updated_at = at
    await session.flush()


# -- the servicer ------------------------------------------------------------------------------
class VoiceApi(voice_pb2_grpc.VoiceServiceServicer):
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        identity: Callable[[], grpc.aio.Channel] | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self._identity_channel = identity

    async def _own_units(self, estate_id: uuid.UUID) -> set[str]:
        """The units the caller holds now, from identity's owners as the caller may see them
        (an owner sees their own records with their account on them)."""
        if self._identity_channel is None:
            return set()
        stub = identity_pb2_grpc.IdentityServiceStub(self._identity_channel())
        caller = auth.current()
        me = caller.user_id if caller else ""
        return {
            unit
            async for o in owners(stub, estate_id)
            if o.user_id and o.user_id == me
            for unit in o.unit_ids
        }

    async def _emit(self, session: AsyncSession, row: SuggestionRow) -> None:
        await self.outbox.emit(
            session,
            row.estate_id,
            "suggestion_updated",
            events_pb2.SuggestionUpdated(
                estate_id=str(row.estate_id),
                suggestion_id=str(row.suggestion_id),
                state=row.state,
                kind=row.kind,
                submitter_user_id=str(row.submitter_user_id),
                due_at=_stamp(row.due_at),
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

    # -- suggestions ---------------------------------------------------------------------------
    async def SubmitSuggestion(
        self, request: voice_pb2.SubmitSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Suggestion:
        kind = check_kind(request.kind)
        action = Action.INQUIRY_OPEN if kind == "inquiry" else Action.SUGGESTION_SUBMIT
        principal, estate_id = authorize_estate(action, request.estate_id)
        subject_ref = check_subject_ref(kind, request.subject_ref)
        title = clean_text(request.title, "title", MAX_TITLE)
        body = clean_text(request.body, "body", MAX_BODY)
        role = acting_role(principal, estate_id, action)

        async def run(session: AsyncSession) -> voice_pb2.Suggestion:
            if not await known(session, estate_id):
                raise NotFound("no such estate (or its registration has not reached voting yet)")
            now = clock.now()
            row = SuggestionRow(
                estate_id=estate_id,
                suggestion_id=uuid.uuid4(),
                kind=kind,
                subject_ref=subject_ref,
                title=title,
                body=body,
                state="submitted",
                submitter_user_id=uuid.UUID(principal.user_id),
                submitter_role=role,
                submitted_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            await _add_step(session, row, principal, role, "submitted", body)
            await self._emit(session, row)
            return await _full(session, row, Viewer.of(principal, estate_id))

        return await self._once(
            estate_id, principal, "SubmitSuggestion", request, voice_pb2.Suggestion, run
        )

    async def ListSuggestions(
        self, request: voice_pb2.ListSuggestionsRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.ListSuggestionsResponse:
        principal, estate_id = authorize_estate(Action.VOICE_READ, request.estate_id)
        now = clock.now()
        query = (
            select(SuggestionRow)
            .where(SuggestionRow.estate_id == estate_id)
            .order_by(SuggestionRow.submitted_at.desc(), SuggestionRow.suggestion_id)
            .limit(MAX_LIST)
        )
        if request.state:
            if request.state not in STATES:
                raise InvalidArgument(f"state is one of {', '.join(STATES)}")
            query = query.where(SuggestionRow.state == request.state)
        if request.kind:
            query = query.where(SuggestionRow.kind == check_kind(request.kind))
        if request.overdue_only:
            query = query.where(SuggestionRow.state == "committed", SuggestionRow.due_at <= now)
        viewer = Viewer.of(principal, estate_id)
        async with self.db.estate_tx(estate_id) as session:
            rows = (await session.execute(query)).scalars()
            return voice_pb2.ListSuggestionsResponse(
                suggestions=[suggestion_pb(r, viewer, now) for r in rows]
            )

    async def GetSuggestion(
        self, request: voice_pb2.GetSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Suggestion:
        principal, estate_id = authorize_estate(Action.VOICE_READ, request.estate_id)
        suggestion_id = _uuid(request.suggestion_id, "suggestion_id")
        async with self.db.estate_tx(estate_id) as session:
            row = await _suggestion(session, estate_id, suggestion_id)
            return await _full(session, row, Viewer.of(principal, estate_id))

    async def _company_step(
        self,
        request: Any,
        method: str,
        target: str,
        text: str,
        due: tuple[date, datetime] | None = None,
    ) -> voice_pb2.Suggestion:
        principal, estate_id = authorize_estate(Action.SUGGESTION_HANDLE, request.estate_id)
        suggestion_id = _uuid(request.suggestion_id, "suggestion_id")
        role = acting_role(principal, estate_id, Action.SUGGESTION_HANDLE)

        async def run(session: AsyncSession) -> voice_pb2.Suggestion:
            row = await _suggestion(session, estate_id, suggestion_id, lock=True)
            check_transition(row.kind, row.state, target)
            if due is not None:
                row.due_on, row.due_at = due
            await _add_step(session, row, principal, role, target, text, due[0] if due else None)
            await self._emit(session, row)
            return await _full(session, row, Viewer.of(principal, estate_id))

        return await self._once(estate_id, principal, method, request, voice_pb2.Suggestion, run)

    async def _submitter_step(
        self, request: Any, method: str, target: str, text: str
    ) -> voice_pb2.Suggestion:
        principal, estate_id = authorize_estate(Action.VOICE_READ, request.estate_id)
        suggestion_id = _uuid(request.suggestion_id, "suggestion_id")

        async def run(session: AsyncSession) -> voice_pb2.Suggestion:
            row = await _suggestion(session, estate_id, suggestion_id, lock=True)
            if str(row.submitter_user_id) != principal.user_id:
                verb = "confirm" if target == "confirmed" else "reopen"
                raise PermissionDenied(
                    f"only the person who submitted this {row.kind} may {verb} it"
                )
            check_transition(row.kind, row.state, target)
            await _add_step(session, row, principal, row.submitter_role, target, text)
            await self._emit(session, row)
            return await _full(session, row, Viewer.of(principal, estate_id))

        return await self._once(estate_id, principal, method, request, voice_pb2.Suggestion, run)

    async def AnswerSuggestion(
        self, request: voice_pb2.AnswerSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Suggestion:
        text = clean_text(request.text, "the answer", MAX_STEP_TEXT)
        return await self._company_step(request, "AnswerSuggestion", "answered", text)

    async def CommitRectification(
        self, request: voice_pb2.CommitRectificationRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Suggestion:
        text = clean_text(request.text, "what will be done", MAX_STEP_TEXT)
        due = parse_due_on(request.due_on.strip())
        return await self._company_step(request, "CommitRectification", "committed", text, due)

    async def ReportRectified(
        self, request: voice_pb2.ReportRectifiedRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Suggestion:
        text = clean_text(request.text, "what was done", MAX_STEP_TEXT)
        return await self._company_step(request, "ReportRectified", "rectified", text)

    async def ConfirmSuggestion(
        self, request: voice_pb2.ConfirmSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Suggestion:
        text = clean_text(request.text, "text", MAX_STEP_TEXT, required=False)
        return await self._submitter_step(request, "ConfirmSuggestion", "confirmed", text)

    async def ReopenSuggestion(
        self, request: voice_pb2.ReopenSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Suggestion:
        text = clean_text(request.text, "why it is reopened", MAX_STEP_TEXT)
        return await self._submitter_step(request, "ReopenSuggestion", "reopened", text)

    async def AddSuggestionPhoto(
        self, request: voice_pb2.AddSuggestionPhotoRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Suggestion:
        principal, estate_id = authorize_estate(Action.VOICE_READ, request.estate_id)
        suggestion_id = _uuid(request.suggestion_id, "suggestion_id")
        sha = check_photo(request.content, request.media_type)
        handler = allowed(principal, Action.SUGGESTION_HANDLE, estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await _suggestion(session, estate_id, suggestion_id, lock=True)
            mine = str(row.submitter_user_id) == principal.user_id
            if not mine and not handler:
                raise PermissionDenied(
                    f"photos are added by the person who submitted this {row.kind}, or by the "
                    "company as evidence of its work"
                )
            viewer = Viewer.of(principal, estate_id)
            if await session.get(ItemPhotoRow, (estate_id, suggestion_id, sha)) is not None:
                return await _full(session, row, viewer)
            if row.state == "confirmed":
                raise FailedPrecondition(f"this {row.kind} is confirmed: it takes no more photos")
            count = await session.scalar(
                select(func.count()).where(
                    ItemPhotoRow.estate_id == estate_id,
                    ItemPhotoRow.suggestion_id == suggestion_id,
                )
            )
            if (count or 0) >= MAX_PHOTOS:
                raise FailedPrecondition(
                    f"this {row.kind} has {MAX_PHOTOS} photos, the most it takes"
                )
            await session.execute(
                insert(PhotoRow)
                .values(
                    estate_id=estate_id,
                    sha256=sha,
                    media_type=request.media_type,
                    size=len(request.content),
                    content=request.content,
                )
                .on_conflict_do_nothing()
            )
            now = clock.now()
            session.add(
                ItemPhotoRow(
                    estate_id=estate_id,
                    suggestion_id=suggestion_id,
                    sha256=sha,
                    added_at=now,
                    added_by_user_id=uuid.UUID(principal.user_id),
                    added_by_role=(
                        row.submitter_role
                        if mine
                        else acting_role(principal, estate_id, Action.SUGGESTION_HANDLE)
                    ),
                )
            )
            row.updated_at = now
            await session.flush()
            return await _full(session, row, viewer)

    async def GetSuggestionPhoto(
        self, request: voice_pb2.GetSuggestionPhotoRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.SuggestionPhotoFile:
        _, estate_id = authorize_estate(Action.VOICE_READ, request.estate_id)
        suggestion_id = _uuid(request.suggestion_id, "suggestion_id")
        if not SHA256.match(request.sha256):
            raise InvalidArgument("sha256 must be 64 lowercase hex digits")
        async with self.db.estate_tx(estate_id) as session:
            found = (
                await session.execute(
                    select(PhotoRow)
                    .join(
                        ItemPhotoRow,
                        (ItemPhotoRow.estate_id == PhotoRow.estate_id)
                        & (ItemPhotoRow.sha256 == PhotoRow.sha256),
                    )
                    .where(
                        ItemPhotoRow.estate_id == estate_id,
                        ItemPhotoRow.suggestion_id == suggestion_id,
                        ItemPhotoRow.sha256 == request.sha256,
                    )
                )
            ).scalar_one_or_none()
        if found is None:
            raise NotFound("this item has no such photo")
        return voice_pb2.SuggestionPhotoFile(
            sha256=found.sha256, media_type=found.media_type, content=found.content
        )

    # -- surveys -------------------------------------------------------------------------------
    async def _survey_pb(
        self,
        session: AsyncSession,
        row: SurveyRow,
        principal: Principal,
        *,
        results: bool,
    ) -> voice_pb2.Survey:
        state, closed_at = survey_state(row, clock.now())
        keys = (
            SurveyAnswerRow.estate_id == row.estate_id,
            SurveyAnswerRow.survey_id == row.survey_id,
        )
        respondents = await session.scalar(select(func.count()).where(*keys)) or 0
        mine = (
            await session.execute(
                select(SurveyAnswerRow)
                .where(*keys, SurveyAnswerRow.user_id == uuid.UUID(principal.user_id))
                .order_by(SurveyAnswerRow.answered_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        marked = satisfaction_question(row.questions)
        reply = voice_pb2.Survey(
            estate_id=str(row.estate_id),
            survey_id=str(row.survey_id),
            title=row.title,
            description=row.description,
            questions=[
                voice_pb2.SurveyQuestion(
                    question_id=q["question_id"],
                    text=q["text"],
                    kind=q["kind"],
                    options=q["options"],
                    satisfaction=q is marked,
                )
                for q in row.questions
            ],
            state=state,
            published_by_role=row.published_by_role,
            published_at=_stamp(row.published_at),
            closes_at=_stamp(row.closes_at),
            closed_at=_stamp(closed_at),
            respondents=respondents,
            answered_by_me=mine is not None,
        )
        if results and state == "closed":
            answers = (
                await session.execute(select(SurveyAnswerRow.answers).where(*keys))
            ).scalars()
            reply.results.extend(tally_survey(row.questions, answers))
        return reply

    async def _survey(
        self,
        session: AsyncSession,
        estate_id: uuid.UUID,
        survey_id: str,
        *,
        lock: Literal["share", "update"] | None = None,
    ) -> SurveyRow:
        """A survey; answers lock it to share (they run side by side), closing to update (it
        waits for answers in flight, and later ones see it closed)."""
        query = select(SurveyRow).where(
            SurveyRow.estate_id == estate_id, SurveyRow.survey_id == _uuid(survey_id, "survey_id")
        )
        if lock:
            query = query.with_for_update(read=lock == "share")
        row = (await session.execute(query)).scalar_one_or_none()
        if row is None:
            raise NotFound("this estate has no such survey")
        return row

    async def PublishSurvey(
        self, request: voice_pb2.PublishSurveyRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Survey:
        principal, estate_id = authorize_estate(Action.SURVEY_PUBLISH, request.estate_id)
        title = clean_text(request.title, "title", MAX_TITLE)
        description = clean_text(
            request.description, "description", MAX_DESCRIPTION, required=False
        )
        questions = check_questions(request.questions)
        if not request.HasField("closes_at"):
            raise InvalidArgument("closes_at is required: when the survey closes")
        closes_at = request.closes_at.ToDatetime(tzinfo=UTC)
        now = clock.now()
        if closes_at <= now:
            raise InvalidArgument("closes_at must be in the future")
        if closes_at > now + timedelta(days=MAX_SURVEY_DAYS):
            raise InvalidArgument(f"a survey closes within {MAX_SURVEY_DAYS} days")
        role = acting_role(principal, estate_id, Action.SURVEY_PUBLISH)

        async def run(session: AsyncSession) -> voice_pb2.Survey:
            if not await known(session, estate_id):
                raise NotFound("no such estate (or its registration has not reached voting yet)")
            row = SurveyRow(
                estate_id=estate_id,
                survey_id=uuid.uuid4(),
                title=title,
                description=description,
                questions=questions,
                published_at=now,
                published_by=uuid.UUID(principal.user_id),
                published_by_role=role,
                closes_at=closes_at,
            )
            session.add(row)
            await session.flush()
            return await self._survey_pb(session, row, principal, results=True)

        return await self._once(
            estate_id, principal, "PublishSurvey", request, voice_pb2.Survey, run
        )

    async def ListSurveys(
        self, request: voice_pb2.ListSurveysRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.ListSurveysResponse:
        principal, estate_id = authorize_estate(Action.VOICE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            rows = (
                await session.execute(
                    select(SurveyRow)
                    .where(SurveyRow.estate_id == estate_id)
                    .order_by(SurveyRow.published_at.desc(), SurveyRow.survey_id)
                    .limit(MAX_LIST)
                )
            ).scalars()
            return voice_pb2.ListSurveysResponse(
                surveys=[await self._survey_pb(session, r, principal, results=False) for r in rows]
            )

    async def GetSurvey(
        self, request: voice_pb2.GetSurveyRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Survey:
        principal, estate_id = authorize_estate(Action.VOICE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._survey(session, estate_id, request.survey_id)
            return await self._survey_pb(session, row, principal, results=True)

    async def AnswerSurvey(
        self, request: voice_pb2.AnswerSurveyRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Survey:
        principal, estate_id = authorize_estate(Action.SURVEY_ANSWER, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._survey(session, estate_id, request.survey_id, lock="share")
            if survey_state(row, clock.now())[0] == "closed":
                raise FailedPrecondition("this survey is closed; it takes no more answers")
            answers = check_answers(row.questions, request.answers)
            values = {
                "answers": answers,
                "answered_at": clock.now(),
                "user_id": uuid.UUID(principal.user_id),
            }
            units = await self._own_units(estate_id)
            for respondent in sorted(units) or [f"user:{principal.user_id}"]:
                await session.execute(
                    insert(SurveyAnswerRow)
                    .values(
                        estate_id=estate_id,
                        survey_id=row.survey_id,
                        respondent=respondent,
                        **values,
                    )
                    .on_conflict_do_update(
                        index_elements=[
                            SurveyAnswerRow.estate_id,
                            SurveyAnswerRow.survey_id,
                            SurveyAnswerRow.respondent,
                        ],
                        set_=values,
                    )
                )
            return await self._survey_pb(session, row, principal, results=True)

    async def CloseSurvey(
        self, request: voice_pb2.CloseSurveyRequest, context: grpc.aio.ServicerContext
    ) -> voice_pb2.Survey:
        principal, estate_id = authorize_estate(Action.SURVEY_PUBLISH, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._survey(session, estate_id, request.survey_id, lock="update")
            if row.closed_at is None:
                # Closed now, or at its closing time if that passed before anyone noticed.
                await self._close(session, row, min(clock.now(), row.closes_at))
            return await self._survey_pb(session, row, principal, results=True)

    async def _close(self, session: AsyncSession, row: SurveyRow, at: datetime) -> None:
        """Records the survey closed (it is locked for update) and publishes its satisfaction."""
        row.closed_at = at
        await session.flush()
        answers = (
            await session.execute(
                select(SurveyAnswerRow.answers).where(
                    SurveyAnswerRow.estate_id == row.estate_id,
                    SurveyAnswerRow.survey_id == row.survey_id,
                )
            )
        ).scalars()
        await self.outbox.emit(
            session, row.estate_id, "survey_closed", survey_closed_event(row, at, answers)
        )

    async def close_due_surveys(self, stop: asyncio.Event) -> None:
        """Closes surveys whose closing time has passed, so each publishes its results as an
        event even when nobody closes it early; runs beside the calls until stopped."""
        while not stop.is_set():
            try:
                await self._close_due()
            except Exception:
                log.exception("closing surveys past their closing time failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SWEEP_SECONDS)

    async def _close_due(self) -> None:
        async with self.db.system_tx() as session:
            due = (
                await session.execute(
                    select(SurveyRow.estate_id, SurveyRow.survey_id)
                    .where(SurveyRow.closed_at.is_(None), SurveyRow.closes_at <= clock.now())
                    .order_by(SurveyRow.closes_at)
                    .limit(MAX_LIST)
                )
            ).all()
        for estate_id, survey_id in due:
            async with self.db.estate_tx(estate_id) as session:
                row = await self._survey(session, estate_id, str(survey_id), lock="update")
                # CloseSurvey may have closed it meanwhile.
                if row.closed_at is None:
                    await self._close(session, row, row.closes_at)
