"""The company's disclosures under Civil Code art. 943: its services, the staff responsible,
quality standards, fee items and rates, how it performed, the maintenance fund's use, and the
business use of common parts with its income. The company keeps each topic current; every
version stays, so owners see what was said when."""

from __future__ import annotations

import uuid
from datetime import datetime

import grpc
from google.protobuf import timestamp_pb2
from sqlalchemy import DateTime, Integer, String, Text, func, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from xinyi.disclosure.v1 import disclosure_pb2
from xinyi_disclosure.store import Base
from xinyi_kit import audit, clock
from xinyi_kit.db import Database, xact_lock
from xinyi_kit.errors import InvalidArgument, NotFound
from xinyi_kit.permissions import Action, authorize_estate

# Art. 943's list, in its order.
TOPICS = (
    "services",  # 服务事项
    "responsible_staff",  # 负责人员
    "quality_standards",  # 质量要求
    "fee_items",  # 收费项目、收费标准
    "performance",  # 履行情况
    "maintenance_fund_use",  # 维修资金使用情况
    "common_parts_income",  # 业主共有部分的经营与收益情况
)
MAX_CHARS = 20_000


class DisclosureRow(Base):
    __tablename__ = "estate_disclosures"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    topic: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    saved_by: Mapped[uuid.UUID] = mapped_column(UUID)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _pb(row: DisclosureRow) -> disclosure_pb2.EstateDisclosure:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(row.saved_at)
    return disclosure_pb2.EstateDisclosure(
        topic=row.topic,
        version=row.version,
        content=row.content,
        saved_by=str(row.saved_by),
        saved_at=stamp,
    )


def _topic(value: str) -> str:
    if value not in TOPICS:
        raise InvalidArgument(f"topic is one of {', '.join(TOPICS)}")
    return value


class Article943:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def SaveDisclosure(
        self, request: disclosure_pb2.SaveDisclosureRequest, context: grpc.aio.ServicerContext
    ) -> disclosure_pb2.EstateDisclosure:
        principal, estate_id = authorize_estate(Action.DISCLOSURE_EDIT, request.estate_id)
        topic = _topic(request.topic)
        content = request.content.strip()
        if not content or len(content) > MAX_CHARS:
            raise InvalidArgument(f"write the disclosure in owners' words (at most {MAX_CHARS:,})")
        async with self.db.estate_tx(estate_id) as session:
            # Two saves of one topic at once take turns: each is the next version.
            await xact_lock(session, f"disclosure:{estate_id}:{topic}")
            last = (
                await session.execute(
                    select(func.max(DisclosureRow.version)).where(
                        DisclosureRow.estate_id == estate_id, DisclosureRow.topic == topic
                    )
                )
            ).scalar_one()
            row = DisclosureRow(
                estate_id=estate_id,
                topic=topic,
                version=(last or 0) + 1,
                content=content,
                saved_by=uuid.UUID(principal.user_id),
                saved_at=clock.now(),
            )
            session.add(row)
            await session.flush()
            await audit.record(
                session,
                estate_id,
                "disclosure.save",
                f"{topic}#{row.version}",
                {"chars": len(content)},
            )
            return _pb(row)

    async def ListDisclosures(
        self, request: disclosure_pb2.ListDisclosuresRequest, context: grpc.aio.ServicerContext
    ) -> disclosure_pb2.ListDisclosuresResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            query = select(DisclosureRow).where(DisclosureRow.estate_id == estate_id)
            if request.topic:
                query = query.where(DisclosureRow.topic == _topic(request.topic)).order_by(
                    DisclosureRow.version.desc()
                )
            else:
                latest = (
                    select(DisclosureRow.topic, func.max(DisclosureRow.version).label("v"))
                    .where(DisclosureRow.estate_id == estate_id)
                    .group_by(DisclosureRow.topic)
                    .subquery()
                )
                query = query.join(
                    latest,
                    (latest.c.topic == DisclosureRow.topic) & (latest.c.v == DisclosureRow.version),
                )
            rows = list((await session.execute(query)).scalars())
        if request.topic and not rows:
            raise NotFound("the company has not disclosed this topic yet")
        order = {t: n for n, t in enumerate(TOPICS)}
        if not request.topic:
            rows.sort(key=lambda r: order[r.topic])
        return disclosure_pb2.ListDisclosuresResponse(disclosures=[_pb(r) for r in rows])
