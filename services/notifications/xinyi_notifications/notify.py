"""Turning the platform's events into messages: the inbox row and the deliveries of each
recipient, written in the same transaction as the event's application, so an event seen twice
or after a restart never makes a second message (the unique keys are the promise)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.disclosure.v1 import events_pb2 as disclosure_events
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi.ledger.v1 import events_pb2 as ledger_events
from xinyi.voting.v1 import events_pb2 as voting_events
from xinyi_kit import clock
from xinyi_kit.consumer import Handler
from xinyi_kit.db import PLATFORM
from xinyi_notifications import directory, plan, rules, store
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


async def deliver(
    session: AsyncSession,
    estate_id: uuid.UUID,
    source_key: str,
    notice: Notice,
    occurred_at: datetime | None = None,
) -> int:
    """Writes the notice's messages and deliveries; returns how many people it reaches."""
    now = clock.now()
    occurred = occurred_at or now
    users = await directory.recipients(session, estate_id, notice)
    persons = await directory.people(session, users)
    inbox_rows = []
    deliveries: list[dict[str, Any]] = []
    text_body = _text(notice, CONFIG.public_url)

    def delivery(
        recipient: str,
        channel: str,
        address: str,
        when: datetime,
        state: str,
        company: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        return {
            "estate_id": estate_id,
            "delivery_id": uuid.uuid4(),
            "source_key": source_key,
            "recipient": recipient,
            "channel": channel,
            "kind": notice.kind,
            "address": address,
            "subject": notice.title,
            "body_text": text_body,
            "body_html": "",
            "payload": _payload(notice, estate_id, source_key, occurred),
            "priority": notice.priority,
            "state": state,
            "attempts": 0,
            "last_error": "",
            "next_attempt_at": when,
            "created_at": now,
            "company_id": company,
        }

    for user in users:
        person = persons[user]
        if plan.wants_inbox(notice.kind, person):
            inbox_rows.append(
                {
                    "estate_id": estate_id,
                    "message_id": uuid.uuid4(),
                    "user_id": uuid.UUID(user),
                    "kind": notice.kind,
                    "title": notice.title[:300],
                    "body": notice.body,
                    "read": False,
                    "created_at": now,
                    "source_key": source_key,
                    "link": notice.link,
                    "urgent": notice.urgent,
                    "params": notice.params,
                }
            )
        for out in plan.outward(notice.kind, person, CONFIG.channels, now, CONFIG.digest_hour):
            deliveries.append(
                delivery(
                    user,
                    out.channel,
                    out.address,
                    out.not_before,
                    "digest" if out.digest else "pending",
                )
            )
    if notice.broadcast and "webhook" in CONFIG.channels:
        for hook in await _webhooks(session, estate_id, notice.kind):
            deliveries.append(
                delivery(hook[0], "webhook", hook[1], now, "pending", company=hook[2])
            )
    if inbox_rows:
        await session.execute(
            insert(store.InboxMessage).values(inbox_rows).on_conflict_do_nothing()
        )
        await session.execute(
            text("SELECT pg_notify(:c, :u)"),
            {"c": LIVE_CHANNEL, "u": ",".join(str(r["user_id"]) for r in inbox_rows)[:7900]},
        )
    if deliveries:
        await session.execute(insert(store.Delivery).values(deliveries).on_conflict_do_nothing())
    return len(users)


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
    estate = await directory.estate_of(session, estate_id)
    return estate.name if estate is not None and estate.name else "本小区"


# A notice worded from an event and the estate's name, or None when the event concerns nobody.
Build = Callable[[AsyncSession, Any, str], Awaitable[Notice | None]]


def _notifying(build: Build, key: Callable[[Any], str] | None = None) -> Handler:
    """A handler that delivers the event's notice once per event, or once per `key` where the
    same matter may be announced by more than one event (a report re-emitted by a rebuild)."""

    async def handle(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        estate = uuid.UUID(envelope.estate_id)
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
    return rules.ballot_state(
        e.estate_id,
        estate,
        e.ballot_id,
        e.state,
        e.title,
        _stamp_or_none(e, "voting_opens_at"),
        closes,
    )


async def _ballot_title(session: AsyncSession, estate: str, ballot_id: str) -> str:
    row = await session.get(store.Ballot, (uuid.UUID(estate), uuid.UUID(ballot_id)))
    return row.title if row is not None else ""


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


IDENTITY: Mapping[type[Message], Handler] = {
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
    voting_events.VoteRecorded: _notifying(_vote),
    voting_events.SuggestionUpdated: _notifying(_suggestion),
}
# A report and a flag are announced once, however often a rebuild replays what raised them.
DISCLOSURE: Mapping[type[Message], Handler] = {
    disclosure_events.ReportPublished: _notifying(_report, key=lambda e: f"report:{e.period}"),
    disclosure_events.FlagChanged: _notifying(_flag, key=lambda e: f"flag:{e.flag_id}"),
}
