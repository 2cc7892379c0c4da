"""Sending what waits: each channel drains at its own steady rate, most urgent first, so a burst
(a city's monthly reports) never starves an alarm and a failing channel never blocks the others.
A failed send is retried with exponential back-off; after the last try it is a dead letter an
administrator can replay. Also the timed notices: a ballot closing within 24 hours."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import Counter
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.notifications.v1 import events_pb2
from xinyi_kit import clock
from xinyi_kit.db import PLATFORM, SCOPE_SETTING, Database
from xinyi_kit.outbox import Outbox
from xinyi_notifications import notify, plan, rules, store
from xinyi_notifications.channels import Channel, Outgoing, SendFailed

log = logging.getLogger(__name__)

SENT = Counter(
    "xinyi_notifications_deliveries_total",
    "Delivery attempts by channel and outcome",
    ["channel", "outcome"],
)


class TokenBucket:
    """`rate` sends a second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int, now: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic() if now is None else now

    def take(self, wanted: int, now: float | None = None) -> int:
        current = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (current - self.stamp) * self.rate)
        self.stamp = current
        granted = min(wanted, int(self.tokens))
        self.tokens -= granted
        return granted


@dataclass(frozen=True)
class Tuning:
    rates: Mapping[str, float]
    max_attempts: int = 8
    retry_base_seconds: float = 30.0
    tick_seconds: float = 0.5
    digest_hour: int = 20


# Whether a round has anything to do, in one read: a ballot due its reminder ($1: within 24
# hours of now), the channels of $3 with a delivery due ($2: now), a digest due. Most rounds
# find nothing; each of their three transactions through the ORM would cost more than this.
_DUE = """
SELECT
    EXISTS (
        SELECT 1 FROM ballots
        WHERE state = 'open' AND NOT closing_reminded
              AND voting_closes_at IS NOT NULL AND voting_closes_at <= $1
    ) AS remind,
    ARRAY (
        SELECT c FROM unnest($3::text[]) AS c
        WHERE EXISTS (
            SELECT 1 FROM deliveries
            WHERE state = 'pending' AND channel = c AND next_attempt_at <= $2
        )
    ) AS channels,
    EXISTS (
        SELECT 1 FROM deliveries WHERE state = 'digest' AND next_attempt_at <= $2
    ) AS digests
"""
# The probe reads across estates (the tables' row security), as `Database.system_tx` does.
_SYSTEM = f"SELECT set_config('{SCOPE_SETTING}', 'system', true)"


@dataclass(frozen=True)
class Due:
    """What a round would find: a ballot to remind, the channels with deliveries due, digests."""

    remind: bool
    channels: frozenset[str]
    digests: bool


