"""What voting consumes: identity's estate_created, so it knows which estates exist."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi_kit.consumer import Handler
from xinyi_voting import store


async def estate_created(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, identity_events.EstateCreated)
    await store.record_estate(session, uuid.UUID(event.estate_id), event.name)


IDENTITY: Mapping[type[Message], Handler] = {identity_events.EstateCreated: estate_created}
