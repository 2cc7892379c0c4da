"""Voting's tables (schema `voting`) and the queries on them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, Text, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert
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
    description: Mapped[str] = mapped_column(Text, default="")
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    announced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    voting_opens_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    voting_closes_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    objection_days: Mapped[int] = mapped_column(Integer, default=7)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    objections_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    finalized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    roll_as_of: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_reason: Mapped[str] = mapped_column(Text, default="")
    voter_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    petition_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class RollUnit(Base):
    __tablename__ = "roll_units"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    ballot_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    building: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(100))
    area_centi_m2: Mapped[int] = mapped_column(BigInteger)
    owner_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))


class RollVoter(Base):
    """Which user account speaks for an owner on the frozen roll."""

    __tablename__ = "roll_voters"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    ballot_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    # The owner's units on the roll: a vote reads them by the roll's key.
    unit_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID), default=list)


class Vote(Base):
    __tablename__ = "votes"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    ballot_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    receipt_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_key: Mapped[str] = mapped_column(Text)
    voter_user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    channel: Mapped[str] = mapped_column(String(20), default="online")
    choices: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cast_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    superseded_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    scan_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Proxy(Base):
    __tablename__ = "proxies"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    ballot_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    proxy_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    grantor_user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    grantor_username: Mapped[str] = mapped_column(String(100))
    proxy_username: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Scan(Base):
    __tablename__ = "scans"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    ballot_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[uuid.UUID] = mapped_column(UUID)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Petition(Base):
    __tablename__ = "petitions"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    petition_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(20))
    total_headcount: Mapped[int] = mapped_column(Integer)
    reached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ballot_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class PetitionSignature(Base):
    __tablename__ = "petition_signatures"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    petition_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    person_key: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


async def record_estate(session: AsyncSession, estate_id: uuid.UUID, name: str) -> None:
    await session.execute(
        insert(Estate).values(estate_id=estate_id, name=name).on_conflict_do_nothing()
    )


async def known(session: AsyncSession, estate_id: uuid.UUID) -> bool:
    return await session.get(Estate, estate_id) is not None


async def ballots(session: AsyncSession, estate_id: uuid.UUID) -> list[Ballot]:
    rows = await session.execute(
        select(Ballot).where(Ballot.estate_id == estate_id).order_by(Ballot.created_at.desc())
    )
    return list(rows.scalars())


class BallotAttachment(Base):
    __tablename__ = "ballot_attachments"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    ballot_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    added_by: Mapped[uuid.UUID] = mapped_column(UUID)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
