"""What the ledger consumes (identity's estate_created, ownership_changed, and the trust
contract's taking effect and handover) and emits (books_opened)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi.ledger.v1 import events_pb2
from xinyi_kit.consumer import Batched, Handlers
from xinyi_kit.outbox import Outbox
from xinyi_ledger import contracts, fees, groups, store
from xinyi_ledger.domain import DEFAULT_CHART


def identity_handlers(outbox: Outbox) -> Handlers:
    async def estate_created(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        assert isinstance(event, identity_events.EstateCreated)
        estate_id = uuid.UUID(event.estate_id)
        if await store.open_books(session, estate_id):
            await outbox.emit(
                session,
                estate_id,
                "books_opened",
                events_pb2.BooksOpened(
                    estate_id=str(estate_id),
                    account_count=len(DEFAULT_CHART),
                    accounts=[
                        events_pb2.ChartAccount(code=a.code, name=a.name) for a in DEFAULT_CHART
                    ],
                ),
            )

    async def ownership_changed(
        session: AsyncSession,
        changes: Sequence[tuple[common_pb2.EventEnvelope, Message]],
    ) -> None:
        # Fees need a unit's type and registered area, not who owns it: owners stay in identity.
        units = []
        for _, event in changes:
            assert isinstance(event, identity_events.OwnershipChanged)
            units.append(
                fees.UnitFacts(
                    unit_id=uuid.UUID(event.unit_id),
                    building=event.building,
                    number=event.number,
                    unit_type=event.unit_type,
                    area_centi_m2=event.exclusive_area_centi_m2,
                )
            )
        # A run is of one estate: the consumer applies each estate's events apart.
        await fees.upsert_units(session, uuid.UUID(changes[0][0].estate_id), units)

    return {
        identity_events.EstateCreated: estate_created,
        identity_events.OwnershipChanged: Batched(ownership_changed),
        **contracts.identity_handlers(),
        **groups.identity_handlers(),
    }
