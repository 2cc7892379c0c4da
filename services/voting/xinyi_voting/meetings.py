"""Monthly meetings (月度联席会): the company reports its work to the estate, points raised become
suggestions tracked to rectification.

scheduled -> held (minutes published) or cancelled. The approving body or the company manager
schedules a meeting with its time, place and agenda, and may change or cancel it while it is
scheduled; the company manager posts the work report until the minutes are out; from the
meeting's start on, the approving body publishes the minutes with the points raised, and turns a
point into a suggestion (kind "suggestion", submitted by the member who records it, naming the
meeting in its body) through the voice module's own rows, step and event, in one transaction.
Everyone in the estate reads meetings.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import grpc
from google.protobuf import timestamp_pb2
from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from xinyi.voting.v1 import events_pb2, tenders_pb2, tenders_pb2_grpc
from xinyi_kit import clock
from xinyi_kit.db import Database
from xinyi_kit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from xinyi_kit.permissions import Action, allowed, authorize_estate
from xinyi_voting import voice
from xinyi_voting.store import Base, known
from xinyi_voting.tenders import check_attachments
from xinyi_voting.voice import SHANGHAI, _stamp, _uuid, acting_role, clean_text

STATES: Final = ("scheduled", "held", "cancelled")
MAX_TITLE: Final = 200
MAX_PLACE: Final = 200
MAX_AGENDA: Final = 30
MAX_AGENDA_ITEM: Final = 500
MAX_REPORT: Final = 20_000
MAX_MINUTES: Final = 50_000
MAX_POINTS: Final = 50
MAX_POINT: Final = 2000
MAX_REASON: Final = 2000
MAX_AHEAD_DAYS: Final = 366
MAX_LIST: Final = 500


# -- tables ------------------------------------------------------------------------------------
class MeetingRow(Base):
    __tablename__ = "meetings"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    place: Mapped[str] = mapped_column(String(200))
    agenda: Mapped[list[str]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(20))
    scheduled_by: Mapped[uuid.UUID] = mapped_column(UUID)
    scheduled_by_role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    report: Mapped[str] = mapped_column(Text, default="")
    report_attachments: Mapped[list[str]] = mapped_column(JSONB, default=list)
    report_posted_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    report_posted_by_role: Mapped[str] = mapped_column(String(40), default="")
    minutes: Mapped[str] = mapped_column(Text, default="")
    minutes_published_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    minutes_published_by_role: Mapped[str] = mapped_column(String(40), default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_reason: Mapped[str] = mapped_column(Text, default="")


class PointRow(Base):
    """A point raised at a meeting, as its minutes list it; at most one suggestion each."""

    __tablename__ = "meeting_points"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    point_id: Mapped[str] = mapped_column(String(10), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    suggestion_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


# -- pure rules --------------------------------------------------------------------------------
def check_state_filter(state: str) -> str:
    if state and state not in STATES:
        raise InvalidArgument(f"state is one of {', '.join(STATES)}, not {state[:20]}")
    return state


def check_starts_at(value: timestamp_pb2.Timestamp | None, now: datetime) -> datetime:
    if value is None:
        raise InvalidArgument("starts_at is required: when the meeting begins")
    starts = value.ToDatetime(tzinfo=UTC)
    if starts <= now:
        raise InvalidArgument("starts_at must be in the future")
    if starts > now + timedelta(days=MAX_AHEAD_DAYS):
        raise InvalidArgument(f"a meeting is scheduled at most {MAX_AHEAD_DAYS} days ahead")
    return starts


def check_agenda(items: Sequence[str]) -> list[str]:
    out = [clean_text(item, f"agenda item {n}", MAX_AGENDA_ITEM) for n, item in enumerate(items, 1)]
    if not 1 <= len(out) <= MAX_AGENDA:
        raise InvalidArgument(f"the agenda has 1 to {MAX_AGENDA} items")
    return out


def check_points(points: Sequence[str]) -> list[str]:
    if len(points) > MAX_POINTS:
        raise InvalidArgument(f"the minutes list at most {MAX_POINTS} points")
    return [clean_text(p, f"point {n}", MAX_POINT) for n, p in enumerate(points, 1)]


def suggestion_title(point: str) -> str:
    """The point's first line, cut to a title's length."""
    first = point.splitlines()[0].strip() if point.strip() else ""
    return first if len(first) <= MAX_TITLE else first[: MAX_TITLE - 1] + "…"


def suggestion_body(meeting: MeetingRow, point: PointRow) -> str:
    day = meeting.starts_at.astimezone(SHANGHAI).date().isoformat()
    return (
        f'{point.text}\n\nRaised at the monthly meeting "{meeting.title}" of {day} '
        f"(meeting {meeting.meeting_id}, point {point.point_id})."
    )


# -- messages ----------------------------------------------------------------------------------
def meeting_pb(row: MeetingRow, points: Sequence[PointRow]) -> tenders_pb2.Meeting:
    return tenders_pb2.Meeting(
        estate_id=str(row.estate_id),
        meeting_id=str(row.meeting_id),
        title=row.title,
        starts_at=_stamp(row.starts_at),
        place=row.place,
        agenda=row.agenda,
        state=row.state,
        scheduled_by_role=row.scheduled_by_role,
        created_at=_stamp(row.created_at),
        updated_at=_stamp(row.updated_at),
        report=row.report,
        report_attachment_sha256s=row.report_attachments,
        report_posted_at=_stamp(row.report_posted_at),
        report_posted_by_role=row.report_posted_by_role,
        minutes=row.minutes,
        points=[
            tenders_pb2.MeetingPoint(
                point_id=p.point_id, text=p.text, suggestion_id=str(p.suggestion_id or "")
            )
            for p in points
        ],
        minutes_published_at=_stamp(row.minutes_published_at),
        minutes_published_by_role=row.minutes_published_by_role,
        cancelled_at=_stamp(row.cancelled_at),
        cancelled_reason=row.cancelled_reason,
    )


# -- queries -----------------------------------------------------------------------------------
async def _meeting(
    session: AsyncSession, estate_id: uuid.UUID, meeting_id: uuid.UUID, *, lock: bool = False
) -> MeetingRow:
    query = select(MeetingRow).where(
        MeetingRow.estate_id == estate_id, MeetingRow.meeting_id == meeting_id
    )
    row = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if row is None:
        raise NotFound("this estate has no such meeting")
    return row


async def _points(session: AsyncSession, row: MeetingRow) -> list[PointRow]:
    return list(
        (
            await session.execute(
                select(PointRow)
                .where(PointRow.estate_id == row.estate_id, PointRow.meeting_id == row.meeting_id)
                .order_by(PointRow.seq)
            )
        ).scalars()
    )


async def _full(session: AsyncSession, row: MeetingRow) -> tenders_pb2.Meeting:
    return meeting_pb(row, await _points(session, row))


def _event(row: MeetingRow) -> events_pb2.MeetingUpdated:
    event = events_pb2.MeetingUpdated(
        estate_id=str(row.estate_id),
        meeting_id=str(row.meeting_id),
        title=row.title,
        state=row.state,
    )
    event.starts_at.FromDatetime(row.starts_at)
    return event


def _scheduled(row: MeetingRow, doing: str) -> None:
    if row.state != "scheduled":
        raise FailedPrecondition(f"the meeting is {row.state}; {doing} only while it is scheduled")


# -- the servicer ------------------------------------------------------------------------------
class MeetingApi(tenders_pb2_grpc.MeetingServiceServicer):
    def __init__(self, db: Database, voice_api: voice.VoiceApi) -> None:
        self.db = db
        self.voice = voice_api

    async def ScheduleMeeting(
        self, request: tenders_pb2.ScheduleMeetingRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Meeting:
        principal, estate_id = authorize_estate(Action.MEETING_SCHEDULE, request.estate_id)
        now = clock.now()
        title = clean_text(request.title, "title", MAX_TITLE)
        starts_at = check_starts_at(
            request.starts_at if request.HasField("starts_at") else None, now
        )
        place = clean_text(request.place, "place", MAX_PLACE)
        agenda = check_agenda(request.agenda)
        role = acting_role(principal, estate_id, Action.MEETING_SCHEDULE)

        async def run(session: AsyncSession) -> tenders_pb2.Meeting:
            if not await known(session, estate_id):
                raise NotFound("no such estate (or its registration has not reached voting yet)")
            row = MeetingRow(
                estate_id=estate_id,
                meeting_id=uuid.uuid4(),
                title=title,
                starts_at=starts_at,
                place=place,
                agenda=agenda,
                state="scheduled",
                scheduled_by=uuid.UUID(principal.user_id),
                scheduled_by_role=role,
                created_at=now,
                updated_at=now,
                report="",
                report_attachments=[],
                report_posted_by_role="",
                minutes="",
                minutes_published_by_role="",
                cancelled_reason="",
            )
            session.add(row)
            await session.flush()
            await self.voice.outbox.emit(session, estate_id, "meeting_updated", _event(row))
            return meeting_pb(row, [])

        return await self.voice._once(
            estate_id, principal, "ScheduleMeeting", request, tenders_pb2.Meeting, run
        )

    async def UpdateMeeting(
        self, request: tenders_pb2.UpdateMeetingRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Meeting:
        _, estate_id = authorize_estate(Action.MEETING_SCHEDULE, request.estate_id)
        meeting_id = _uuid(request.meeting_id, "meeting_id")
        title = clean_text(request.title, "title", MAX_TITLE)
        starts_at = check_starts_at(
            request.starts_at if request.HasField("starts_at") else None, clock.now()
        )
        place = clean_text(request.place, "place", MAX_PLACE)
        agenda = check_agenda(request.agenda)
        async with self.db.estate_tx(estate_id) as session:
            row = await _meeting(session, estate_id, meeting_id, lock=True)
            _scheduled(row, "it changes")
            row.title, row.starts_at, row.place, row.agenda = title, starts_at, place, agenda
            row.updated_at = clock.now()
            await session.flush()
            await self.voice.outbox.emit(session, estate_id, "meeting_updated", _event(row))
            return await _full(session, row)

    async def CancelMeeting(
        self, request: tenders_pb2.CancelMeetingRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Meeting:
        _, estate_id = authorize_estate(Action.MEETING_SCHEDULE, request.estate_id)
        meeting_id = _uuid(request.meeting_id, "meeting_id")
        reason = clean_text(request.reason, "the reason", MAX_REASON)
        async with self.db.estate_tx(estate_id) as session:
            row = await _meeting(session, estate_id, meeting_id, lock=True)
            _scheduled(row, "it is cancelled")
            now = clock.now()
            row.state, row.cancelled_at, row.cancelled_reason, row.updated_at = (
                "cancelled",
                now,
                reason,
                now,
            )
            await session.flush()
            await self.voice.outbox.emit(session, estate_id, "meeting_updated", _event(row))
            return await _full(session, row)

    async def PostWorkReport(
        self, request: tenders_pb2.PostWorkReportRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Meeting:
        principal, estate_id = authorize_estate(Action.MEETING_REPORT, request.estate_id)
        meeting_id = _uuid(request.meeting_id, "meeting_id")
        report = clean_text(request.report, "the work report", MAX_REPORT)
        attachments = check_attachments(request.attachment_sha256s)
        role = acting_role(principal, estate_id, Action.MEETING_REPORT)

        async def run(session: AsyncSession) -> tenders_pb2.Meeting:
            row = await _meeting(session, estate_id, meeting_id, lock=True)
            _scheduled(row, "the work report is posted")
            now = clock.now()
            row.report, row.report_attachments = report, attachments
            row.report_posted_at, row.report_posted_by_role, row.updated_at = now, role, now
            await session.flush()
            return await _full(session, row)

        return await self.voice._once(
            estate_id, principal, "PostWorkReport", request, tenders_pb2.Meeting, run
        )

    async def PublishMinutes(
        self, request: tenders_pb2.PublishMinutesRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Meeting:
        principal, estate_id = authorize_estate(Action.MEETING_MINUTES, request.estate_id)
        meeting_id = _uuid(request.meeting_id, "meeting_id")
        minutes = clean_text(request.minutes, "the minutes", MAX_MINUTES)
        points = check_points(request.points)
        role = acting_role(principal, estate_id, Action.MEETING_MINUTES)

        async def run(session: AsyncSession) -> tenders_pb2.Meeting:
            row = await _meeting(session, estate_id, meeting_id, lock=True)
            _scheduled(row, "its minutes are published")
            now = clock.now()
            if now < row.starts_at:
                raise FailedPrecondition(
                    f"the meeting starts at {row.starts_at.isoformat(timespec='minutes')}; its "
                    "minutes are published once it has been held"
                )
            row.state, row.minutes, row.minutes_published_at = "held", minutes, now
            row.minutes_published_by_role, row.updated_at = role, now
            session.add_all(
                PointRow(
                    estate_id=estate_id,
                    meeting_id=meeting_id,
                    point_id=f"p{n}",
                    seq=n,
                    text=text,
                )
                for n, text in enumerate(points, 1)
            )
            await session.flush()
            await self.voice.outbox.emit(session, estate_id, "meeting_updated", _event(row))
            return await _full(session, row)

        return await self.voice._once(
            estate_id, principal, "PublishMinutes", request, tenders_pb2.Meeting, run
        )

    async def RaiseSuggestion(
        self, request: tenders_pb2.RaiseSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.RaiseSuggestionResponse:
        principal, estate_id = authorize_estate(Action.MEETING_MINUTES, request.estate_id)
        if not allowed(principal, Action.SUGGESTION_SUBMIT, estate_id):
            raise PermissionDenied(
                f"your roles do not allow this ({Action.SUGGESTION_SUBMIT.value})"
            )
        meeting_id = _uuid(request.meeting_id, "meeting_id")
        point_id = request.point_id.strip()
        title = clean_text(request.title, "title", MAX_TITLE, required=False)
        # The member recording the minutes submits it, in their approving-body role.
        role = acting_role(principal, estate_id, Action.MEETING_MINUTES)

        async def run(session: AsyncSession) -> tenders_pb2.RaiseSuggestionResponse:
            row = await _meeting(session, estate_id, meeting_id, lock=True)
            if row.state != "held":
                raise FailedPrecondition(
                    f"the meeting is {row.state}; its points become suggestions once its "
                    "minutes are published"
                )
            point = await session.get(PointRow, (estate_id, meeting_id, point_id))
            if point is None:
                raise NotFound(f"the minutes list no point {point_id[:10]!r}")
            if point.suggestion_id is not None:
                raise FailedPrecondition(
                    f"point {point.point_id} became suggestion {point.suggestion_id} already"
                )
            now = clock.now()
            body = suggestion_body(row, point)
            item = voice.SuggestionRow(
                estate_id=estate_id,
                suggestion_id=uuid.uuid4(),
                kind="suggestion",
                subject_ref="",
                title=title or suggestion_title(point.text),
                body=body,
                state="submitted",
                submitter_user_id=uuid.UUID(principal.user_id),
                submitter_role=role,
                submitted_at=now,
                updated_at=now,
            )
            session.add(item)
            await session.flush()
            await voice._add_step(session, item, principal, role, "submitted", body)
            await self.voice._emit(session, item)
            point.suggestion_id = item.suggestion_id
            row.updated_at = now
            await session.flush()
            return tenders_pb2.RaiseSuggestionResponse(
                meeting=await _full(session, row),
                suggestion=await voice._full(session, item, voice.Viewer.of(principal, estate_id)),
            )

        return await self.voice._once(
            estate_id,
            principal,
            "RaiseSuggestion",
            request,
            tenders_pb2.RaiseSuggestionResponse,
            run,
        )

    async def ListMeetings(
        self, request: tenders_pb2.ListMeetingsRequest, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.ListMeetingsResponse:
        _, estate_id = authorize_estate(Action.VOICE_READ, request.estate_id)
        state = check_state_filter(request.state)
        query = (
            select(MeetingRow)
            .where(MeetingRow.estate_id == estate_id)
            .order_by(MeetingRow.starts_at.desc(), MeetingRow.meeting_id)
            .limit(MAX_LIST)
        )
        if state:
            query = query.where(MeetingRow.state == state)
        async with self.db.estate_tx(estate_id) as session:
            if not await known(session, estate_id):
                raise NotFound("no such estate (or its registration has not reached voting yet)")
            rows = list((await session.execute(query)).scalars())
            return tenders_pb2.ListMeetingsResponse(
                meetings=[await _full(session, r) for r in rows]
            )

    async def GetMeeting(
        self, request: tenders_pb2.MeetingRef, context: grpc.aio.ServicerContext
    ) -> tenders_pb2.Meeting:
        _, estate_id = authorize_estate(Action.VOICE_READ, request.estate_id)
        meeting_id = _uuid(request.meeting_id, "meeting_id")
        async with self.db.estate_tx(estate_id) as session:
            return await _full(session, await _meeting(session, estate_id, meeting_id))
