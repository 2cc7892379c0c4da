"""Voting's tables (schema `voting`) and the queries on them."""

from __future__ import annotations

import uuid

from sqlalchemy import String, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Estate(Base):
    """Estates voting knows of, from identity's events."""

    __tablename__ = "estates"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Ballot(Base):
    __tablename__ = "ballots"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    ballot_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))


async def record_estate(session: AsyncSession, estate_id: uuid.UUID, name: str) -> None:
    await session.execute(
        insert(Estate).values(estate_id=estate_id, name=name).on_conflict_do_nothing()
    )


async def known(session: AsyncSession, estate_id: uuid.UUID) -> bool:
    return await session.get(Estate, estate_id) is not None


async def ballots(session: AsyncSession, estate_id: uuid.UUID) -> list[Ballot]:
    rows = await session.execute(
        select(Ballot).where(Ballot.estate_id == estate_id).order_by(Ballot.title)
    )
    return list(rows.scalars())
