"""Voting's gRPC servicer: an assembly's ballot from draft to its final decision.

draft -> announced (the roll published for objections; voting opens at least 15 days later)
-> open (the roll frozen as identity knows it at that instant) -> published (closed, counted,
result and receipts out, objections open) -> final (ballot_decided per question). The approving
body organises; owners vote for the holdings the frozen roll gives them; the operator cannot vote.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Protocol

import asyncpg
import grpc
from google.protobuf import timestamp_pb2
from sqlalchemy import any_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import identity_pb2, identity_pb2_grpc
from xinyi.voting.v1 import events_pb2, voting_pb2, voting_pb2_grpc
from xinyi_kit import audit, auth, clock, idempotency
from xinyi_kit.db import Database, driver_connection
from xinyi_kit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from xinyi_kit.files import sniff
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import Action, Role, allowed, authorize_estate, roles_in
from xinyi_kit.telemetry import inject_context
from xinyi_voting import store, tally
from xinyi_voting.owners import owners

# 物业管理条例 art. 14: the assembly is announced at least 15 days before it meets.
NOTICE = timedelta(days=15)
DEFAULT_OBJECTION_DAYS = 7
MAX_QUESTIONS = 50
MAX_CANDIDATES = 100
MAX_SCAN_BYTES = 10 * 2**20
MAX_ATTACHMENTS = 20
# 物业管理条例 art. 13: owners holding 20% of the headcount can call an extraordinary assembly.
PETITION_SHARE = Fraction(1, 5)
# What a scan of a signed paper ballot (or a ballot's document) may be; checked by its bytes.
SCAN_TYPES = ("image/jpeg", "image/png", "application/pdf")
Subject = common_pb2.DecisionSubject

# A vote's statements go to the driver's connection: through SQLAlchemy each cost several times
# the server's own work for it, and votes arrive by the thousand when a ballot opens.
_OPEN_BALLOT = (
    # A share lock: votes go on side by side, and closing waits for them.
    "SELECT state, voting_closes_at, questions, voter_secret FROM ballots "
    "WHERE estate_id = $1 AND ballot_id = $2 FOR SHARE"
)
# The units of the frozen roll the user speaks for: held by an owner the user is ($3), or by an
# owner whose account named the user ($4) proxy on this ballot (the last column then true). Each
# owner account on the roll lists its units, read by the roll's primary key.
_VOTER_UNITS = (
    "SELECT unit_id::text, area_centi_m2, owner_ids, false FROM roll_units "
    "WHERE estate_id = $1 AND ballot_id = $2 AND unit_id = ANY(ARRAY("
    "SELECT unnest(unit_ids) FROM roll_voters "
    "WHERE estate_id = $1 AND ballot_id = $2 AND user_id = $3)) "
    "UNION ALL "
    "SELECT unit_id::text, area_centi_m2, owner_ids, true FROM roll_units "
    "WHERE estate_id = $1 AND ballot_id = $2 AND unit_id = ANY(ARRAY("
    "SELECT unnest(v.unit_ids) FROM proxies p JOIN roll_voters v ON v.estate_id = p.estate_id "
    "AND v.ballot_id = p.ballot_id AND v.user_id = p.grantor_user_id "
    "WHERE p.estate_id = $1 AND p.ballot_id = $2 AND p.proxy_username = $4 "
    "AND p.state = 'active'))"
)
# One vote per holding across every channel, however many arrive at once.
_LOCK_HOLDING = "SELECT pg_advisory_xact_lock(hashtext($1))"
# The holding's live vote, superseded by receipt $4 unless it is a proxy's vote ($5) meeting
# the owner's own, which prevails; the live vote is returned either way. The update names the
# live vote's whole key: joined to `live` instead, it read every vote of the ballot.
_SUPERSEDE = (
    "WITH live AS (SELECT receipt_code, channel FROM votes WHERE estate_id = $1 "
    "AND ballot_id = $2 AND person_key = $3 AND superseded_by IS NULL), "
    "superseded AS (UPDATE votes SET superseded_by = $4 "
    "WHERE estate_id = $1 AND ballot_id = $2 AND receipt_code = (SELECT receipt_code FROM live) "
    "AND NOT ($5 AND (SELECT channel FROM live) <> 'proxy')) "
    "SELECT receipt_code, channel FROM live"
)
# A vote and its vote_recorded event (the outbox row as Outbox.emit writes it, numbered at
# commit), then the relay woken once both rows exist.
_WRITE_VOTE = (
    "WITH vote AS (INSERT INTO votes (estate_id, ballot_id, receipt_code, person_key, "
    "voter_user_id, channel, choices, cast_at, scan_sha256) VALUES ($1, $2, $3, $4, $5, $6, "
    "$7::jsonb, $8, $9) RETURNING 1), "
    "event AS (INSERT INTO outbox (estate_id, event_id, subject, event_type, envelope, "
    "trace_headers, occurred_at) VALUES ($1, $10, $11, $12, $13, $14::jsonb, $15) RETURNING 1) "
    "SELECT pg_notify($16, '') FROM vote, event"
)


# The close reads a ballot's whole frozen roll and every live vote: SQLAlchemy's work per row
# cost more than the count itself at 100,000 units, so they are read with the driver's own
# fetch, in the estate's transaction (row-level security applies as to every statement).
_READ_ROLL = (
    "SELECT unit_id::text, area_centi_m2, owner_ids FROM roll_units "
    "WHERE estate_id = $1 AND ballot_id = $2"
)
_READ_LIVE_VOTES = (
    "SELECT person_key, receipt_code, choices FROM votes "
    "WHERE estate_id = $1 AND ballot_id = $2 AND superseded_by IS NULL"
)


def _stamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{what} is not a valid id") from None


def subject_ref(kind: int, subject_id: str) -> str:
    """The canonical "<kind>:<id>" the acting service matches, e.g. "budget:2027"."""
    if not kind:
        return ""
    return f"{Subject.Kind.Name(kind).removeprefix('KIND_').lower()}:{subject_id}"


def _questions(raw: Sequence[voting_pb2.Question]) -> list[dict[str, Any]]:
    """Checks and stores a ballot's questions; ids are given here when the caller gave none."""
    if not raw:
        raise InvalidArgument("a ballot puts at least one question")
    if len(raw) > MAX_QUESTIONS:
        raise InvalidArgument(f"a ballot puts at most {MAX_QUESTIONS} questions")
    out: list[dict[str, Any]] = []
    for n, q in enumerate(raw, 1):
        text_ = q.text.strip()
        if not text_ or len(text_) > 4000:
            raise InvalidArgument(f"question {n}: say what is decided (1-4000 characters)")
        if not 1 <= int(q.matter_class) <= 9:
            raise InvalidArgument(
                f"question {n}: matter_class names its item of Civil Code art. 278 (1-9), "
                "which fixes its thresholds"
            )
        kind = q.kind or "yes_no"
        if kind not in ("yes_no", "candidates"):
            raise InvalidArgument(f"question {n}: kind is yes_no or candidates")
        candidates: list[dict[str, str]] = []
        seats = 0
        if kind == "candidates":
            if not 1 <= len(q.candidates) <= MAX_CANDIDATES:
                raise InvalidArgument(f"question {n}: name 1 to {MAX_CANDIDATES} candidates")
            for c in q.candidates:
                name = c.name.strip()
                if not name or len(name) > 200:
                    raise InvalidArgument(f"question {n}: every candidate needs a name")
                candidates.append(
                    {"candidate_id": c.candidate_id or uuid.uuid4().hex[:12], "name": name}
                )
            if len({c["candidate_id"] for c in candidates}) != len(candidates):
                raise InvalidArgument(f"question {n}: a candidate is listed twice")
            seats = q.seats or 1
            if not 1 <= seats <= len(candidates):
                raise InvalidArgument(f"question {n}: seats is between 1 and the candidates")
        elif q.candidates or q.seats:
            raise InvalidArgument(f"question {n}: a yes/no question has no candidates or seats")
        sid = q.subject.id.strip()
        if q.subject.kind and (not sid or len(sid) > 100):
            raise InvalidArgument(f"question {n}: the subject needs the id of what is decided")
        out.append(
            {
                "question_id": q.question_id or f"q{n}",
                "text": text_,
                "matter": int(q.matter_class),
                "kind": kind,
                "seats": seats,
                "candidates": candidates,
                "subject_kind": int(q.subject.kind),
                "subject_id": sid if q.subject.kind else "",
            }
        )
    if len({q["question_id"] for q in out}) != len(out):
        raise InvalidArgument("two questions share an id")
    return out


