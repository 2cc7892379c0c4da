"""Turning the platform's events into messages: the inbox row and the deliveries of each
recipient, written in the same transaction as the event's application, so an event seen twice
or after a restart never makes a second message (the unique keys are the promise)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.disclosure.v1 import events_pb2 as disclosure_events
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi.ledger.v1 import events_pb2 as ledger_events
from xinyi.voting.v1 import events_pb2 as voting_events
from xinyi_kit import clock
from xinyi_kit.consumer import Handler, Handlers
from xinyi_kit.db import PLATFORM, driver_connection
from xinyi_notifications import directory, plan, rules, store, tx
from xinyi_notifications.rules import Notice

LIVE_CHANNEL = "xinyi_inbox"


@dataclass(frozen=True)
class Config:
    """What the installation offers: the outward channels configured, the digest hour, the
    address of the web app (for links in mail)."""

    channels: frozenset[str]
    digest_hour: int = 20
    public_url: str = ""


CONFIG = Config(frozenset())


def configure(config: Config) -> None:
    global CONFIG
    CONFIG = config


def _text(notice: Notice, url: str) -> str:
    link = f"\n\n查看详情：{url}/#{notice.link}" if url else ""
    return f"{notice.body}{link}\n\n——信义物业公开平台（此邮件由系统发送）"


def _payload(
    notice: Notice, estate_id: uuid.UUID, source_key: str, occurred_at: datetime
) -> dict[str, Any]:
    return {
        "kind": notice.kind,
        "estate_id": str(estate_id),
        "source": source_key,
        "occurred_at": occurred_at.isoformat(),
        "title": notice.title,
        "body": notice.body,
        "link": notice.link,
        "params": notice.params,
    }


# The notice's inbox rows and deliveries, in one statement; and the live stream's wake-up call
# for the inbox rows' accounts (their ids, comma-separated, at most what a notify carries).
_WRITE = """
WITH inbox AS (
    INSERT INTO inbox (estate_id, message_id, user_id, kind, title, body, read, created_at,
                       source_key, link, urgent, params)
    SELECT $1, m.id, m.user_id, $4, $5, $6, false, $7, $8, $9, $10, $11::text::jsonb
    FROM unnest($2::uuid[], $3::uuid[]) AS m (id, user_id)
    ON CONFLICT DO NOTHING
), delivered AS (
    INSERT INTO deliveries (estate_id, delivery_id, source_key, recipient, channel, kind,
                            address, subject, body_text, body_html, payload, priority, state,
                            attempts, last_error, next_attempt_at, created_at, company_id)
    SELECT $1, d.id, $8, d.recipient, d.channel, $4, d.address, $12, $13, '',
           $14::text::jsonb, $15, d.state, 0, '', d.not_before, $7, d.company_id
    FROM unnest($16::uuid[], $17::text[], $18::text[], $19::text[], $20::text[],
                $21::timestamptz[], $22::uuid[])
         AS d (id, recipient, channel, address, state, not_before, company_id)
    ON CONFLICT DO NOTHING
)
SELECT pg_notify($23, $24) WHERE $24 <> ''
"""


# What every event's notice names, read by the driver: a vote is often a transaction's only
# event, and these reads through the ORM cost more than the rest of its work.
_ESTATE_NAME = "SELECT name FROM estates WHERE estate_id = $1"
_BALLOT_TITLE = "SELECT title FROM ballots WHERE estate_id = $1 AND ballot_id = $2"
_NAME_AND_TITLE = (
    "SELECT (SELECT name FROM estates WHERE estate_id = $1), "
    "(SELECT title FROM ballots WHERE estate_id = $1 AND ballot_id = $2)"
)


@dataclass(frozen=True)
class _Delivery:
    """One outward delivery of a notice: to a person's address, or to a webhook."""

    recipient: str
    channel: str
    address: str
    not_before: datetime
    state: str
    company_id: uuid.UUID | None = None


async def deliver(
    session: AsyncSession,
    estate_id: uuid.UUID,
    source_key: str,
    notice: Notice,
    occurred_at: datetime | None = None,
) -> int:
    """Writes the notice's messages and deliveries; returns how many people it reaches."""
    now = clock.now()
    raw = await driver_connection(session)
    people = await directory.audience(raw, estate_id, notice)
    inbox = [uuid.UUID(p.user_id) for p in people if plan.wants_inbox(notice.kind, p)]
    deliveries = [
        _Delivery(p.user_id, out.channel, out.address, out.not_before, _state(out))
        for p in people
        for out in plan.outward(notice.kind, p, CONFIG.channels, now, CONFIG.digest_hour)
    ]
    if notice.broadcast and "webhook" in CONFIG.channels:
        deliveries += [
            _Delivery(hook, "webhook", url, now, "pending", company)
            for hook, url, company in await _webhooks(session, estate_id, notice.kind)
        ]
    if inbox or deliveries:
        await _write(raw, estate_id, source_key, notice, now, occurred_at or now, inbox, deliveries)
    return len(people)


def _state(out: plan.Outward) -> str:
    return "digest" if out.digest else "pending"


