"""The append-only audit log of privileged actions, kept by every service in its own schema."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import grpc
from google.protobuf import timestamp_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2, common_pb2_grpc
from xinyi_kit import auth, clock
from xinyi_kit.db import PLATFORM, Database
from xinyi_kit.errors import InvalidArgument
from xinyi_kit.permissions import Action, authorize
from xinyi_kit.telemetry import current_trace_id


async def record(
    session: AsyncSession,
    estate_id: uuid.UUID,
    action: str,
    target: str = "",
    detail: dict[str, object] | None = None,
) -> None:
    """Writes an entry in the caller's transaction: action and record stand or fall together.

    `detail` must not carry secrets or personal data beyond what supervisors may read.
    """
    principal = auth.current()
    await session.execute(
        text(
            "INSERT INTO audit_log (estate_id, entry_id, at, actor_user_id, actor_username, "
            "action, target, detail, client_ip, trace_id) VALUES (:e, :id, :at, :uid, :uname, "
            ":action, :target, CAST(:detail AS jsonb), :ip, :trace)"
        ),
        {
            "e": estate_id,
            "id": uuid.uuid4(),
            "at": clock.now(),
            "uid": uuid.UUID(principal.user_id) if principal else None,
            "uname": principal.username if principal else "",
            "action": action,
            "target": target,
            "detail": json.dumps(detail or {}, ensure_ascii=False, default=str),
            "ip": auth.client_ip(),
            "trace": current_trace_id(),
        },
    )


def _stamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


class AuditApi(common_pb2_grpc.AuditServiceServicer):
    """Reading the log: an estate's supervisors, approving body and the operator."""

    def __init__(self, db: Database, service: str) -> None:
        self.db = db
        self.service = service

    async def ListAuditEntries(
        self, request: common_pb2.ListAuditEntriesRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.ListAuditEntriesResponse:
        if request.estate_id:
            _, estate = authorize(Action.AUDIT_READ, request.estate_id)
        else:
            authorize(Action.ESTATE_LIST_ALL)
            estate = PLATFORM
        assert estate is not None
        size = request.page_size or 100
        if not 1 <= size <= 500:
            raise InvalidArgument("page_size must be between 1 and 500")
        before = (
            request.before.ToDatetime(tzinfo=clock.now().tzinfo)
            if request.HasField("before")
            else None
        )
        async with self.db.estate_tx(estate) as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT entry_id, estate_id, at, actor_user_id, actor_username, action, "
                        "target, detail::text, client_ip FROM audit_log WHERE estate_id = :e "
                        "AND (CAST(:before AS timestamptz) IS NULL OR at < :before) "
                        "ORDER BY at DESC LIMIT :n"
                    ),
                    {"e": estate, "before": before, "n": size},
                )
            ).all()
        return common_pb2.ListAuditEntriesResponse(
            entries=[
                common_pb2.AuditEntry(
                    entry_id=str(r[0]),
                    estate_id="" if r[1] == PLATFORM else str(r[1]),
                    at=_stamp(r[2]),
                    actor_user_id=str(r[3] or ""),
                    actor_username=r[4],
                    action=r[5],
                    target=r[6],
                    detail_json=r[7],
                    client_ip=r[8],
                    service=self.service,
                )
                for r in rows
            ]
        )