def _question_pb(q: dict[str, Any]) -> voting_pb2.Question:
    return voting_pb2.Question(
        question_id=q["question_id"],
        text=q["text"],
        matter_class=q["matter"],
        kind=q["kind"],
        seats=q["seats"],
        candidates=[voting_pb2.Candidate(**c) for c in q["candidates"]],
        subject=Subject(kind=q["subject_kind"], id=q["subject_id"]),
    )


def _tally_question(q: dict[str, Any]) -> tally.Question:
    if q["kind"] == "candidates":
        return tally.CandidateQuestion(
            q["question_id"],
            tally.Matter(q["matter"]),
            q["seats"],
            tuple(c["candidate_id"] for c in q["candidates"]),
        )
    return tally.YesNoQuestion(q["question_id"], tally.Matter(q["matter"]))


def _choices(questions: list[dict[str, Any]], raw: Sequence[voting_pb2.Choice]) -> dict[str, Any]:
    """One valid choice per question: "yes"/"no"/"abstain", or a list of candidate ids."""
    by_id = {q["question_id"]: q for q in questions}
    out: dict[str, Any] = {}
    for c in raw:
        q = by_id.get(c.question_id)
        if q is None:
            raise InvalidArgument(f"no question {c.question_id[:40]!r} on this ballot")
        if c.question_id in out:
            raise InvalidArgument(f"question {c.question_id} is answered twice")
        if q["kind"] == "yes_no":
            if c.answer not in tally.YES_NO_CHOICES or c.candidate_ids:
                raise InvalidArgument(f"question {c.question_id}: answer yes, no or abstain")
            out[c.question_id] = c.answer
        else:
            offered = {x["candidate_id"] for x in q["candidates"]}
            chosen = sorted(set(c.candidate_ids))
            if c.answer or len(chosen) != len(c.candidate_ids) or not set(chosen) <= offered:
                raise InvalidArgument(
                    f"question {c.question_id}: choose among its candidates, each once "
                    "(none at all abstains)"
                )
            if len(chosen) > q["seats"]:
                raise InvalidArgument(
                    f"question {c.question_id}: choose at most {q['seats']} candidate(s)"
                )
            out[c.question_id] = chosen
    missing = [qid for qid in by_id if qid not in out]
    if missing:
        raise InvalidArgument(f"answer every question; missing: {', '.join(missing)}")
    return out


def _choice_pbs(choices: dict[str, Any]) -> list[voting_pb2.Choice]:
    return [
        voting_pb2.Choice(question_id=qid, answer=c)
        if isinstance(c, str)
        else voting_pb2.Choice(question_id=qid, candidate_ids=c)
        for qid, c in choices.items()
    ]


def _receipt_code() -> str:
    raw = secrets.token_hex(8).upper()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


class Votable(Protocol):
    """What recording a vote needs of its ballot (a `store.Ballot` has it too)."""

    @property
    def estate_id(self) -> uuid.UUID: ...
    @property
    def ballot_id(self) -> uuid.UUID: ...
    @property
    def voter_secret(self) -> bytes | None: ...


@dataclass(frozen=True)
class VotingBallot:
    """A ballot taking votes, as the cast reads it."""

    estate_id: uuid.UUID
    ballot_id: uuid.UUID
    questions: list[dict[str, Any]]
    voter_secret: bytes | None


def _check_open(state: str, closes_at: datetime | None) -> None:
    if state != "open":
        raise FailedPrecondition(f"the ballot is {state}; votes are taken only while it is open")
    assert closes_at is not None
    if clock.now() >= closes_at:
        raise FailedPrecondition(
            f"voting closed at {closes_at.isoformat(timespec='minutes')}; "
            "no vote is taken after that"
        )


Holdings = dict[str, tuple[list[str], int]]


def _group_holdings(units: Iterable[Sequence[Any]]) -> Holdings:
    """Roll units (unit id, area, owner ids) grouped into holdings: person key -> (unit ids,
    summed area). A co-owned holding is one person, whichever co-owner speaks for it."""
    out: Holdings = {}
    for unit_id, area, owner_ids in units:
        key = tally.person_key(tally.RollUnit("", 0, frozenset(owner_ids)))
        ids, total = out.get(key, ([], 0))
        ids.append(str(unit_id))
        out[key] = (ids, total + int(area))
    return out


