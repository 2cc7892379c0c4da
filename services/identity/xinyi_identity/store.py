"""Identity's tables (schema `identity`) and the queries on them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, LargeBinary, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RoleGrant(Base):
    __tablename__ = "role_grants"
    grant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.user_id"))
    role: Mapped[str] = mapped_column(String(50))
    estate_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    community_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class Estate(Base):
    __tablename__ = "estates"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    address: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    token_sha256: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.user_id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def grants_of(session: AsyncSession, user_id: uuid.UUID) -> list[RoleGrant]:
    rows = await session.execute(
        select(RoleGrant).where(RoleGrant.user_id == user_id).order_by(RoleGrant.role)
    )
    return list(rows.scalars())


async def active_keys(session: AsyncSession) -> list[SigningKeyRow]:
    rows = await session.execute(
        select(SigningKeyRow)
        .where(SigningKeyRow.retired_at.is_(None))
        .order_by(SigningKeyRow.created_at.desc())
    )
    return list(rows.scalars())


async def estate(session: AsyncSession, estate_id: uuid.UUID) -> Estate | None:
    return await session.get(Estate, estate_id)


async def estates_page(
    session: AsyncSession, *, after: uuid.UUID | None, limit: int
) -> list[Estate]:
    query = select(Estate).order_by(Estate.estate_id).limit(limit)
    if after is not None:
        query = query.where(Estate.estate_id > after)
    return list((await session.execute(query)).scalars())
