"""Idempotent, ordered event consumption from another service's stream.

Each estate's events are applied in their emitter's sequence order, exactly once: the cursor and
the applied event id are written in the same transaction as the handler's effect. Several
replicas may share the durable consumer; the row lock on the cursor orders them.

Most events of a stream have no handler in a given consumer: they only move the cursor. Such an
estate's events are held, unacknowledged, for up to `linger` seconds and then written, with every
other estate's held then, in one transaction of bookkeeping alone (three statements, however many
estates), without a session; an event with a handler takes the estate's held events into its own
transaction, since they precede it. Holding an event is safe: until its transaction commits it is
not acknowledged, so a consumer that dies holding it has it redelivered, and the cursor applies
it then, once.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import asyncpg
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError
from opentelemetry import trace
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi_kit.bus import ensure_stream, sleep_unless, stream_name
from xinyi_kit.db import ESTATE_SETTING, PLATFORM, Database, driver_connection
from xinyi_kit.errors import Unavailable
from xinyi_kit.telemetry import extract_context

log = logging.getLogger(__name__)
tracer = trace.get_tracer("xinyi.consumer")

Handler = Callable[[AsyncSession, common_pb2.EventEnvelope, Message], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """A handler of a run of consecutive events of its type, in sequence order, in one call:
    for events that come by the thousand (a 10,000-unit estate's import is 10,000 ownership
    changes), written in one statement rather than one each. Events of other types no handler
    acts on may lie between those of a run; one another handler acts on ends it."""

    apply: Callable[
        [AsyncSession, Sequence[tuple[common_pb2.EventEnvelope, Message]]], Awaitable[None]
    ]


Handlers = Mapping[type[Message], Handler | Batched]
# An event and the trace headers it arrived with.
Item = tuple[common_pb2.EventEnvelope, Mapping[str, str] | None]
# A delivered message and the event it carries.
Delivery = tuple[Msg, common_pb2.EventEnvelope]

# An early event counts once per delivery, when first found early, however often it is tried
# while held for its predecessors (and again if it is redelivered).
OUTCOMES = Counter(
    "xinyi_consumer_events_total", "Events seen by consumers, by outcome", ["consumer", "outcome"]
)


# How long an early event is held for its predecessors before it is redelivered (ack_wait: 30 s).
EARLY_HOLD = 10.0
# A durable consumer's limits besides its ack wait: redelivery without end, and up to 10,000
# events out at once.
CONSUMER_LIMITS: dict[str, Any] = {"max_deliver": -1, "max_ack_pending": 10_000}


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    EARLY = "early"  # an earlier event of the estate has not been applied yet


# The consumer's own statements go straight to the driver's connection, in the estate's
# transaction: through SQLAlchemy, each with its span, they cost more CPU than most handlers.
# Takes the estate's cursor row, creating it at its first event, and holds its lock until
# commit (the update to itself is what locks it): replicas sharing the stream take turns here.
_LOCK_CURSOR = (
    "INSERT INTO inbox_cursor AS c (estate_id, source, last_seq) VALUES ($1, $2, 0) "
    "ON CONFLICT (estate_id, source) DO UPDATE SET last_seq = c.last_seq RETURNING c.last_seq"
)
# Moves the cursor and records the ids of the events it passes ($4, $5, in sequence order); it
# returns the sequences of those whose id was not seen before.
_ADVANCE = (
    "WITH advanced AS ("
    "UPDATE inbox_cursor SET last_seq = $3 WHERE estate_id = $1 AND source = $2) "
    "INSERT INTO inbox_applied (estate_id, event_id, source, seq) "
    "SELECT $1, e.id, $2, e.seq FROM unnest($4::uuid[], $5::bigint[]) AS e (id, seq) "
    "ON CONFLICT DO NOTHING RETURNING seq"
)

# Moves a transaction of several estates' events on to the next estate.
_SET_ESTATE = f"SELECT set_config('{ESTATE_SETTING}', $1, true)"
# The same two for many estates at once, in a transaction of system scope: the cursors are
# locked in the estates' order, so replicas doing the same never deadlock.
_LOCK_CURSORS = (
    "INSERT INTO inbox_cursor AS c (estate_id, source, last_seq) "
    "SELECT e, $2, 0 FROM unnest($1::uuid[]) AS e ORDER BY e "
    "ON CONFLICT (estate_id, source) DO UPDATE SET last_seq = c.last_seq "
    "RETURNING c.estate_id, c.last_seq"
)
_ADVANCE_MANY = (
    "WITH advanced AS ("
    "UPDATE inbox_cursor c SET last_seq = v.last "
    "FROM unnest($2::uuid[], $3::bigint[]) AS v (estate_id, last) "
    "WHERE c.estate_id = v.estate_id AND c.source = $1) "
    "INSERT INTO inbox_applied (estate_id, event_id, source, seq) "
    "SELECT e.estate_id, e.id, $1, e.seq "
    "FROM unnest($4::uuid[], $5::uuid[], $6::bigint[]) AS e (estate_id, id, seq) "
    "ON CONFLICT DO NOTHING RETURNING estate_id, seq"
)


class Consumer:
    def __init__(
        self,
        db: Database,
        service: str,
        source: str,
        handlers: Handlers,
        *,
        batch: int = 200,
        replicas: int = 1,
        concurrency: int = 4,
        linger: float = 0.25,
        linger_events: int = 2_000,
        ack_wait: float = 30.0,
    ) -> None:
        """`linger` is how long events without a handler may be held before their bookkeeping is
        written (0: at once), `linger_events` how many, at most, before it is written early;
        `ack_wait` how long an event delivered and not acknowledged waits to come again."""
        self.db = db
        self.service = service
        self.source = source
        self.durable = f"{service}--{source}"
        self._handlers = {cls.DESCRIPTOR.full_name: (cls, fn) for cls, fn in handlers.items()}
        self._batch = batch
        self._replicas = replicas
        # Transactions applied side by side, within the database pool.
        self._concurrency = max(1, concurrency)
        self._slots = asyncio.Semaphore(self._concurrency)
        self._counted = {o: OUTCOMES.labels(self.durable, o.value) for o in Outcome}
        self._failed = OUTCOMES.labels(self.durable, "failed")
        self._linger = linger
        self._linger_events = linger_events
        self._limits = {"ack_wait": float(ack_wait), **CONSUMER_LIMITS}
        # Events without a handler held by estate, unacknowledged, in delivery order; when
        # (monotonic) they are due to be written, and how many there are.
        self._held: dict[uuid.UUID, list[Delivery]] = {}
        self._held_due = 0.0
        self._held_count = 0
        # Since when each early event held is early, by its delivery's ack subject.
        self._early_since: dict[str, float] = {}

    async def apply(self, envelope: common_pb2.EventEnvelope) -> Outcome:
        """Applies one event in its own transaction; safe to call again with the same event."""
        return (await self.apply_estate(_estate_of(envelope), [(envelope, None)]))[0]

    async def apply_estate(self, estate: uuid.UUID, items: Sequence[Item]) -> list[Outcome]:
        """Applies one estate's events in one transaction, in sequence order, each at most once.

        `items` pairs each envelope with the trace headers it arrived with. Outcomes come back
        in the order of `items`.
        """
        order = sorted(range(len(items)), key=lambda i: items[i][0].sequence)
        ordered = [items[i] for i in order]
        if any(self._handles(envelope) for envelope, _ in items):
            async with self.db.estate_tx(estate) as session:
                raw = await driver_connection(session)
                planned = await self._apply(raw, estate, ordered, session)
        else:
            async with self.db.driver_tx(estate) as raw:
                planned = await self._apply(raw, estate, ordered, None)
        return _unsorted(order, planned)

    async def apply_estates(
        self, groups: Mapping[uuid.UUID, Sequence[Item]]
    ) -> dict[uuid.UUID, list[Outcome]]:
        """Applies several estates' events in one transaction, each estate's as `apply_estate`
        would, with the transaction's estate set to it while its part runs (and the session's
        writes flushed before the next begins). Outcomes come back by estate."""
        estates = sorted(groups)
        outcomes: dict[uuid.UUID, list[Outcome]] = {}
        async with self.db.estate_tx(estates[0]) as session:
            raw = await driver_connection(session)
            for estate in estates:
                if estate != estates[0]:
                    await session.flush()
                    await raw.execute(_SET_ESTATE, str(estate))
                items = groups[estate]
                order = sorted(range(len(items)), key=lambda i: items[i][0].sequence)
                planned = await self._apply(raw, estate, [items[i] for i in order], session)
                outcomes[estate] = _unsorted(order, planned)
            await session.flush()
        return outcomes

    async def bookkeep(
        self, estates: Mapping[uuid.UUID, Sequence[common_pb2.EventEnvelope]]
    ) -> dict[uuid.UUID, list[Outcome]]:
        """Applies events no handler acts on, of many estates, in one transaction: each estate's
        in sequence order, each at most once, as `apply_estate` would. Outcomes come back by
        estate, in the order of its events."""
        ordered = {
            estate: sorted(range(len(events)), key=lambda i: events[i].sequence)
            for estate, events in estates.items()
        }
        outcomes: dict[uuid.UUID, list[Outcome]] = {}
        advanced: tuple[list[uuid.UUID], list[int]] = ([], [])
        applied: tuple[list[uuid.UUID], list[str], list[int]] = ([], [], [])
        async with self.db.driver_system_tx() as raw:
            cursors = dict(await raw.fetch(_LOCK_CURSORS, sorted(estates), self.source))
            for estate, order in ordered.items():
                events = [estates[estate][i] for i in order]
                planned = plan(cursors[estate], [e.sequence for e in events])
                outcomes[estate] = _unsorted(order, planned)
                run = [e for e, o in zip(events, planned, strict=True) if o is Outcome.APPLIED]
                if run:
                    advanced[0].append(estate)
                    advanced[1].append(run[-1].sequence)
                    applied[0].extend([estate] * len(run))
                    applied[1].extend(e.event_id for e in run)
                    applied[2].extend(e.sequence for e in run)
            if advanced[0]:
                fresh = set(
                    map(tuple, await raw.fetch(_ADVANCE_MANY, self.source, *advanced, *applied))
                )
                for estate, event_id, sequence in zip(*applied, strict=True):
                    if (estate, sequence) not in fresh:
                        log.error("event %s seen again at sequence %d", event_id, sequence)
        return outcomes

    def _handles(self, envelope: common_pb2.EventEnvelope) -> bool:
        return envelope.payload.TypeName() in self._handlers

    async def _apply(
        self,
        raw: asyncpg.Connection,
        estate: uuid.UUID,
        ordered: list[Item],
        session: AsyncSession | None,
    ) -> list[Outcome]:
        """Applies `ordered` (in sequence order) in the estate's transaction on `raw`; `session`
        is that transaction's, for the handlers, and None only when none of them has one."""
        last = await raw.fetchval(_LOCK_CURSOR, estate, self.source)
        planned = plan(last, [envelope.sequence for envelope, _ in ordered])
        applied = [item for item, o in zip(ordered, planned, strict=True) if o is Outcome.APPLIED]
        if not applied:
            return planned
        fresh = {
            row[0]
            for row in await raw.fetch(
                _ADVANCE,
                estate,
                self.source,
                applied[-1][0].sequence,
                [envelope.event_id for envelope, _ in applied],
                [envelope.sequence for envelope, _ in applied],
            )
        }
        # Handled events go to their handlers in runs of one type (see `Batched`).
        run: list[Item] = []
        for envelope, headers in applied:
            if envelope.sequence not in fresh:
                # Same event id under another sequence number: an emitter bug, never re-applied.
                log.error(
                    "event %s seen again at sequence %d", envelope.event_id, envelope.sequence
                )
            elif self._handles(envelope):
                assert session is not None, "a handled event outside a session"
                if run and run[0][0].payload.TypeName() != envelope.payload.TypeName():
                    await self._handle(session, estate, run)
                    run = []
                run.append((envelope, headers))
        if run:
            assert session is not None
            await self._handle(session, estate, run)
        return planned

    async def _handle(self, session: AsyncSession, estate: uuid.UUID, run: list[Item]) -> None:
        """Applies a run of events of one type: at once if its handler is `Batched`, else one
        by one, each in its span."""
        type_name = run[0][0].payload.TypeName()
        cls, handler = self._handlers[type_name]
        if isinstance(handler, Batched):
            events = []
            for envelope, _ in run:
                event = cls()
                envelope.payload.Unpack(event)
                events.append((envelope, event))
            with self._span(type_name, estate, run[0], len(run)):
                await handler.apply(session, events)
            return
        for envelope, headers in run:
            with self._span(type_name, estate, (envelope, headers), 1):
                event = cls()
                envelope.payload.Unpack(event)
                await handler(session, envelope, event)

    def _span(
        self, type_name: str, estate: uuid.UUID, first: Item, count: int
    ) -> AbstractContextManager[trace.Span]:
        envelope, headers = first
        return tracer.start_as_current_span(
            f"apply {type_name}" if count == 1 else f"apply {count} {type_name}",
            context=extract_context(headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "xinyi.consumer": self.durable,
                "xinyi.event_id": envelope.event_id,
                "xinyi.estate_id": str(estate),
                "xinyi.sequence": envelope.sequence,
                "xinyi.events": count,
            },
        )

    async def handle_batch(self, msgs: Sequence[Msg]) -> None:
        """Applies a fetched batch: one transaction per estate, estates side by side. An estate
        whose events have no handler is held (see `flush`), unless `linger` is 0."""
        groups: dict[uuid.UUID, list[Delivery]] = {}
        for msg in msgs:
            try:
                envelope = common_pb2.EventEnvelope.FromString(msg.data)
            except DecodeError:
                log.error("dropping an undecodable message on %s", msg.subject)
                await msg.term()
                continue
            groups.setdefault(_estate_of(envelope), []).append((msg, envelope))
        now: dict[uuid.UUID, list[Delivery]] = {}
        for estate, group in groups.items():
            if self._linger > 0 and not any(self._handles(env) for _, env in group):
                self._hold(estate, group)
            else:
                # What the estate holds precedes this group: it goes first, in one transaction.
                now[estate] = self._take(estate) + group
        # A transaction costs its commit and more CPU than most events' handlers: the estates
        # share as few as keep `concurrency` of them side by side.
        estates = sorted(now)
        size = max(1, -(-len(estates) // self._concurrency))
        parts = [estates[i : i + size] for i in range(0, len(estates), size)]
        await asyncio.gather(*(self._handle_estates({e: now[e] for e in part}) for part in parts))

    async def _handle_estates(self, groups: dict[uuid.UUID, list[Delivery]]) -> None:
        if len(groups) == 1:
            [(estate, group)] = groups.items()
            await self._handle_estate(estate, group)
            return
        try:
            async with self._slots:
                outcomes = await self.apply_estates(
                    {e: [(env, msg.headers) for msg, env in g] for e, g in groups.items()}
                )
        except Exception as exc:
            # Each estate alone, then, with the slot given back: one that fails holds up none
            # of the others.
            log.warning("events of %d estates at once: %s; each alone", len(groups), exc)
            await asyncio.gather(*(self._handle_estate(e, g) for e, g in groups.items()))
            return
        for estate, group in groups.items():
            await self._settled(estate, group, outcomes[estate])

    def _hold(self, estate: uuid.UUID, group: list[Delivery], within: float | None = None) -> None:
        """Holds `group` to be written within `within` seconds (`linger` by default)."""
        due = time.monotonic() + (self._linger if within is None else within)
        self._held_due = min(self._held_due, due) if self._held_count else due
        self._held.setdefault(estate, []).extend(group)
        self._held_count += len(group)

    def _take(self, estate: uuid.UUID) -> list[Delivery]:
        held = self._held.pop(estate, [])
        self._held_count -= len(held)
        return held

    @property
    def held(self) -> int:
        """How many events are held, unacknowledged, for their bookkeeping."""
        return self._held_count

    def _flush_in(self) -> float | None:
        """Seconds until the held events are due to be written (0: now), None if none are."""
        if not self._held_count:
            return None
        if self._held_count >= self._linger_events:
            return 0.0
        return max(0.0, self._held_due - time.monotonic())

    async def flush(self) -> None:
        """Writes the bookkeeping of the held events, one transaction per estate, and
        acknowledges them (or, when that fails, has them redelivered)."""
        held, self._held, self._held_count = self._held, {}, 0
        if len(self._early_since) > 10_000:  # left by batches that failed: long redelivered
            self._early_since.clear()
        # Early events held again may have handlers: those estates go on their own.
        plain = {
            estate: group
            for estate, group in held.items()
            if not any(self._handles(env) for _, env in group)
        }
        if len(plain) > 1:
            try:
                async with self._slots:
                    outcomes = await self.bookkeep(
                        {e: [env for _, env in g] for e, g in plain.items()}
                    )
            except Exception as exc:
                # Each estate alone, then: one that fails holds up no other.
                log.warning("held events of %d estates at once: %s", len(plain), exc)
            else:
                for estate, group in plain.items():
                    await self._settled(estate, group, outcomes[estate])
                    del held[estate]
        await asyncio.gather(*(self._handle_estate(e, g) for e, g in held.items()))

    async def _handle_estate(self, estate: uuid.UUID, group: list[Delivery]) -> None:
        try:
            async with self._slots:
                outcomes = await self.apply_estate(
                    estate, [(env, msg.headers) for msg, env in group]
                )
        except Exception as exc:
            if len(group) == 1:
                msg, env = group[0]
                if isinstance(exc, Unavailable):
                    # The database is away (restarting): expected, and no bug to trace.
                    log.warning(
                        "applying %s %s: %s; it will be redelivered",
                        env.payload.TypeName(),
                        env.event_id,
                        exc.message,
                    )
                else:
                    log.exception(
                        "applying %s %s failed; it will be redelivered",
                        env.payload.TypeName(),
                        env.event_id,
                    )
                self._failed.inc()
                await msg.nak(delay=_backoff(msg))
                return
            # Find the event that fails: apply the group one event at a time. The slot is
            # given back first: were every slot held by a failed group (a database restart
            # under load), retries waiting for one would wait forever.
            for msg, env in sorted(group, key=lambda item: item[1].sequence):
                await self._handle_estate(estate, [(msg, env)])
            return
        await self._settled(estate, group, outcomes)

    async def _settled(
        self, estate: uuid.UUID, group: list[Delivery], outcomes: list[Outcome]
    ) -> None:
        """Acknowledges what `group` applied or found applied, and holds or hands back what
        came early."""
        now = time.monotonic()
        for (msg, env), outcome in zip(group, outcomes, strict=True):
            key = _key(msg)
            if outcome is not Outcome.EARLY:
                self._counted[outcome].inc()
                self._early_since.pop(key, None)
                await msg.ack()
                continue
            if key not in self._early_since:
                self._counted[outcome].inc()
            # An earlier event is not applied yet: with several replicas, most often because
            # another one holds it for its linger. Held again, the event is tried at each flush,
            # soon after its predecessors land; redelivered with a backoff, a run of an estate's
            # events would crawl, each waiting seconds for its turn. Held no longer than
            # EARLY_HOLD, well within ack_wait: then redelivered, to any replica.
            since = self._early_since.setdefault(key, now)
            if self._linger > 0 and now - since < EARLY_HOLD:
                # Soon at first: the predecessors are often in another replica's flush.
                self._hold(estate, [(msg, env)], min(self._linger, max(0.05, (now - since) / 2)))
            else:
                self._early_since.pop(key, None)
                await msg.nak(delay=_backoff(msg))

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        sub = await self._subscribe(js, stop)
        if sub is None:
            return
        while not stop.is_set():
            # While events are held, the fetch waits no longer than until they are due.
            due = self._flush_in()
            msgs: list[Msg] = []
            try:
                msgs = await sub.fetch(self._batch, timeout=_fetch_timeout(due))
            except (FetchTimeoutError, TimeoutError):
                pass
            except Exception as exc:
                log.warning("fetch from %s failed: %s", self.durable, exc)
                await asyncio.sleep(0.5)
            await self._settle(msgs)
        # What is still held is written now: a consumer told to stop leaves nothing behind but
        # early events, handed back for redelivery (elsewhere, or after its restart).
        await self._settle([], final=True)
        try:
            for msg, _ in (delivery for group in self._held.values() for delivery in group):
                await msg.nak(delay=_backoff(msg))
        except Exception as exc:
            log.warning("handing back early events of %s: %s", self.durable, exc)
        self._held, self._held_count = {}, 0

    async def _subscribe(
        self, js: JetStreamContext, stop: asyncio.Event
    ) -> JetStreamContext.PullSubscription | None:
        """The durable pull subscription, its stream made first. Tried again until it is made
        (a consumer that gave up here would leave its read models behind, silently, while the
        service answered as if nothing were wrong); None when told to stop first."""
        backoff = 0.2
        while not stop.is_set():
            try:
                await ensure_stream(js, self.source, self._replicas)
                sub = await js.pull_subscribe(
                    f"xinyi.{self.source}.v1.>",
                    durable=self.durable,
                    stream=stream_name(self.source),
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.EXPLICIT,
                        deliver_policy=DeliverPolicy.ALL,
                        **self._limits,
                    ),
                )
            except Exception as exc:
                log.warning("subscribing %s failed, retrying: %r", self.durable, exc)
            else:
                await self._bring_limits_up_to_date(js, sub)
                return sub
            if await sleep_unless(stop, backoff):
                break
            backoff = min(backoff * 2, 5.0)
        return None

    async def _bring_limits_up_to_date(
        self, js: JetStreamContext, sub: JetStreamContext.PullSubscription
    ) -> None:
        """A durable consumer made by an earlier release keeps the limits it was made with
        (`pull_subscribe` binds to it as it is): those that differ from this one's are updated.
        A server that refuses leaves them, with a warning: the consumer still works."""
        try:
            have = (await sub.consumer_info()).config
            if all(getattr(have, k) == v for k, v in self._limits.items()):
                return
            await js.add_consumer(stream_name(self.source), config=have.evolve(**self._limits))
            log.info("consumer %s brought to %s", self.durable, self._limits)
        except Exception as exc:
            log.warning("consumer %s keeps its earlier limits: %r", self.durable, exc)

    async def _settle(self, msgs: list[Msg], *, final: bool = False) -> None:
        try:
            if msgs:
                await self.handle_batch(msgs)
            due = self._flush_in()
            if due is not None and (final or due <= 0):
                await self.flush()
        except Exception:
            # An ack or nak lost with the connection: what was not acknowledged comes again
            # after ack_wait. The consumer itself must go on.
            log.exception("a batch of %s failed; unacknowledged events come again", self.durable)


def plan(last: int, sequences: Sequence[int]) -> list[Outcome]:
    """What becomes of an estate's events, in ascending sequence order, when its cursor stands
    at `last`: the run that follows the cursor is applied, what it has passed is a duplicate,
    and what lies beyond a gap waits for the gap to fill."""
    outcomes = []
    for sequence in sequences:
        if sequence <= last:
            outcomes.append(Outcome.DUPLICATE)
        elif sequence == last + 1:
            outcomes.append(Outcome.APPLIED)
            last = sequence
        else:
            outcomes.append(Outcome.EARLY)
    return outcomes


def _unsorted(order: Sequence[int], planned: Sequence[Outcome]) -> list[Outcome]:
    """Outcomes planned for items sorted by `order`, put back in the items' own order."""
    outcomes = dict(zip(order, planned, strict=True))
    return [outcomes[i] for i in range(len(order))]


def _estate_of(envelope: common_pb2.EventEnvelope) -> uuid.UUID:
    return uuid.UUID(envelope.estate_id) if envelope.estate_id else PLATFORM


def _key(msg: Msg) -> str:
    """A delivery's identity: its ack subject (an object's id for a message without one)."""
    return str(getattr(msg, "reply", None) or id(msg))


def _fetch_timeout(due: float | None) -> float:
    """A fetch waits up to a second (then `run` looks at its stop event), and while events are
    held, no longer than until they are due."""
    return 1.0 if due is None else min(1.0, max(due, 0.02))


def _backoff(msg: Msg) -> float:
    try:
        delivered = msg.metadata.num_delivered
    except Exception:
        delivered = 1
    return float(min(0.05 * (2 ** min(delivered, 10)), 5.0))