class VotingApi(voting_pb2_grpc.VotingServiceServicer):
    def __init__(
        self, db: Database, outbox: Outbox, identity: Callable[[], grpc.aio.Channel]
    ) -> None:
        self.db = db
        self.outbox = outbox
        self._identity_channel = identity
        # Called with each ballot_decided as a ballot becomes final, in its transaction: how
        # voting acts on its own decisions (a tender's chosen bid).
        self.on_decided: list[
            Callable[[AsyncSession, events_pb2.BallotDecided], Awaitable[None]]
        ] = []

    @property
    def identity(self) -> identity_pb2_grpc.IdentityServiceStub:
        return identity_pb2_grpc.IdentityServiceStub(self._identity_channel())

    # -- reads -----------------------------------------------------------------------------------
    async def _ballot_pb(self, session: AsyncSession, row: store.Ballot) -> voting_pb2.Ballot:
        units, area = (
            await session.execute(
                select(
                    func.count(), func.coalesce(func.sum(store.RollUnit.area_centi_m2), 0)
                ).where(
                    store.RollUnit.estate_id == row.estate_id,
                    store.RollUnit.ballot_id == row.ballot_id,
                )
            )
        ).one()
        heads = (
            await session.execute(
                select(func.count(func.distinct(store.RollUnit.owner_ids))).where(
                    store.RollUnit.estate_id == row.estate_id,
                    store.RollUnit.ballot_id == row.ballot_id,
                )
            )
        ).scalar_one()
        counted = (
            await session.execute(
                select(func.count()).where(
                    store.Vote.estate_id == row.estate_id,
                    store.Vote.ballot_id == row.ballot_id,
                    store.Vote.superseded_by.is_(None),
                )
            )
        ).scalar_one()
        return voting_pb2.Ballot(
            estate_id=str(row.estate_id),
            ballot_id=str(row.ballot_id),
            title=row.title,
            state=row.state,
            description=row.description,
            questions=[_question_pb(q) for q in row.questions],
            announced_at=_stamp(row.announced_at),
            voting_opens_at=_stamp(row.voting_opens_at),
            voting_closes_at=_stamp(row.voting_closes_at),
            objection_days=row.objection_days,
            closed_at=_stamp(row.closed_at),
            objections_until=_stamp(row.objections_until),
            finalized_at=_stamp(row.finalized_at),
            roll_units=int(units),
            roll_area_centi_m2=int(area),
            roll_headcount=int(heads),
            roll_as_of=_stamp(row.roll_as_of),
            receipts_counted=int(counted),
            created_by=str(row.created_by or ""),
            cancelled_reason=row.cancelled_reason,
            petition_id=str(row.petition_id or ""),
            attachments=[
                voting_pb2.Attachment(sha256=sha, filename=name, content_type=kind, size=size)
                for sha, name, kind, size in (
                    await session.execute(
                        select(
                            store.BallotAttachment.sha256,
                            store.BallotAttachment.filename,
                            store.BallotAttachment.content_type,
                            store.BallotAttachment.size,
                        )
                        .where(
                            store.BallotAttachment.estate_id == row.estate_id,
                            store.BallotAttachment.ballot_id == row.ballot_id,
                        )
                        .order_by(store.BallotAttachment.added_at)
                    )
                ).all()
            ],
        )

    async def _row(
        self, session: AsyncSession, estate_id: uuid.UUID, ballot_id: str, *, lock: str = ""
    ) -> store.Ballot:
        query = select(store.Ballot).where(
            store.Ballot.estate_id == estate_id,
            store.Ballot.ballot_id == _uuid(ballot_id, "ballot_id"),
        )
        if lock == "update":
            query = query.with_for_update()
        elif lock == "share":
            query = query.with_for_update(read=True)
        row = (await session.execute(query)).scalar_one_or_none()
        if row is None:
            raise NotFound("no such ballot")
        return row

    async def ListBallots(
        self, request: voting_pb2.ListBallotsRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.ListBallotsResponse:
        _, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            if not await store.known(session, estate_id):
                raise NotFound("no such estate (or its registration has not reached voting yet)")
            rows = await store.ballots(session, estate_id)
            return voting_pb2.ListBallotsResponse(
                ballots=[await self._ballot_pb(session, r) for r in rows]
            )

    async def GetBallot(
        self, request: voting_pb2.GetBallotRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Ballot:
        _, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id)
            return await self._ballot_pb(session, row)

    # -- the organiser's steps -------------------------------------------------------------------
    async def CreateBallot(
        self, request: voting_pb2.CreateBallotRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Ballot:
        principal, estate_id = authorize_estate(Action.BALLOT_ORGANISE, request.estate_id)
        title = request.title.strip()
        if not title or len(title) > 200:
            raise InvalidArgument("give the ballot a title (at most 200 characters)")
        if len(request.description) > 20_000:
            raise InvalidArgument("the description has at most 20,000 characters")
        questions = _questions(request.questions)
        petition_id = _uuid(request.petition_id, "petition_id") if request.petition_id else None

        async def run() -> voting_pb2.Ballot:
            if not await store.known(session, estate_id):
                raise NotFound("no such estate (or its registration has not reached voting yet)")
            if petition_id is not None:
                petition = await self._petition(session, estate_id, str(petition_id))
                if petition.state == "collecting":
                    raise FailedPrecondition(
                        "the petition has not reached a fifth of the headcount yet"
                    )
            row = await self.draft(
                session,
                estate_id,
                principal.user_id,
                title,
                request.description.strip(),
                questions,
                petition_id,
            )
            return await self._ballot_pb(session, row)

        async with self.db.estate_tx(estate_id) as session:
            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:CreateBallot",
                request.idempotency_key,
                request,
                voting_pb2.Ballot,
                run,
            )

    async def draft(
        self,
        session: AsyncSession,
        estate_id: uuid.UUID,
        created_by: str,
        title: str,
        description: str,
        questions: list[dict[str, Any]],
        petition_id: uuid.UUID | None = None,
    ) -> store.Ballot:
        """A draft ballot in the caller's transaction, with questions `_questions` checked: for
        CreateBallot, and for what voting itself puts to the assembly (a tender's bids)."""
        row = store.Ballot(
            estate_id=estate_id,
            ballot_id=uuid.uuid4(),
            title=title,
            state="draft",
            description=description,
            questions=questions,
            created_by=uuid.UUID(created_by),
            created_at=clock.now(),
            objection_days=DEFAULT_OBJECTION_DAYS,
            cancelled_reason="",
            petition_id=petition_id,
        )
        session.add(row)
        await session.flush()
        await audit.record(
            session, estate_id, "ballot.create", str(row.ballot_id), {"title": title}
        )
        return row

    async def _fetch_roll(
        self, session: AsyncSession, row: store.Ballot, at: datetime, *, voters: bool
    ) -> None:
        """The roll as identity knows it at `at`, replacing any earlier copy of it."""
        as_of = timestamp_pb2.Timestamp()
        as_of.FromDatetime(at.astimezone(UTC))
        roll = await self.identity.GetOwnershipRoll(
            identity_pb2.GetOwnershipRollRequest(estate_id=str(row.estate_id), as_of=as_of),
            metadata=auth.forwarded_metadata(),
            timeout=30,
        )
        if not roll.entries:
            raise FailedPrecondition("the estate has no units on its roll; import them first")
        where = (store.RollUnit.estate_id == row.estate_id) & (
            store.RollUnit.ballot_id == row.ballot_id
        )
        await session.execute(delete(store.RollUnit).where(where))
        session.add_all(
            store.RollUnit(
                estate_id=row.estate_id,
                ballot_id=row.ballot_id,
                unit_id=uuid.UUID(e.unit_id),
                building=e.building[:100],
                number=e.number[:100],
                area_centi_m2=e.exclusive_area_centi_m2,
                owner_ids=sorted(e.owner_ids),
            )
            for e in roll.entries
        )
        if voters:
            users = {
                o.owner_id: uuid.UUID(o.user_id)
                async for o in owners(self.identity, row.estate_id)
                if o.user_id
            }
            units: dict[str, list[uuid.UUID]] = {}
            for e in roll.entries:
                for owner in e.owner_ids:
                    units.setdefault(owner, []).append(uuid.UUID(e.unit_id))
            session.add_all(
                store.RollVoter(
                    estate_id=row.estate_id,
                    ballot_id=row.ballot_id,
                    owner_id=o,
                    user_id=u,
                    unit_ids=sorted(units.get(o, [])),
                )
                for o, u in users.items()
            )
        await session.flush()

    async def _emit_state(self, session: AsyncSession, row: store.Ballot, name: str) -> None:
        await self.outbox.emit(
            session,
            row.estate_id,
            name,
            events_pb2.BallotStateChanged(
                estate_id=str(row.estate_id),
                ballot_id=str(row.ballot_id),
                state=row.state,
                voting_opens_at=_stamp(row.voting_opens_at),
                voting_closes_at=_stamp(row.voting_closes_at),
                title=row.title,
            ),
        )

    async def AnnounceBallot(
        self, request: voting_pb2.AnnounceBallotRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Ballot:
        _, estate_id = authorize_estate(Action.BALLOT_ORGANISE, request.estate_id)
        if not request.HasField("voting_opens_at") or not request.HasField("voting_closes_at"):
            raise InvalidArgument("say when voting opens and when it closes")
        opens = request.voting_opens_at.ToDatetime(tzinfo=UTC)
        closes = request.voting_closes_at.ToDatetime(tzinfo=UTC)
        days = request.objection_days or DEFAULT_OBJECTION_DAYS
        if not 1 <= days <= 60:
            raise InvalidArgument("objection_days is between 1 and 60 (default 7)")
        now = clock.now()
        if opens < now + NOTICE:
            raise FailedPrecondition(
                "voting opens at least 15 days after the announcement (物业管理条例 art. 14); "
                f"the earliest now is {(now + NOTICE).isoformat(timespec='minutes')}"
            )
        if closes <= opens:
            raise InvalidArgument("voting closes after it opens")
        if closes - opens > timedelta(days=90):
            raise InvalidArgument("voting stays open at most 90 days")
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id, lock="update")
            if row.state != "draft":
                raise FailedPrecondition(f"the ballot is {row.state}; only a draft is announced")
            await self._fetch_roll(session, row, now, voters=False)
            row.state, row.announced_at = "announced", now
            row.voting_opens_at, row.voting_closes_at, row.objection_days = opens, closes, days
            if row.petition_id is not None:
                petition = await self._petition(session, estate_id, str(row.petition_id), lock=True)
                petition.state, petition.ballot_id = "answered", row.ballot_id
            await self._emit_state(session, row, "ballot_announced")
            await audit.record(session, estate_id, "ballot.announce", str(row.ballot_id))
            return await self._ballot_pb(session, row)

    async def OpenBallot(
        self, request: voting_pb2.BallotRef, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Ballot:
        _, estate_id = authorize_estate(Action.BALLOT_ORGANISE, request.estate_id)
        now = clock.now()
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id, lock="update")
            if row.state != "announced":
                raise FailedPrecondition(f"the ballot is {row.state}; only an announced one opens")
            assert row.voting_opens_at is not None and row.voting_closes_at is not None
            if now < row.voting_opens_at:
                raise FailedPrecondition(
                    f"voting opens at {row.voting_opens_at.isoformat(timespec='minutes')}, as "
                    "announced; not before"
                )
            if now >= row.voting_closes_at:
                raise FailedPrecondition("the announced voting period is over; cancel the ballot")
            await session.execute(
                delete(store.RollVoter).where(
                    (store.RollVoter.estate_id == estate_id)
                    & (store.RollVoter.ballot_id == row.ballot_id)
                )
            )
            await self._fetch_roll(session, row, now, voters=True)
            row.state, row.roll_as_of, row.voter_secret = "open", now, secrets.token_bytes(32)
            await self._emit_state(session, row, "ballot_opened")
            await audit.record(session, estate_id, "ballot.open", str(row.ballot_id))
            return await self._ballot_pb(session, row)

    async def CancelBallot(
        self, request: voting_pb2.CancelBallotRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Ballot:
        _, estate_id = authorize_estate(Action.BALLOT_ORGANISE, request.estate_id)
        reason = request.reason.strip()
        if not reason:
            raise InvalidArgument("say why the ballot is cancelled: owners read it")
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id, lock="update")
            if row.state not in ("draft", "announced", "open"):
                raise FailedPrecondition(
                    f"the ballot is {row.state}; it can no longer be cancelled"
                )
            row.state, row.cancelled_reason = "cancelled", reason[:2000]
            await self._emit_state(session, row, "ballot_cancelled")
            await audit.record(
                session, estate_id, "ballot.cancel", str(row.ballot_id), {"reason": reason}
            )
            return await self._ballot_pb(session, row)

    # -- votes -----------------------------------------------------------------------------------
    async def _holdings(
        self, session: AsyncSession, row: store.Ballot, user_id: str
    ) -> dict[str, tuple[list[str], int]]:
        """The persons (holdings) the user speaks for on the frozen roll: person key -> (unit
        ids, summed area). A co-owner speaks for the co-owned holding, like each co-owner.

        One query, by the roll's key: the units of the owners the user is."""
        spoken_for = (
            select(func.unnest(store.RollVoter.unit_ids))
            .where(
                store.RollVoter.estate_id == row.estate_id,
                store.RollVoter.ballot_id == row.ballot_id,
                store.RollVoter.user_id == uuid.UUID(user_id),
            )
            .scalar_subquery()
        )
        units = (
            await session.execute(
                select(
                    store.RollUnit.unit_id, store.RollUnit.area_centi_m2, store.RollUnit.owner_ids
                ).where(
                    store.RollUnit.estate_id == row.estate_id,
                    store.RollUnit.ballot_id == row.ballot_id,
                    store.RollUnit.unit_id == any_(func.array(spoken_for)),
                )
            )
        ).all()
        return _group_holdings(tuple(u) for u in units)

    def _voter_key(self, row: Votable, person: str) -> str:
        assert row.voter_secret is not None
        return hmac.new(row.voter_secret, person.encode(), hashlib.sha256).hexdigest()[:20]

    def _receipt_pb(
        self, row: Votable, vote: store.Vote, holding: tuple[list[str], int] | None
    ) -> voting_pb2.Receipt:
        return voting_pb2.Receipt(
            receipt_code=vote.receipt_code,
            state="superseded" if vote.superseded_by else "counted",
            superseded_by=vote.superseded_by or "",
            cast_at=_stamp(vote.cast_at),
            voter_key=self._voter_key(row, vote.person_key),
            unit_count=len(holding[0]) if holding else 0,
            area_centi_m2=holding[1] if holding else 0,
            choices=_choice_pbs(vote.choices),
            ballot_id=str(row.ballot_id),
            channel=vote.channel,
            scan_sha256=vote.scan_sha256 or "",
        )

    async def _open_for_votes(
        self, session: AsyncSession, estate_id: uuid.UUID, ballot_id: str
    ) -> store.Ballot:
        # A share lock: votes go on side by side, and closing waits for them.
        row = await self._row(session, estate_id, ballot_id, lock="share")
        _check_open(row.state, row.voting_closes_at)
        return row

    async def _open_ballot(
        self, raw: asyncpg.Connection, estate_id: uuid.UUID, ballot_id: str
    ) -> VotingBallot:
        """`_open_for_votes` on the driver's connection, for the cast."""
        ballot = _uuid(ballot_id, "ballot_id")
        found = await raw.fetchrow(_OPEN_BALLOT, estate_id, ballot)
        if found is None:
            raise NotFound("no such ballot")
        state, closes_at, questions, secret = found
        _check_open(state, closes_at)
        if isinstance(questions, str):  # jsonb without the engine's codec
            questions = json.loads(questions)
        return VotingBallot(estate_id, ballot, questions, secret)

    async def _owner_users(
        self, session: AsyncSession, row: store.Ballot, person: str
    ) -> set[uuid.UUID]:
        """The accounts of the owners of a holding: whose own vote prevails over a proxy's."""
        owners = (
            sorted(person.removeprefix("owners:").split("+"))
            if person.startswith("owners:")
            else []
        )
        if not owners:
            return set()
        rows = await session.execute(
            select(store.RollVoter.user_id).where(
                store.RollVoter.estate_id == row.estate_id,
                store.RollVoter.ballot_id == row.ballot_id,
                store.RollVoter.owner_id.in_(owners),
            )
        )
        return set(rows.scalars())

    async def _record(
        self,
        raw: asyncpg.Connection,
        row: Votable,
        person: str,
        holding: tuple[list[str], int],
        choices: dict[str, Any],
        voter: str,
        channel: str,
        scan: str | None = None,
    ) -> voting_pb2.Receipt | None:
        """One holding's vote, superseding its live one; None when a proxy's vote meets the
        owner's own, which prevails. Three statements on the estate transaction's driver."""
        await raw.execute(_LOCK_HOLDING, f"vote:{row.ballot_id}:{person}")
        code = _receipt_code()
        live = await raw.fetchrow(
            _SUPERSEDE, row.estate_id, row.ballot_id, person, code, channel == "proxy"
        )
        if channel == "proxy" and live is not None and live["channel"] != "proxy":
            return None
        now = clock.now()
        vote = store.Vote(
            estate_id=row.estate_id,
            ballot_id=row.ballot_id,
            receipt_code=code,
            person_key=person,
            voter_user_id=uuid.UUID(voter),
            channel=channel,
            choices=choices,
            cast_at=now,
            scan_sha256=scan,
        )
        event = self.outbox.row(
            row.estate_id,
            "vote_recorded",
            events_pb2.VoteRecorded(
                estate_id=str(row.estate_id),
                ballot_id=str(row.ballot_id),
                receipt_code=code,
                voter_user_id=voter,
                superseded_receipt_code=live["receipt_code"] if live else "",
            ),
            now,
            json.dumps(inject_context()),
        )
        # The vote, its event and the relay's wake-up in one round trip.
        await raw.execute(
            _WRITE_VOTE,
            row.estate_id,
            row.ballot_id,
            code,
            person,
            vote.voter_user_id,
            channel,
            json.dumps(choices),
            now,
            scan,
            event["id"],
            event["subj"],
            event["t"],
            event["env"],
            event["h"],
            event["at"],
            self.outbox.channel,
        )
        return self._receipt_pb(row, vote, holding)

    async def CastVote(
        self, request: voting_pb2.CastVoteRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.CastVoteResponse:
        # Owners vote for their holdings; anyone of the estate an owner named votes as proxy.
        principal, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        if Role.OPERATOR in roles_in(principal, estate_id):
            raise PermissionDenied("the operator administers the platform; it never votes")
        owns = allowed(principal, Action.BALLOT_VOTE, estate_id)

        async def cast(raw: asyncpg.Connection) -> voting_pb2.CastVoteResponse:
            row = await self._open_ballot(raw, estate_id, request.ballot_id)
            choices = _choices(row.questions, request.choices)
            units = await raw.fetch(
                _VOTER_UNITS,
                estate_id,
                row.ballot_id,
                uuid.UUID(principal.user_id),
                principal.username,
            )
            own = _group_holdings(u[:3] for u in units if not u[3]) if owns else {}
            proxied = {
                person: holding
                for person, holding in _group_holdings(u[:3] for u in units if u[3]).items()
                if person not in own
            }
            if not own and not proxied:
                raise PermissionDenied(
                    "you hold no unit on this ballot's roll (frozen when voting opened), and no "
                    "owner has named you their proxy"
                )
            receipts = []
            for person, holding in sorted(own.items()):
                made = await self._record(
                    raw, row, person, holding, choices, principal.user_id, "online"
                )
                assert made is not None
                receipts.append(made)
            for person, holding in sorted(proxied.items()):
                made = await self._record(
                    raw, row, person, holding, choices, principal.user_id, "proxy"
                )
                if made is not None:  # the owner voted already: theirs prevails
                    receipts.append(made)
            return voting_pb2.CastVoteResponse(receipts=receipts)

        if not request.idempotency_key:
            async with self.db.driver_tx(estate_id) as raw:
                return await cast(raw)
        async with self.db.estate_tx(estate_id) as session:

            async def run() -> voting_pb2.CastVoteResponse:
                return await cast(await driver_connection(session))

            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:CastVote",
                request.idempotency_key,
                request,
                voting_pb2.CastVoteResponse,
                run,
            )

    async def GetRoll(
        self, request: voting_pb2.BallotRef, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Roll:
        principal, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        detail = allowed(principal, Action.ROLL_READ, estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id)
            shown = await self._ballot_pb(session, row)
            roll = voting_pb2.Roll(
                ballot_id=str(row.ballot_id),
                state=row.state,
                roll_as_of=_stamp(row.roll_as_of or row.announced_at),
                units=shown.roll_units,
                area_centi_m2=shown.roll_area_centi_m2,
                headcount=shown.roll_headcount,
                detailed=detail,
            )
            if detail:
                units = (
                    await session.execute(
                        select(store.RollUnit)
                        .where(
                            store.RollUnit.estate_id == estate_id,
                            store.RollUnit.ballot_id == row.ballot_id,
                        )
                        .order_by(store.RollUnit.building, store.RollUnit.number)
                    )
                ).scalars()
                salt = row.ballot_id.bytes
                for u in units:
                    person = tally.person_key(
                        tally.RollUnit(str(u.unit_id), u.area_centi_m2, frozenset(u.owner_ids))
                    )
                    roll.lines.append(
                        voting_pb2.RollLine(
                            unit_id=str(u.unit_id),
                            building=u.building,
                            number=u.number,
                            area_centi_m2=u.area_centi_m2,
                            owner_count=len(u.owner_ids),
                            holding=hmac.new(salt, person.encode(), hashlib.sha256).hexdigest()[
                                :12
                            ],
                        )
                    )
            return roll

    # -- attachments -----------------------------------------------------------------------------
    async def AddAttachment(
        self, request: voting_pb2.AddAttachmentRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Attachment:
        principal, estate_id = authorize_estate(Action.BALLOT_ORGANISE, request.estate_id)
        content = bytes(request.content)
        name = request.filename.strip() or "attachment"
        if len(name) > 255:
            raise InvalidArgument("a file name has at most 255 characters")
        if not content:
            raise InvalidArgument("the attachment is empty")
        if len(content) > MAX_SCAN_BYTES:
            raise InvalidArgument(f"an attachment is at most {MAX_SCAN_BYTES // 2**20} MiB")
        kind = sniff(content, SCAN_TYPES)
        if kind is None:
            raise InvalidArgument("an attachment is a PDF, JPEG or PNG file")
        digest = hashlib.sha256(content).hexdigest()
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id, lock="update")
            if row.state not in ("draft", "announced"):
                raise FailedPrecondition(
                    f"the ballot is {row.state}; its documents are fixed once voting opens"
                )
            count = await session.scalar(
                select(func.count()).where(
                    store.BallotAttachment.estate_id == estate_id,
                    store.BallotAttachment.ballot_id == row.ballot_id,
                )
            )
            known = await session.get(store.BallotAttachment, (estate_id, row.ballot_id, digest))
            if known is None:
                if (count or 0) >= MAX_ATTACHMENTS:
                    raise FailedPrecondition(f"a ballot has at most {MAX_ATTACHMENTS} attachments")
                session.add(
                    store.BallotAttachment(
                        estate_id=estate_id,
                        ballot_id=row.ballot_id,
                        sha256=digest,
                        filename=name,
                        content_type=kind,
                        size=len(content),
                        content=content,
                        added_by=uuid.UUID(principal.user_id),
                        added_at=clock.now(),
                    )
                )
                await audit.record(
                    session, estate_id, "ballot.attach", str(row.ballot_id), {"sha256": digest}
                )
            return voting_pb2.Attachment(
                sha256=digest,
                filename=known.filename if known else name,
                content_type=kind,
                size=len(content),
            )

    async def GetAttachment(
        self, request: voting_pb2.GetAttachmentRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.AttachmentFile:
        _, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id)
            found = await session.get(
                store.BallotAttachment, (estate_id, row.ballot_id, request.sha256)
            )
            if found is None:
                raise NotFound("no such attachment on this ballot")
            return voting_pb2.AttachmentFile(
                attachment=voting_pb2.Attachment(
                    sha256=found.sha256,
                    filename=found.filename,
                    content_type=found.content_type,
                    size=found.size,
                ),
                content=found.content,
            )

    # -- proxies ---------------------------------------------------------------------------------
    def _proxy_pb(self, p: store.Proxy) -> voting_pb2.Proxy:
        return voting_pb2.Proxy(
            proxy_id=str(p.proxy_id),
            ballot_id=str(p.ballot_id),
            grantor_user_id=str(p.grantor_user_id),
            grantor_username=p.grantor_username,
            proxy_username=p.proxy_username,
            state=p.state,
            granted_at=_stamp(p.granted_at),
            revoked_at=_stamp(p.revoked_at),
        )

    async def GrantProxy(
        self, request: voting_pb2.GrantProxyRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Proxy:
        principal, estate_id = authorize_estate(Action.BALLOT_VOTE, request.estate_id)
        name = request.proxy_username.strip()
        if not name or len(name) > 100:
            raise InvalidArgument("name your proxy by their username on the platform")
        if name == principal.username:
            raise InvalidArgument("you vote for yourself without a proxy")

        async def run() -> voting_pb2.Proxy:
            row = await self._row(session, estate_id, request.ballot_id, lock="share")
            if row.state not in ("announced", "open"):
                raise FailedPrecondition(
                    f"the ballot is {row.state}; a proxy is named while it is announced or open"
                )
            if row.state == "open" and not await self._holdings(session, row, principal.user_id):
                raise PermissionDenied("you hold no unit on this ballot's roll")
            await session.execute(
                update(store.Proxy)
                .where(
                    store.Proxy.estate_id == estate_id,
                    store.Proxy.ballot_id == row.ballot_id,
                    store.Proxy.grantor_user_id == uuid.UUID(principal.user_id),
                    store.Proxy.state == "active",
                )
                .values(state="revoked", revoked_at=clock.now())
            )
            proxy = store.Proxy(
                estate_id=estate_id,
                ballot_id=row.ballot_id,
                proxy_id=uuid.uuid4(),
                grantor_user_id=uuid.UUID(principal.user_id),
                grantor_username=principal.username,
                proxy_username=name,
                state="active",
                granted_at=clock.now(),
            )
            session.add(proxy)
            await session.flush()
            await audit.record(
                session, estate_id, "ballot.proxy", str(row.ballot_id), {"proxy": name}
            )
            return self._proxy_pb(proxy)

        async with self.db.estate_tx(estate_id) as session:
            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:GrantProxy",
                request.idempotency_key,
                request,
                voting_pb2.Proxy,
                run,
            )

    async def RevokeProxy(
        self, request: voting_pb2.RevokeProxyRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Proxy:
        principal, estate_id = authorize_estate(Action.BALLOT_VOTE, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id, lock="share")
            proxy = await session.get(
                store.Proxy,
                (estate_id, row.ballot_id, _uuid(request.proxy_id, "proxy_id")),
                with_for_update=True,
            )
            if proxy is None or proxy.grantor_user_id != uuid.UUID(principal.user_id):
                raise NotFound("no such proxy of yours on this ballot")
            if row.state not in ("announced", "open"):
                raise FailedPrecondition(
                    f"the ballot is {row.state}; its proxies stand as they were"
                )
            if proxy.state == "active":
                proxy.state, proxy.revoked_at = "revoked", clock.now()
                await audit.record(session, estate_id, "ballot.proxy_revoke", str(row.ballot_id))
            return self._proxy_pb(proxy)

    async def ListProxies(
        self, request: voting_pb2.BallotRef, context: grpc.aio.ServicerContext
    ) -> voting_pb2.ListProxiesResponse:
        principal, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id)
            query = select(store.Proxy).where(
                store.Proxy.estate_id == estate_id, store.Proxy.ballot_id == row.ballot_id
            )
            if not allowed(principal, Action.BALLOT_ORGANISE, estate_id):
                query = query.where(
                    (store.Proxy.grantor_user_id == uuid.UUID(principal.user_id))
                    | (store.Proxy.proxy_username == principal.username)
                )
            rows = (await session.execute(query.order_by(store.Proxy.granted_at))).scalars()
            return voting_pb2.ListProxiesResponse(proxies=[self._proxy_pb(p) for p in rows])

    # -- paper ballots ---------------------------------------------------------------------------
    async def UploadScan(
        self, request: voting_pb2.UploadScanRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Scan:
        principal, estate_id = authorize_estate(Action.BALLOT_ORGANISE, request.estate_id)
        content = bytes(request.content)
        if not content:
            raise InvalidArgument("the scan is empty")
        if len(content) > MAX_SCAN_BYTES:
            raise InvalidArgument(f"a scan is at most {MAX_SCAN_BYTES // 2**20} MiB")
        kind = sniff(content, SCAN_TYPES)
        if kind is None:
            raise InvalidArgument("a scan is a JPEG, PNG or PDF file")
        digest = hashlib.sha256(content).hexdigest()
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id)
            # The same scan sent again (a retry while the first upload is still in flight) is
            # the same scan: kept once, never a clash on its key.
            await session.execute(
                insert(store.Scan)
                .values(
                    estate_id=estate_id,
                    ballot_id=row.ballot_id,
                    sha256=digest,
                    content_type=kind,
                    size=len(content),
                    content=content,
                    uploaded_by=uuid.UUID(principal.user_id),
                    uploaded_at=clock.now(),
                )
                .on_conflict_do_nothing()
            )
            return voting_pb2.Scan(sha256=digest, content_type=kind, size=len(content))

    async def GetScan(
        self, request: voting_pb2.GetScanRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.ScanFile:
        # A signed paper ballot names its owner: those who check the roll see it, not everyone.
        _, estate_id = authorize_estate(Action.ROLL_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id)
            scan = await session.get(store.Scan, (estate_id, row.ballot_id, request.sha256))
            if scan is None:
                raise NotFound("no such scan on this ballot")
            return voting_pb2.ScanFile(
                scan=voting_pb2.Scan(
                    sha256=scan.sha256, content_type=scan.content_type, size=scan.size
                ),
                content=scan.content,
            )

    async def EnterPaperVote(
        self, request: voting_pb2.EnterPaperVoteRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.CastVoteResponse:
        principal, estate_id = authorize_estate(Action.BALLOT_ORGANISE, request.estate_id)
        unit_id = _uuid(request.unit_id, "unit_id")

        async def run() -> voting_pb2.CastVoteResponse:
            row = await self._open_for_votes(session, estate_id, request.ballot_id)
            choices = _choices(row.questions, request.choices)
            scan = await session.get(store.Scan, (estate_id, row.ballot_id, request.scan_sha256))
            if scan is None:
                raise FailedPrecondition(
                    "upload the scan of the signed paper ballot first; it is the vote's evidence"
                )
            unit = await session.get(store.RollUnit, (estate_id, row.ballot_id, unit_id))
            if unit is None:
                raise NotFound("no such unit on this ballot's roll")
            person = tally.person_key(
                tally.RollUnit(str(unit.unit_id), unit.area_centi_m2, frozenset(unit.owner_ids))
            )
            units = (
                await session.execute(
                    select(store.RollUnit.unit_id, store.RollUnit.area_centi_m2).where(
                        store.RollUnit.estate_id == estate_id,
                        store.RollUnit.ballot_id == row.ballot_id,
                        store.RollUnit.owner_ids == unit.owner_ids,
                    )
                )
            ).all()
            holding = ([str(u) for u, _ in units], sum(int(a) for _, a in units))
            if not unit.owner_ids:
                holding = ([str(unit.unit_id)], unit.area_centi_m2)
            made = await self._record(
                await driver_connection(session),
                row,
                person,
                holding,
                choices,
                principal.user_id,
                "paper",
                scan.sha256,
            )
            assert made is not None
            await audit.record(
                session,
                estate_id,
                "ballot.paper_vote",
                str(row.ballot_id),
                {"unit": str(unit_id), "scan": scan.sha256, "receipt": made.receipt_code},
            )
            return voting_pb2.CastVoteResponse(receipts=[made])

        async with self.db.estate_tx(estate_id) as session:
            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:EnterPaperVote",
                request.idempotency_key,
                request,
                voting_pb2.CastVoteResponse,
                run,
            )

    async def GetMyVote(
        self, request: voting_pb2.BallotRef, context: grpc.aio.ServicerContext
    ) -> voting_pb2.CastVoteResponse:
        principal, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id)
            holdings = await self._holdings(session, row, principal.user_id)
            if not holdings:
                return voting_pb2.CastVoteResponse()
            votes = (
                await session.execute(
                    select(store.Vote)
                    .where(
                        store.Vote.estate_id == estate_id,
                        store.Vote.ballot_id == row.ballot_id,
                        store.Vote.person_key.in_(list(holdings)),
                    )
                    .order_by(store.Vote.cast_at.desc())
                )
            ).scalars()
            return voting_pb2.CastVoteResponse(
                receipts=[self._receipt_pb(row, v, holdings[v.person_key]) for v in votes]
            )

    async def GetReceipt(
        self, request: voting_pb2.GetReceiptRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Receipt:
        _, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id)
            vote = await session.get(
                store.Vote, (estate_id, row.ballot_id, request.receipt_code.strip().upper())
            )
            if vote is None:
                raise NotFound("no such receipt on this ballot")
            return self._receipt_pb(row, vote, None)

    # -- petitions for an extraordinary assembly -------------------------------------------------
    async def _persons_now(self, estate_id: uuid.UUID, user_id: str) -> tuple[set[str], int]:
        """From identity's current owners (as the caller may see them): the holdings the caller
        speaks for, and the estate's headcount (persons as the tally counts them)."""
        owners_of_unit: dict[str, set[str]] = {}
        mine: set[str] = set()
        async for o in owners(self.identity, estate_id):
            for unit in o.unit_ids:
                owners_of_unit.setdefault(unit, set()).add(o.owner_id)
            if o.user_id == user_id:
                mine.add(o.owner_id)
        persons = {
            tally.person_key(tally.RollUnit(unit, 0, frozenset(owners)))
            for unit, owners in owners_of_unit.items()
        }
        held = {
            tally.person_key(tally.RollUnit(unit, 0, frozenset(owners)))
            for unit, owners in owners_of_unit.items()
            if owners & mine
        }
        return held, len(persons)

    async def _petition_pb(
        self, session: AsyncSession, p: store.Petition, user_id: str
    ) -> voting_pb2.Petition:
        signed = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(store.PetitionSignature.user_id == uuid.UUID(user_id)),
                ).where(
                    store.PetitionSignature.estate_id == p.estate_id,
                    store.PetitionSignature.petition_id == p.petition_id,
                )
            )
        ).one()
        return voting_pb2.Petition(
            estate_id=str(p.estate_id),
            petition_id=str(p.petition_id),
            title=p.title,
            reason=p.reason,
            created_by=str(p.created_by),
            created_at=_stamp(p.created_at),
            state=p.state,
            signed_headcount=int(signed[0]),
            total_headcount=p.total_headcount,
            threshold=str(PETITION_SHARE),
            reached_at=_stamp(p.reached_at),
            ballot_id=str(p.ballot_id or ""),
            signed_by_me=bool(signed[1]),
        )

    async def _sign(self, session: AsyncSession, p: store.Petition, principal_id: str) -> None:
        held, total = await self._persons_now(p.estate_id, principal_id)
        if not held:
            raise PermissionDenied("only owners of the estate's units sign a petition")
        p.total_headcount = total
        for person in sorted(held):
            await session.execute(
                insert(store.PetitionSignature)
                .values(
                    estate_id=p.estate_id,
                    petition_id=p.petition_id,
                    person_key=person,
                    user_id=uuid.UUID(principal_id),
                    signed_at=clock.now(),
                )
                .on_conflict_do_nothing()
            )
        signed = (
            await session.execute(
                select(func.count()).where(
                    store.PetitionSignature.estate_id == p.estate_id,
                    store.PetitionSignature.petition_id == p.petition_id,
                )
            )
        ).scalar_one()
        if p.state == "collecting" and Fraction(int(signed), max(total, 1)) >= PETITION_SHARE:
            p.state, p.reached_at = "reached", clock.now()
            await self.outbox.emit(
                session,
                p.estate_id,
                "petition_reached",
                events_pb2.PetitionReached(
                    estate_id=str(p.estate_id),
                    petition_id=str(p.petition_id),
                    title=p.title,
                    signed_headcount=int(signed),
                    total_headcount=total,
                ),
            )

    async def CreatePetition(
        self, request: voting_pb2.CreatePetitionRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Petition:
        principal, estate_id = authorize_estate(Action.BALLOT_VOTE, request.estate_id)
        title, reason = request.title.strip(), request.reason.strip()
        if not title or len(title) > 200:
            raise InvalidArgument("give the petition a title (at most 200 characters)")
        if not reason or len(reason) > 20_000:
            raise InvalidArgument("say what the assembly should decide, and why")

        async def run() -> voting_pb2.Petition:
            if not await store.known(session, estate_id):
                raise NotFound("no such estate (or its registration has not reached voting yet)")
            p = store.Petition(
                estate_id=estate_id,
                petition_id=uuid.uuid4(),
                title=title,
                reason=reason,
                created_by=uuid.UUID(principal.user_id),
                created_at=clock.now(),
                state="collecting",
                total_headcount=0,
            )
            session.add(p)
            await session.flush()
            await self._sign(session, p, principal.user_id)
            return await self._petition_pb(session, p, principal.user_id)

        async with self.db.estate_tx(estate_id) as session:
            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:CreatePetition",
                request.idempotency_key,
                request,
                voting_pb2.Petition,
                run,
            )

    async def _petition(
        self, session: AsyncSession, estate_id: uuid.UUID, raw: str, *, lock: bool = False
    ) -> store.Petition:
        p = await session.get(
            store.Petition, (estate_id, _uuid(raw, "petition_id")), with_for_update=lock
        )
        if p is None:
            raise NotFound("no such petition")
        return p

    async def SignPetition(
        self, request: voting_pb2.PetitionRef, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Petition:
        principal, estate_id = authorize_estate(Action.BALLOT_VOTE, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            p = await self._petition(session, estate_id, request.petition_id, lock=True)
            if p.state == "answered":
                raise FailedPrecondition("the assembly this petition asked for is called already")
            await self._sign(session, p, principal.user_id)
            return await self._petition_pb(session, p, principal.user_id)

    async def GetPetition(
        self, request: voting_pb2.PetitionRef, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Petition:
        principal, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            p = await self._petition(session, estate_id, request.petition_id)
            return await self._petition_pb(session, p, principal.user_id)

    async def ListPetitions(
        self, request: voting_pb2.ListPetitionsRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.ListPetitionsResponse:
        principal, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            rows = (
                await session.execute(
                    select(store.Petition)
                    .where(store.Petition.estate_id == estate_id)
                    .order_by(store.Petition.created_at.desc())
                )
            ).scalars()
            return voting_pb2.ListPetitionsResponse(
                petitions=[await self._petition_pb(session, p, principal.user_id) for p in rows]
            )

    # -- the count -------------------------------------------------------------------------------
    async def _count(
        self, session: AsyncSession, row: store.Ballot
    ) -> tuple[tally.Roll, list[tally.CountedQuestion], dict[str, str]]:
        raw = await driver_connection(session)
        units = await raw.fetch(_READ_ROLL, row.estate_id, row.ballot_id)
        live = await raw.fetch(_READ_LIVE_VOTES, row.estate_id, row.ballot_id)
        return self.count_rows(row, units, live)

    def count_rows(
        self,
        row: store.Ballot,
        units: Iterable[tuple[str, int, Iterable[str]]],
        live: Sequence[tuple[str, str, dict[str, Any]]],
    ) -> tuple[tally.Roll, list[tally.CountedQuestion], dict[str, str]]:
        """The count of a ballot from its roll's rows (unit id, area, owner ids) and its live
        votes' (person key, receipt code, choices): the roll grouped, each question's votes,
        and the voter keys the document shows."""
        roll = tally.group_roll(
            tally.RollUnit(unit_id, area, frozenset(owner_ids))
            for unit_id, area, owner_ids in units
        )
        receipts = {person: code for person, code, _ in live}
        counted = []
        for q in row.questions:
            qid = q["question_id"]
            votes = {
                person: (choices[qid] if isinstance(choices[qid], str) else frozenset(choices[qid]))
                for person, _, choices in live
            }
            counted.append(tally.CountedQuestion(_tally_question(q), votes, receipts))
        # The document shows the voter keys of those who voted, and no one else's.
        keys = {p: self._voter_key(row, p) for p in receipts}
        return roll, counted, keys

    async def CloseBallot(
        self, request: voting_pb2.BallotRef, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Ballot:
        _, estate_id = authorize_estate(Action.BALLOT_ORGANISE, request.estate_id)
        now = clock.now()
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id, lock="update")
            if row.state != "open":
                raise FailedPrecondition(f"the ballot is {row.state}; only an open one closes")
            assert row.voting_closes_at is not None
            if now < row.voting_closes_at:
                raise FailedPrecondition(
                    f"voting closes at {row.voting_closes_at.isoformat(timespec='minutes')}, as "
                    "announced; not before"
                )
            roll, counted, keys = await self._count(session, row)
            row.result_json = tally.result_document(roll, counted, keys)
            row.state, row.closed_at = "published", now
            row.objections_until = now + timedelta(days=row.objection_days)
            await self._emit_state(session, row, "ballot_closed")
            await audit.record(session, estate_id, "ballot.close", str(row.ballot_id))
            return await self._ballot_pb(session, row)

    async def FinalizeBallot(
        self, request: voting_pb2.BallotRef, context: grpc.aio.ServicerContext
    ) -> voting_pb2.Ballot:
        _, estate_id = authorize_estate(Action.BALLOT_ORGANISE, request.estate_id)
        now = clock.now()
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id, lock="update")
            if row.state != "published":
                raise FailedPrecondition(
                    f"the ballot is {row.state}; a result becomes final after it is published"
                )
            assert row.objections_until is not None and row.result_json is not None
            if now < row.objections_until:
                raise FailedPrecondition(
                    "objections to the result are open until "
                    f"{row.objections_until.isoformat(timespec='minutes')}"
                )
            document = json.loads(row.result_json)
            by_id = {q["question_id"]: q for q in row.questions}
            for published in document["questions"]:
                q = by_id[published["question_id"]]
                result = published["result"]
                approved = bool(result.get("approved", bool(result.get("chosen"))))
                event = events_pb2.BallotDecided(
                    estate_id=str(estate_id),
                    ballot_id=str(row.ballot_id),
                    question_id=q["question_id"],
                    question_text=q["text"],
                    matter_class=q["matter"],
                    subject=Subject(kind=q["subject_kind"], id=q["subject_id"]),
                    subject_ref=subject_ref(q["subject_kind"], q["subject_id"]),
                    approved=approved,
                    chosen_candidate_ids=result.get("chosen", []),
                    tally=events_pb2.Tally(
                        total_area_centi_m2=published["roll"]["total_area_centi_m2"],
                        total_headcount=published["roll"]["total_headcount"],
                        participating_area_centi_m2=result["participating_area_centi_m2"],
                        participating_headcount=result["participating_headcount"],
                        approving_area_centi_m2=result.get("approving_area_centi_m2", 0),
                        approving_headcount=result.get("approving_headcount", 0),
                    ),
                    decided_at=_stamp(now),
                )
                await self.outbox.emit(session, estate_id, "ballot_decided", event)
                for hook in self.on_decided:
                    await hook(session, event)
            row.state, row.finalized_at = "final", now
            await self._emit_state(session, row, "ballot_final")
            await audit.record(session, estate_id, "ballot.finalize", str(row.ballot_id))
            return await self._ballot_pb(session, row)

    async def GetResult(
        self, request: voting_pb2.BallotRef, context: grpc.aio.ServicerContext
    ) -> voting_pb2.BallotResult:
        _, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._row(session, estate_id, request.ballot_id)
            if row.result_json is None:
                raise FailedPrecondition(f"the ballot is {row.state}; its result is not out yet")
            return voting_pb2.BallotResult(
                ballot=await self._ballot_pb(session, row), document_json=row.result_json
            )
