"""What disclosure consumes: identity's, the ledger's and voting's events, into its read models."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.disclosure.v1 import events_pb2 as disclosure_events
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi.ledger.v1 import events_pb2 as ledger_events
from xinyi_disclosure import flags, readmodels, store
from xinyi_kit import clock
from xinyi_kit.consumer import Handler, Handlers


async def estate_created(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, identity_events.EstateCreated)
    await store.record_estate(
        session,
        uuid.UUID(event.estate_id),
        event.name,
        envelope.occurred_at.ToDatetime(tzinfo=UTC),
        uuid.UUID(event.community_id) if event.community_id else None,
    )


async def books_opened(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, ledger_events.BooksOpened)
    await store.record_books_opened(session, uuid.UUID(event.estate_id), event.account_count)
    await readmodels.books_opened(session, envelope, event)


async def period_closed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    """A closed month's report is complete: its flags are raised and it is published."""
    assert isinstance(event, ledger_events.PeriodClosed)
    await readmodels.period_closed(session, envelope, event)
    estate = uuid.UUID(event.estate_id)
    await flags.evaluate(session, estate, event.period, clock.now())
    outbox = flags.announcer()
    if outbox is not None:
        await outbox.emit(
            session,
            estate,
            "report_published",
            disclosure_events.ReportPublished(estate_id=event.estate_id, period=event.period),
        )


IDENTITY: Mapping[type[Message], Handler] = {
    identity_events.EstateCreated: estate_created,
    **readmodels.IDENTITY,
}
LEDGER: Handlers = {
    **readmodels.LEDGER,
    ledger_events.BooksOpened: books_opened,
    ledger_events.PeriodClosed: period_closed,
}
VOTING = readmodels.VOTING
