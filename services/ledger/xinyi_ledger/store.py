"""Ledger's tables (schema `ledger`) and the queries on them."""

from __future__ import annotations

import uuid

from sqlalchemy import SmallInteger, String, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from xinyi_ledger.domain import DEFAULT_CHART


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[int] = mapped_column(SmallInteger)


async def open_books(session: AsyncSession, estate_id: uuid.UUID) -> int:
    """Creates the default chart for an estate; opening twice adds nothing."""
    result = await session.execute(
        insert(Account)
        .values(
            [
                {"estate_id": estate_id, "code": a.code, "name": a.name, "type": int(a.type)}
                for a in DEFAULT_CHART
            ]
        )
        .on_conflict_do_nothing()
        .returning(Account.code)
    )
    return len(result.all())


async def accounts(session: AsyncSession, estate_id: uuid.UUID) -> list[Account]:
    rows = await session.execute(
        select(Account).where(Account.estate_id == estate_id).order_by(Account.code)
    )
    return list(rows.scalars())
