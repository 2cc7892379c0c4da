"""Disclosure's read models (schema `disclosure`), built only from events."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, text
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class EstateOverview(Base):
    __tablename__ = "estate_overview"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    books_open: Mapped[bool] = mapped_column(Boolean, default=False)
    account_count: Mapped[int] = mapped_column(Integer, default=0)
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    community_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


async def record_estate(
    session: AsyncSession,
    estate_id: uuid.UUID,
    name: str,
    registered_at: datetime,
    community_id: uuid.UUID | None = None,
) -> None:
    await session.execute(
        insert(EstateOverview)
        .values(
            estate_id=estate_id,
            name=name,
            registered_at=registered_at,
            books_open=False,
            account_count=0,
            community_id=community_id,
        )
        .on_conflict_do_update(
            index_elements=[EstateOverview.estate_id],
            set_={"name": name, "registered_at": registered_at, "community_id": community_id},
        )
    )


async def record_books_opened(session: AsyncSession, estate_id: uuid.UUID, accounts: int) -> None:
    # Ledger's event may be applied before identity's (separate streams): upsert either way.
    await session.execute(
        insert(EstateOverview)
        .values(estate_id=estate_id, name="", books_open=True, account_count=accounts)
        .on_conflict_do_update(
            index_elements=[EstateOverview.estate_id],
            set_={"books_open": True, "account_count": accounts},
        )
    )


async def overview(session: AsyncSession, estate_id: uuid.UUID) -> EstateOverview | None:
    return await session.get(EstateOverview, estate_id)


async def applied_sequences(session: AsyncSession, estate_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        text("SELECT source, last_seq FROM inbox_cursor WHERE estate_id = :e"), {"e": estate_id}
    )
    return {str(source): int(seq) for source, seq in rows.all()}