class Dispatcher:
    def __init__(
        self, db: Database, outbox: Outbox, channels: Mapping[str, Channel], tuning: Tuning
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.channels = dict(channels)
        self.tuning = tuning
        self.buckets = {
            name: TokenBucket(
                tuning.rates.get(name, 10.0), max(1, int(tuning.rates.get(name, 10.0)))
            )
            for name in self.channels
        }

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("a dispatch round failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tuning.tick_seconds)

    async def tick(self) -> None:
        due = await self.due()
        if due.remind:
            await self.remind_closing_ballots()
        await asyncio.gather(*(self.drain(name) for name in self.channels if name in due.channels))
        if due.digests:
            await self.send_digests()

    async def due(self) -> Due:
        """What this round has to do; the steps with nothing due are skipped."""
        now = clock.now()
        async with self.db.driver_tx(PLATFORM) as raw:
            await raw.execute(_SYSTEM)
            row = await raw.fetchrow(_DUE, now + timedelta(hours=24), now, list(self.channels))
        assert row is not None
        return Due(bool(row["remind"]), frozenset(row["channels"]), bool(row["digests"]))

    async def drain(self, channel: str) -> int:
        """One round of a channel: as many due deliveries as its bucket allows, urgent first."""
        bucket = self.buckets[channel]
        want = bucket.take(max(1, int(bucket.rate)))
        if want == 0:
            return 0
        async with self.db.system_tx() as session:
            rows = list(
                (
                    await session.execute(
                        select(store.Delivery)
                        .where(
                            store.Delivery.state == "pending",
                            store.Delivery.channel == channel,
                            store.Delivery.next_attempt_at <= clock.now(),
                        )
                        .order_by(store.Delivery.priority, store.Delivery.next_attempt_at)
                        .limit(want)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            # Unused tokens go back: an idle channel keeps its burst for later.
            bucket.tokens = min(bucket.burst, bucket.tokens + want - len(rows))
            if not rows:
                return 0
            secrets = await self._secrets(session, rows) if channel == "webhook" else {}
            results = await asyncio.gather(
                *(self._send(row, secrets.get(row.recipient, "")) for row in rows)
            )
            for row, error in zip(rows, results, strict=True):
                await self._settle(session, row, error)
        return len(rows)

    async def _secrets(self, session: AsyncSession, rows: list[store.Delivery]) -> dict[str, str]:
        """Each webhook delivery's signing key, whether the estate or its company subscribed."""
        ids = [uuid.UUID(r.recipient) for r in rows]
        found: dict[str, str] = {}
        for model in (store.EstateWebhook, store.CompanyWebhook):
            hooks = await session.execute(
                select(model.subscription_id, model.secret).where(model.subscription_id.in_(ids))
            )
            found.update({str(sid): secret for sid, secret in hooks.all()})
        return found

    async def _send(self, row: store.Delivery, secret: str) -> str | None:
        message = Outgoing(
            delivery_id=str(row.delivery_id),
            kind=row.kind,
            address=row.address,
            subject=row.subject,
            text=row.body_text,
            html=row.body_html,
            payload={**row.payload, "delivery_id": str(row.delivery_id)},
        )
        try:
            await self.channels[row.channel].send(message, secret)
        except SendFailed as exc:
            return str(exc) or "failed"
        except Exception as exc:  # an adapter's bug must not stop the round
            log.exception("channel %s failed unexpectedly", row.channel)
            return f"{type(exc).__name__}"
        return None

    async def _settle(self, session: AsyncSession, row: store.Delivery, error: str | None) -> None:
        now = clock.now()
        row.attempts += 1
        if error is None:
            row.state, row.sent_at, row.last_error = "sent", now, ""
            SENT.labels(row.channel, "sent").inc()
            return
        row.last_error = error[:1000]
        if row.attempts >= self.tuning.max_attempts:
            row.state = "dead"
            SENT.labels(row.channel, "dead").inc()
            log.warning(
                "delivery %s on %s is a dead letter: %s", row.delivery_id, row.channel, error
            )
            await self.outbox.emit(
                session,
                row.estate_id,
                "delivery_failed",
                events_pb2.DeliveryFailed(
                    estate_id=str(row.estate_id),
                    message_id=str(row.delivery_id),
                    channel=row.channel,
                    reason=row.last_error,
                ),
            )
            return
        SENT.labels(row.channel, "retry").inc()
        row.next_attempt_at = now + plan.backoff(row.attempts, self.tuning.retry_base_seconds)

    async def send_digests(self) -> None:
        """One message per person and channel for what their digest collected."""
        now = clock.now()
        async with self.db.system_tx() as session:
            due = (
                await session.execute(
                    select(store.Delivery.recipient, store.Delivery.channel)
                    .where(store.Delivery.state == "digest", store.Delivery.next_attempt_at <= now)
                    .distinct()
                    .limit(50)
                )
            ).all()
        for recipient, channel in due:
            if channel not in self.channels:
                continue
            async with self.db.system_tx() as session:
                # Another replica's dispatcher may be collecting the same digest at this moment:
                # row locks taken as each scan goes would split it into two mails.
                ours = await session.scalar(
                    text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"),
                    {"k": f"digest:{recipient}:{channel}"},
                )
                if not ours:
                    continue
                rows = list(
                    (
                        await session.execute(
                            select(store.Delivery)
                            .where(
                                store.Delivery.state == "digest",
                                store.Delivery.recipient == recipient,
                                store.Delivery.channel == channel,
                                store.Delivery.next_attempt_at <= now,
                            )
                            .order_by(store.Delivery.created_at)
                            .with_for_update(skip_locked=True)
                        )
                    ).scalars()
                )
                if not rows:
                    continue
                message = Outgoing(
                    delivery_id=str(rows[0].delivery_id),
                    kind="digest",
                    address=rows[-1].address,
                    subject=f"信义物业公开平台：今日 {len(rows)} 条消息汇总",
                    text="\n\n".join(f"【{r.subject}】\n{r.body_text}" for r in rows),
                    html="",
                    payload={},
                )
                try:
                    await self.channels[channel].send(message)
                except Exception as exc:
                    log.warning("digest for %s on %s failed: %s", recipient, channel, exc)
                    retry = now + plan.backoff(rows[0].attempts + 1, self.tuning.retry_base_seconds)
                    for r in rows:
                        r.attempts += 1
                        r.last_error = str(exc)[:1000]
                        r.next_attempt_at = retry
                    continue
                for r in rows:
                    r.state, r.sent_at, r.attempts = "sent", now, r.attempts + 1
                SENT.labels(channel, "digest").inc()

    async def remind_closing_ballots(self) -> None:
        """Owners hear once when an open ballot is within 24 hours of closing."""
        now = clock.now()
        async with self.db.system_tx() as session:
            due = list(
                (
                    await session.execute(
                        select(store.Ballot)
                        .where(
                            store.Ballot.state == "open",
                            ~store.Ballot.closing_reminded,
                            store.Ballot.voting_closes_at.is_not(None),
                            store.Ballot.voting_closes_at <= now + timedelta(hours=24),
                        )
                        .limit(100)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
        for ballot in due:
            async with self.db.estate_tx(ballot.estate_id) as session:
                row = await session.get(
                    store.Ballot, (ballot.estate_id, ballot.ballot_id), with_for_update=True
                )
                if row is None or row.closing_reminded or row.state != "open":
                    continue
                row.closing_reminded = True
                assert row.voting_closes_at is not None
                if row.voting_closes_at > now:
                    estate = await session.get(store.Estate, row.estate_id)
                    await notify.deliver(
                        session,
                        row.estate_id,
                        f"ballot:{row.ballot_id}:closing",
                        rules.ballot_closing(
                            str(row.estate_id),
                            estate.name if estate else "本小区",
                            str(row.ballot_id),
                            row.title,
                            row.voting_closes_at,
                        ),
                    )


async def replay(session: AsyncSession, delivery: store.Delivery) -> None:
    delivery.state = "pending"
    delivery.attempts = 0
    delivery.last_error = ""
    delivery.next_attempt_at = clock.now()