async def _write(
    raw: asyncpg.Connection,
    estate_id: uuid.UUID,
    source_key: str,
    notice: Notice,
    now: datetime,
    occurred: datetime,
    inbox: list[uuid.UUID],
    deliveries: list[_Delivery],
) -> None:
    """The inbox rows of `inbox` (account ids) and `deliveries`, once per source key each (the
    unique keys drop a second), and the live stream's call when there are inbox rows."""
    await raw.execute(
        _WRITE,
        estate_id,
        [uuid.uuid4() for _ in inbox],
        inbox,
        notice.kind,
        notice.title[:300],
        notice.body,
        now,
        source_key,
        notice.link,
        notice.urgent,
        json.dumps(notice.params),
        notice.title,
        _text(notice, CONFIG.public_url),
        json.dumps(_payload(notice, estate_id, source_key, occurred)),
        notice.priority,
        [uuid.uuid4() for _ in deliveries],
        [d.recipient for d in deliveries],
        [d.channel for d in deliveries],
        [d.address for d in deliveries],
        [d.state for d in deliveries],
        [d.not_before for d in deliveries],
        [d.company_id for d in deliveries],
        LIVE_CHANNEL,
        ",".join(str(u) for u in inbox)[:7900],
    )


async def _webhooks(
    session: AsyncSession, estate_id: uuid.UUID, kind: str
) -> list[tuple[str, str, uuid.UUID | None]]:
    """(subscription id, url, company id) of the active webhooks that want `kind`."""
    found: list[tuple[str, str, uuid.UUID | None]] = [
        (str(h.subscription_id), h.url, None)
        for h in (
            await session.execute(
                select(store.EstateWebhook).where(
                    store.EstateWebhook.estate_id == estate_id, store.EstateWebhook.active
                )
            )
        ).scalars()
        if not h.kinds or kind in h.kinds
    ]
    estate = await directory.estate_of(session, estate_id)
    if estate is not None and estate.company_id is not None:
        found += [
            (str(h.subscription_id), h.url, h.company_id)
            for h in (
                await session.execute(
                    select(store.CompanyWebhook).where(
                        store.CompanyWebhook.company_id == estate.company_id,
                        store.CompanyWebhook.active,
                    )
                )
            ).scalars()
            if not h.kinds or kind in h.kinds
        ]
    return found


def _when(envelope: common_pb2.EventEnvelope) -> datetime:
    return envelope.occurred_at.ToDatetime(tzinfo=UTC)


async def _name(session: AsyncSession, estate_id: uuid.UUID) -> str:
    async def read() -> str:
        raw = await driver_connection(session)
        return str(await raw.fetchval(_ESTATE_NAME, estate_id) or "本小区")

    return await tx.remembered(session, directory.estate_key(estate_id), read)


# A notice worded from an event and the estate's name, or None when the event concerns nobody.
Build = Callable[[AsyncSession, Any, str], Awaitable[Notice | None]]


async def _name_and_title(session: AsyncSession, estate_id: uuid.UUID, ballot_id: str) -> None:
    """Reads the estate's name and the ballot's title in one round trip, when the transaction
    knows neither (a vote alone in its transaction would read them one after the other)."""
    name_key, title_key = directory.estate_key(estate_id), _ballot_key(str(estate_id), ballot_id)
    if tx.known(session, name_key) or tx.known(session, title_key):
        return
    raw = await driver_connection(session)
    row = await raw.fetchrow(_NAME_AND_TITLE, estate_id, title_key[2])
    assert row is not None  # a select without FROM: always one row
    tx.remember(session, name_key, str(row[0] or "本小区"))
    tx.remember(session, title_key, str(row[1] or ""))


