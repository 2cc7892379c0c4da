"""Turning the platform's events into messages: the inbox row and the deliveries of each
recipient, written in the same transaction as the event's application, so an event seen twice
or after a restart never makes a second message (the unique keys are the promise)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
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


async def _send(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, notice: Notice | None
) -> None:
    if notice is not None:
        await deliver(
            session, uuid.UUID(envelope.estate_id), envelope.event_id, notice, _when(envelope)
        )


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
async def disbursement_changed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.DisbursementChanged)
    if event.state != ledger_events.DISBURSEMENT_STATE_REQUESTED or event.origin == "bank_debit":
        return
    estate = uuid.UUID(event.estate_id)
    await _send(
        session,
        envelope,
        rules.disbursement_requested(
            event.estate_id,
            await _name(session, estate),
            event.disbursement_id,
            event.amount_fen,
            event.payee,
            event.purpose,
            event.approvals_required,
        ),
    )


async def bank_alarm(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.BankAlarm)
    estate = uuid.UUID(event.estate_id)
    await _send(
        session,
        envelope,
        rules.bank_alarm(
            event.estate_id,
            await _name(session, estate),
            event.line_id,
            event.amount_fen,
            event.booked_on,
            event.narrative,
        ),
    )


async def head_signed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.HeadSigned)
    if event.signer_role != "company" or event.fully_signed:
        return
    estate = uuid.UUID(event.estate_id)
    await _send(
        session,
        envelope,
        rules.cosign_requested(event.estate_id, await _name(session, estate), event.period),
    )


async def fee_reminder(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.FeeReminder)
    estate = uuid.UUID(event.estate_id)
    await _send(
        session,
        envelope,
        rules.fee_reminder(
            event.estate_id,
            await _name(session, estate),
            event.unit_id,
            event.kind,
            event.period,
            event.owed_fen,
            event.oldest_period,
        ),
    )


# -- voting -----------------------------------------------------------------------------------
async def ballot_state_changed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, voting_events.BallotStateChanged)
    estate = uuid.UUID(event.estate_id)
    closes = (
        event.voting_closes_at.ToDatetime(tzinfo=UTC)
        if event.HasField("voting_closes_at")
        else None
    )
    opens = (
        event.voting_opens_at.ToDatetime(tzinfo=UTC) if event.HasField("voting_opens_at") else None
    )
    ballot = uuid.UUID(event.ballot_id)
    await session.execute(
        insert(store.Ballot)
        .values(
            estate_id=estate,
            ballot_id=ballot,
            title=event.title,
            state=event.state,
            voting_closes_at=closes,
        )
        .on_conflict_do_update(
            index_elements=["estate_id", "ballot_id"],
            set_={"title": event.title, "state": event.state, "voting_closes_at": closes},
        )
    )
    await _send(
        session,
        envelope,
        rules.ballot_state(
            event.estate_id,
            await _name(session, estate),
            event.ballot_id,
            event.state,
            event.title,
            opens,
            closes,
        ),
    )


async def _ballot_title(session: AsyncSession, estate: uuid.UUID, ballot_id: str) -> str:
    row = await session.get(store.Ballot, (estate, uuid.UUID(ballot_id)))
    return row.title if row is not None else ""


async def ballot_decided(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, voting_events.BallotDecided)
    estate = uuid.UUID(event.estate_id)
    question = event.question_text or await _ballot_title(session, estate, event.ballot_id)
    await _send(
        session,
        envelope,
        rules.ballot_result(
            event.estate_id,
            await _name(session, estate),
            event.ballot_id,
            question,
            event.approved,
        ),
    )


async def vote_recorded(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, voting_events.VoteRecorded)
    estate = uuid.UUID(event.estate_id)
    await _send(
        session,
        envelope,
        rules.vote_counted(
            event.estate_id,
            await _name(session, estate),
            event.ballot_id,
            await _ballot_title(session, estate, event.ballot_id),
            event.receipt_code,
            event.voter_user_id,
        ),
    )


async def suggestion_updated(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, voting_events.SuggestionUpdated)
    estate = uuid.UUID(event.estate_id)
    await _send(
        session,
        envelope,
        rules.suggestion_updated(
            event.estate_id,
            await _name(session, estate),
            event.suggestion_id,
            event.state,
            event.submitter_user_id,
        ),
    )


# -- disclosure -------------------------------------------------------------------------------
async def report_published(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, disclosure_events.ReportPublished)
    estate = uuid.UUID(event.estate_id)
    await _send(
        session,
        envelope,
        rules.report_published(event.estate_id, await _name(session, estate), event.period),
    )


async def flag_changed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, disclosure_events.FlagChanged)
    if event.state != "open":
        return
    estate = uuid.UUID(event.estate_id)
    await _send(
        session,
        envelope,
        rules.flag_raised(
            event.estate_id,
            await _name(session, estate),
            event.flag_id,
            event.kind,
            event.reason,
        ),
    )


IDENTITY: Mapping[type[Message], Handler] = {
    **directory.IDENTITY,
    identity_events.NewDeviceLogin: new_device_login,
}
LEDGER: Mapping[type[Message], Handler] = {
    ledger_events.DisbursementChanged: disbursement_changed,
    ledger_events.BankAlarm: bank_alarm,
    ledger_events.HeadSigned: head_signed,
    ledger_events.FeeReminder: fee_reminder,
}
VOTING: Mapping[type[Message], Handler] = {
    voting_events.BallotStateChanged: ballot_state_changed,
    voting_events.BallotDecided: ballot_decided,
    voting_events.VoteRecorded: vote_recorded,
    voting_events.SuggestionUpdated: suggestion_updated,
}
DISCLOSURE: Mapping[type[Message], Handler] = {
    disclosure_events.ReportPublished: report_published,
    disclosure_events.FlagChanged: flag_changed,
}
