"""Notifications' tables (schema `notifications`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Identity, Integer, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class InboxMessage(Base):
    __tablename__ = "inbox"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID)
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_key: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(Text, default="")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    position: Mapped[int] = mapped_column(BigInteger, Identity(always=True))


class Estate(Base):
    __tablename__ = "estates"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(Text, default="")
    community_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)


class Member(Base):
    __tablename__ = "members"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    role: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)


class ScopeMember(Base):
    """A community-wide or company-wide grant."""

    __tablename__ = "scope_members"
    scope: Mapped[str] = mapped_column(Text, primary_key=True)
    scope_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    role: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)


class UnitOwners(Base):
    __tablename__ = "unit_owners"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    owner_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))


class OwnerUser(Base):
    __tablename__ = "owner_users"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)


class Ballot(Base):
    __tablename__ = "ballots"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    ballot_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(Text)
    voting_closes_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closing_reminded: Mapped[bool] = mapped_column(Boolean, default=False)


class Contact(Base):
    __tablename__ = "contacts"
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    email: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str] = mapped_column(Text, default="")
    quiet_start: Mapped[str] = mapped_column(String(5), default="")
    quiet_end: Mapped[str] = mapped_column(String(5), default="")
    language: Mapped[str] = mapped_column(String(5), default="zh")


class KindPreference(Base):
    __tablename__ = "kind_preferences"
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    channels: Mapped[list[str]] = mapped_column(ARRAY(Text))
    digest: Mapped[bool] = mapped_column(Boolean, default=False)


class WebhookColumns:
    """What a webhook subscription is, whoever holds it."""

    subscription_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    # The HMAC-SHA256 key of its signatures.
    secret: Mapped[str] = mapped_column(Text)
    # Empty: every kind the estate hears.
    kinds: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EstateWebhook(WebhookColumns, Base):
    __tablename__ = "estate_webhooks"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)


class CompanyWebhook(WebhookColumns, Base):
    """A company's subscription: the notices of every estate it serves."""

    __tablename__ = "company_webhooks"
    company_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)


class Delivery(Base):
    __tablename__ = "deliveries"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    source_key: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    priority: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