def _notifying(
    build: Build,
    key: Callable[[Any], str] | None = None,
    ballot: Callable[[Any], str] | None = None,
) -> Handler:
    """A handler that delivers the event's notice once per event, or once per `key` where the
    same matter may be announced by more than one event (a report re-emitted by a rebuild).
    `ballot` names the ballot whose title the notice always shows."""

    async def handle(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        estate = uuid.UUID(envelope.estate_id)
        if ballot is not None:
            await _name_and_title(session, estate, ballot(event))
        notice = await build(session, event, await _name(session, estate))
        if notice is not None:
            source = key(event) if key is not None else envelope.event_id
            await deliver(session, estate, source, notice, _when(envelope))

    return handle


# -- identity -------------------------------------------------------------------------------
async def new_device_login(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, identity_events.NewDeviceLogin)
    await deliver(
        session,
        PLATFORM,
        envelope.event_id,
        rules.new_device_login(
            event.user_id, event.device, event.client_ip, event.at.ToDatetime(tzinfo=UTC)
        ),
        _when(envelope),
    )


# -- the ledger -------------------------------------------------------------------------------
async def _approval(
    session: AsyncSession, e: ledger_events.DisbursementChanged, estate: str
) -> Notice | None:
    # A debit the bank took is announced as the bank's alarm, not as a request.
    if e.state != ledger_events.DISBURSEMENT_STATE_REQUESTED or e.origin == "bank_debit":
        return None
    return rules.disbursement_requested(
        e.estate_id,
        estate,
        e.disbursement_id,
        e.amount_fen,
        e.payee,
        e.purpose,
        e.approvals_required,
    )


async def _alarm(session: AsyncSession, e: ledger_events.BankAlarm, estate: str) -> Notice:
    return rules.bank_alarm(e.estate_id, estate, e.line_id, e.amount_fen, e.booked_on, e.narrative)


async def _cosign(session: AsyncSession, e: ledger_events.HeadSigned, estate: str) -> Notice | None:
    if e.signer_role != "company" or e.fully_signed:
        return None
    return rules.cosign_requested(e.estate_id, estate, e.period)


async def _fees(session: AsyncSession, e: ledger_events.FeeReminder, estate: str) -> Notice | None:
    return rules.fee_reminder(
        e.estate_id, estate, e.unit_id, e.kind, e.period, e.owed_fen, e.oldest_period
    )


# -- voting -----------------------------------------------------------------------------------
def _stamp_or_none(event: Message, name: str) -> datetime | None:
    return getattr(event, name).ToDatetime(tzinfo=UTC) if event.HasField(name) else None


async def _ballot_state(
    session: AsyncSession, e: voting_events.BallotStateChanged, estate: str
) -> Notice | None:
    """Keeps the ballot's title and closing time (for the reminder a day before the end)."""
    closes = _stamp_or_none(e, "voting_closes_at")
    state = {"title": e.title, "state": e.state, "voting_closes_at": closes}
    await session.execute(
        insert(store.Ballot)
        .values(estate_id=uuid.UUID(e.estate_id), ballot_id=uuid.UUID(e.ballot_id), **state)
        .on_conflict_do_update(index_elements=["estate_id", "ballot_id"], set_=state)
    )
    tx.remember(session, _ballot_key(e.estate_id, e.ballot_id), e.title)
    return rules.ballot_state(
        e.estate_id,
        estate,
        e.ballot_id,
        e.state,
        e.title,
        _stamp_or_none(e, "voting_opens_at"),
        closes,
    )


def _ballot_key(estate: str, ballot_id: str) -> tuple[str, uuid.UUID, uuid.UUID]:
    """The key of a ballot's title in the transaction's memo (`tx.remembered`)."""
    return ("ballot", uuid.UUID(estate), uuid.UUID(ballot_id))


async def _ballot_title(session: AsyncSession, estate: str, ballot_id: str) -> str:
    key = _ballot_key(estate, ballot_id)

    async def read() -> str:
        raw = await driver_connection(session)
        return str(await raw.fetchval(_BALLOT_TITLE, key[1], key[2]) or "")

    # Every vote of a batch names its ballot: its title is read once per transaction.
    return await tx.remembered(session, key, read)


async def _result(session: AsyncSession, e: voting_events.BallotDecided, estate: str) -> Notice:
    question = e.question_text or await _ballot_title(session, e.estate_id, e.ballot_id)
    return rules.ballot_result(e.estate_id, estate, e.ballot_id, question, e.approved)


async def _vote(session: AsyncSession, e: voting_events.VoteRecorded, estate: str) -> Notice:
    title = await _ballot_title(session, e.estate_id, e.ballot_id)
    return rules.vote_counted(
        e.estate_id, estate, e.ballot_id, title, e.receipt_code, e.voter_user_id
    )


async def _suggestion(
    session: AsyncSession, e: voting_events.SuggestionUpdated, estate: str
) -> Notice | None:
    return rules.suggestion_updated(
        e.estate_id, estate, e.suggestion_id, e.state, e.submitter_user_id
    )


# -- disclosure -------------------------------------------------------------------------------
async def _report(
    session: AsyncSession, e: disclosure_events.ReportPublished, estate: str
) -> Notice:
    return rules.report_published(e.estate_id, estate, e.period)


async def _flag(
    session: AsyncSession, e: disclosure_events.FlagChanged, estate: str
) -> Notice | None:
    if e.state != "open":
        return None
    return rules.flag_raised(e.estate_id, estate, e.flag_id, e.kind, e.reason)


IDENTITY: Handlers = {
    **directory.IDENTITY,
    identity_events.NewDeviceLogin: new_device_login,
}
LEDGER: Mapping[type[Message], Handler] = {
    ledger_events.DisbursementChanged: _notifying(_approval),
    ledger_events.BankAlarm: _notifying(_alarm),
    ledger_events.HeadSigned: _notifying(_cosign),
    ledger_events.FeeReminder: _notifying(_fees),
}
VOTING: Mapping[type[Message], Handler] = {
    voting_events.BallotStateChanged: _notifying(_ballot_state),
    voting_events.BallotDecided: _notifying(_result),
    voting_events.VoteRecorded: _notifying(_vote, ballot=lambda e: e.ballot_id),
    voting_events.SuggestionUpdated: _notifying(_suggestion),
}
# A report and a flag are announced once, however often a rebuild replays what raised them.
DISCLOSURE: Mapping[type[Message], Handler] = {
    disclosure_events.ReportPublished: _notifying(_report, key=lambda e: f"report:{e.period}"),
    disclosure_events.FlagChanged: _notifying(_flag, key=lambda e: f"flag:{e.flag_id}"),
}
