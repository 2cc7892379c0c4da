"""What disclosure consumes: identity's, the ledger's and voting's events, into its read models."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi.ledger.v1 import events_pb2 as ledger_events
from xinyi_disclosure import readmodels, store
from xinyi_kit.consumer import Handler


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


IDENTITY: Mapping[type[Message], Handler] = {
    identity_events.EstateCreated: estate_created,
    **readmodels.IDENTITY,
}
LEDGER: Mapping[type[Message], Handler] = {
    **readmodels.LEDGER,
    ledger_events.BooksOpened: books_opened,
}
VOTING = readmodels.VOTING
