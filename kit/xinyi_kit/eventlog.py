"""Reading a service's outbox back as its permanent event log: a read model in another service
(disclosure's reports) is rebuilt from it in the estate's order, even after the stream's
retention has dropped the messages. Served by every service; the operator only. The stored
envelopes carry no sequence (rows are numbered at commit), so it is set here from `seq`."""

from __future__ import annotations

import grpc
from sqlalchemy import text

from xinyi.common.v1 import common_pb2, common_pb2_grpc
from xinyi_kit.db import Database
from xinyi_kit.errors import InvalidArgument
from xinyi_kit.permissions import Action, authorize


class EventLogApi(common_pb2_grpc.EventLogServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ReadEvents(
        self, request: common_pb2.ReadEventsRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.ReadEventsResponse:
        _, estate = authorize(Action.EVENT_LOG_READ, request.estate_id)
        assert estate is not None
        size = request.limit or 500
        if not 1 <= size <= 1000:
            raise InvalidArgument("limit is 1 to 1000")
        if request.after_seq < 0:
            raise InvalidArgument("after_seq is 0 or more")
        async with self.db.estate_tx(estate) as session:
            rows = await session.execute(
                text(
                    "SELECT seq, envelope FROM outbox WHERE estate_id = :e AND seq > :after "
                    "ORDER BY seq LIMIT :n"
                ),
                {"e": estate, "after": request.after_seq, "n": size},
            )
            envelopes = []
            for seq, stored in rows.all():
                envelope = common_pb2.EventEnvelope.FromString(bytes(stored))
                envelope.sequence = seq
                envelopes.append(envelope)
            last = (
                await session.execute(
                    text("SELECT last_seq FROM outbox_sequence WHERE estate_id = :e"),
                    {"e": estate},
                )
            ).scalar_one_or_none()
        return common_pb2.ReadEventsResponse(envelopes=envelopes, last_seq=int(last or 0))
