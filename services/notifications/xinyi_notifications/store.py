"""Notifications' tables (schema `notifications`) and the queries on them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, String, Text, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class InboxMessage(Base):
    __tablename__ = "inbox"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


async def inbox_page(
    session: AsyncSession, user_id: uuid.UUID, *, before: datetime | None, limit: int
) -> list[InboxMessage]:
    query = (
        select(InboxMessage)
        .where(InboxMessage.user_id == user_id)
        .order_by(InboxMessage.created_at.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(InboxMessage.created_at < before)
    return list((await session.execute(query)).scalars())
