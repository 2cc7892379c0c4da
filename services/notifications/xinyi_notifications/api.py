"""Notifications' gRPC servicer."""

from __future__ import annotations

import uuid
from datetime import datetime

import grpc
from google.protobuf import timestamp_pb2

from xinyi.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from xinyi_kit import auth
from xinyi_kit.db import Database
from xinyi_kit.errors import InvalidArgument
from xinyi_notifications import store


def _stamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


class NotificationsApi(notifications_pb2_grpc.NotificationsServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ListInbox(
        self, request: notifications_pb2.ListInboxRequest, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.ListInboxResponse:
        principal = auth.require()
        size = request.page_size or 50
        if not 1 <= size <= 200:
            raise InvalidArgument("page_size must be between 1 and 200")
        try:
            before = datetime.fromisoformat(request.page_token) if request.page_token else None
        except ValueError:
            raise InvalidArgument("page_token is not one this service issued") from None
        # A user's inbox spans the estates they belong to.
        async with self.db.system_tx() as session:
            rows = await store.inbox_page(
                session, uuid.UUID(principal.user_id), before=before, limit=size + 1
            )
        more = len(rows) > size
        rows = rows[:size]
        return notifications_pb2.ListInboxResponse(
            messages=[
                notifications_pb2.InboxMessage(
                    message_id=str(r.message_id),
                    kind=r.kind,
                    title=r.title,
                    body=r.body,
                    read=r.read,
                    created_at=_stamp(r.created_at),
                    estate_id=str(r.estate_id),
                )
                for r in rows
            ],
            next_page_token=rows[-1].created_at.isoformat() if more and rows else "",
        )
