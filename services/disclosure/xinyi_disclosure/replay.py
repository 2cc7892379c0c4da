"""Rebuilding an estate's read models by replaying the emitters' permanent event logs.

The estate's rows and its inbox (applied events, cursors) go in one transaction; the logs are
then read in sequence order from each emitter (`EventLogService`, the caller's operator token
passed on) and applied through the same consumers that apply the live stream, so a replayed
report is the live one by construction. Live events arriving meanwhile wait for their turn
(their sequence is ahead of the cursor) and are applied in order after. Flags keep their
explanations: those are disclosure's own record, not derived from events.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import grpc
from sqlalchemy import ColumnClause, column, delete, table

from xinyi.common.v1 import common_pb2, common_pb2_grpc
from xinyi_disclosure.tables import DERIVED
from xinyi_kit import auth, rpc
from xinyi_kit.consumer import Consumer
from xinyi_kit.db import Database

PAGE = 500


class Replayer:
    def __init__(
        self, db: Database, consumers: Mapping[str, Consumer], addresses: Mapping[str, str]
    ) -> None:
        self.db = db
        self.consumers = consumers
        self.addresses = addresses
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _log(self, source: str) -> common_pb2_grpc.EventLogServiceStub:
        if source not in self._channels:
            self._channels[source] = rpc.channel(self.addresses[source])
        return common_pb2_grpc.EventLogServiceStub(self._channels[source])

    async def rebuild(self, estate_id: uuid.UUID) -> dict[str, int]:
        async with self.db.estate_tx(estate_id) as session:
            for name in (*DERIVED, "inbox_applied", "inbox_cursor"):
                estate: ColumnClause[uuid.UUID] = column("estate_id")
                await session.execute(delete(table(name, estate)).where(estate == estate_id))
        replayed: dict[str, int] = {}
        for source, consumer in self.consumers.items():
            count, after = 0, 0
            while True:
                page = await self._log(source).ReadEvents(
                    common_pb2.ReadEventsRequest(
                        estate_id=str(estate_id), after_seq=after, limit=PAGE
                    ),
                    metadata=auth.forwarded_metadata(),
                    timeout=30,
                )
                if not page.envelopes:
                    break
                await consumer.apply_estate(estate_id, [(e, None) for e in page.envelopes])
                count += len(page.envelopes)
                after = page.envelopes[-1].sequence
                if after >= page.last_seq:
                    break
            replayed[source] = count
        return replayed
