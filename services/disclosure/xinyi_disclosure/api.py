"""Disclosure's gRPC servicer."""

from __future__ import annotations

import grpc
from google.protobuf import timestamp_pb2

from xinyi.disclosure.v1 import disclosure_pb2, disclosure_pb2_grpc
from xinyi_disclosure import store
from xinyi_kit.db import Database
from xinyi_kit.errors import NotFound
from xinyi_kit.permissions import Action, authorize_estate


class DisclosureApi(disclosure_pb2_grpc.DisclosureServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def GetEstateOverview(
        self, request: disclosure_pb2.GetEstateOverviewRequest, context: grpc.aio.ServicerContext
    ) -> disclosure_pb2.GetEstateOverviewResponse:
        _, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await store.overview(session, estate_id)
            sequences = await store.applied_sequences(session, estate_id)
        if row is None:
            raise NotFound("no such estate (or its registration has not reached disclosure yet)")
        registered = timestamp_pb2.Timestamp()
        if row.registered_at is not None:
            registered.FromDatetime(row.registered_at)
        return disclosure_pb2.GetEstateOverviewResponse(
            overview=disclosure_pb2.EstateOverview(
                estate_id=str(row.estate_id),
                name=row.name,
                books_open=row.books_open,
                account_count=row.account_count,
                registered_at=registered,
                applied_sequences=sequences,
            )
        )
