"""Identity's tables (schema `identity`) and the queries on them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    totp_pending: Mapped[str | None] = mapped_column(Text, nullable=True)
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)


class LoginThrottle(Base):
    __tablename__ = "login_throttle"
    login: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KnownDevice(Base):
    """A browser or app an account has signed in from (by the digest of its User-Agent)."""

    __tablename__ = "known_devices"
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    device_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RoleGrant(Base):
    __tablename__ = "role_grants"
    grant_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.user_id"))
    role: Mapped[str] = mapped_column(String(50))
    estate_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    community_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    granted_by: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class District(Base):
    __tablename__ = "districts"
    district_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Street(Base):
    __tablename__ = "streets"
    street_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    district_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("districts.district_id"))
    name: Mapped[str] = mapped_column(String(100))


class Community(Base):
    __tablename__ = "communities"
    community_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    street_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("streets.street_id"))
    name: Mapped[str] = mapped_column(String(100))


class Company(Base):
    __tablename__ = "companies"
    company_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ManagementGroup(Base):
    __tablename__ = "management_groups"
    group_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Estate(Base):
    __tablename__ = "estates"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    address: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    management_group_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    approving_body_kind: Mapped[int] = mapped_column(SmallInteger, default=0)
    approving_body_name: Mapped[str] = mapped_column(String(200), default="")
    approving_body_formed_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class CompanyAssignment(Base):
    __tablename__ = "company_assignments"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(UUID)
    starts_on: Mapped[date] = mapped_column(Date, primary_key=True)
    ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)


class DeviceKeyRow(Base):
    __tablename__ = "device_keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    label: Mapped[str] = mapped_column(String(100))
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


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


# -- estate-scoped (row-level security) --------------------------------------------------------
class Building(Base):
    __tablename__ = "buildings"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    building_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Unit(Base):
    __tablename__ = "units"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    building_id: Mapped[uuid.UUID] = mapped_column(UUID)
    number: Mapped[str] = mapped_column(String(50))
    unit_type: Mapped[str] = mapped_column(String(20))
    area_centi_m2: Mapped[int] = mapped_column(BigInteger)


class Owner(Base):
    __tablename__ = "owners"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20), default="")
    id_number: Mapped[str] = mapped_column(String(18), default="")
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class Ownership(Base):
    __tablename__ = "ownerships"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# -- queries ---------------------------------------------------------------------------------
async def user_by_login(session: AsyncSession, login: str) -> User | None:
    """A user by username or by phone number."""
    query = select(User).where(or_(User.username == login, User.phone == login))
    return (await session.execute(query)).scalars().first()


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def grants_of(session: AsyncSession, user_id: uuid.UUID) -> list[RoleGrant]:
    rows = await session.execute(
        select(RoleGrant)
        .where(RoleGrant.user_id == user_id, RoleGrant.revoked_at.is_(None))
        .order_by(RoleGrant.granted_at)
    )
    return list(rows.scalars())


async def estates_of_communities(
    session: AsyncSession, community_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    if not community_ids:
        return {}
    rows = await session.execute(
        select(Estate.community_id, Estate.estate_id).where(Estate.community_id.in_(community_ids))
    )
    result: dict[uuid.UUID, list[uuid.UUID]] = {}
    for community, estate in rows.all():
        result.setdefault(community, []).append(estate)
    return result


async def estates_served(
    session: AsyncSession, company_ids: set[uuid.UUID], on: date
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The estates each company serves on a date."""
    if not company_ids:
        return {}
    rows = await session.execute(
        select(CompanyAssignment.company_id, CompanyAssignment.estate_id).where(
            CompanyAssignment.company_id.in_(company_ids),
            CompanyAssignment.starts_on <= on,
            or_(CompanyAssignment.ends_on.is_(None), CompanyAssignment.ends_on > on),
        )
    )
    result: dict[uuid.UUID, list[uuid.UUID]] = {}
    for company, estate in rows.all():
        result.setdefault(company, []).append(estate)
    return result


def _serving(on: date | BindParameter[date]) -> ColumnElement[bool]:
    """An assignment that has begun on `on` and not ended: its company serves the estate."""
    return and_(
        CompanyAssignment.starts_on <= on,
        or_(CompanyAssignment.ends_on.is_(None), CompanyAssignment.ends_on > on),
    )


async def current_company(
    session: AsyncSession, estate_id: uuid.UUID, on: date
) -> uuid.UUID | None:
    row = await session.execute(
        select(CompanyAssignment.company_id).where(
            CompanyAssignment.estate_id == estate_id, _serving(on)
        )
    )
    return row.scalars().first()


def company_serving(on: date | BindParameter[date]) -> ScalarSelect[uuid.UUID]:
    """The company serving `Estate` on `on`, as a column of a query of estates."""
    return (
        select(CompanyAssignment.company_id)
        .where(CompanyAssignment.estate_id == Estate.estate_id, _serving(on))
        .limit(1)
        .scalar_subquery()
    )


def unit_count() -> ScalarSelect[int]:
    """`Estate`'s number of units, as a column of a query of estates."""
    return (
        select(func.count()).select_from(Unit).where(Unit.estate_id == Estate.estate_id)
    ).scalar_subquery()


async def overlapping_assignment(
    session: AsyncSession, estate_id: uuid.UUID, starts_on: date, ends_on: date | None
) -> CompanyAssignment | None:
    conditions = [
        CompanyAssignment.estate_id == estate_id,
        or_(CompanyAssignment.ends_on.is_(None), CompanyAssignment.ends_on > starts_on),
    ]
    if ends_on is not None:
        conditions.append(CompanyAssignment.starts_on < ends_on)
    row = await session.execute(select(CompanyAssignment).where(and_(*conditions)))
    return row.scalars().first()


async def active_keys(session: AsyncSession) -> list[SigningKeyRow]:
    rows = await session.execute(
        select(SigningKeyRow)
        .where(SigningKeyRow.retired_at.is_(None))
        .order_by(SigningKeyRow.created_at.desc(), SigningKeyRow.kid)
    )
    return list(rows.scalars())
