"""Notifications' gRPC servicer: the caller's inbox and preferences, webhook subscriptions and
dead letters."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import datetime
from typing import cast
from urllib.parse import urlsplit

import grpc
from google.protobuf import struct_pb2, timestamp_pb2
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from xinyi_kit import audit, auth, clock, idempotency
from xinyi_kit.db import PLATFORM, Database
from xinyi_kit.errors import InvalidArgument, NotFound, PermissionDenied
from xinyi_kit.permissions import Action, Role, allowed, authorize_estate
from xinyi_notifications import dispatch, plan, store
from xinyi_notifications.live import Hub
from xinyi_notifications.rules import KINDS, SECURITY_KINDS

MAX_WAIT_SECONDS = 30
MAX_URL = 2000


def _stamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be a UUID") from None


def _message_pb(r: store.InboxMessage) -> notifications_pb2.InboxMessage:
    params = struct_pb2.Struct()
    params.update(r.params or {})
    return notifications_pb2.InboxMessage(
        message_id=str(r.message_id),
        kind=r.kind,
        title=r.title,
        body=r.body,
        read=r.read,
        created_at=_stamp(r.created_at),
        estate_id=str(r.estate_id),
        link=r.link,
        urgent=r.urgent,
        params=params,
        position=r.position,
    )


async def _unread(session: AsyncSession, user: uuid.UUID) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(store.InboxMessage)
                .where(store.InboxMessage.user_id == user, ~store.InboxMessage.read)
            )
        ).scalar_one()
    )


def _company_managed(principal: auth.Principal, company: uuid.UUID) -> bool:
    return principal.is_operator or any(
        g.role == Role.COMPANY_MANAGER.value and g.company_id == str(company)
        for g in principal.grants
    )


def _webhook_pb(
    row: store.EstateWebhook | store.CompanyWebhook, *, secret: str = ""
) -> notifications_pb2.Webhook:
    return notifications_pb2.Webhook(
        subscription_id=str(row.subscription_id),
        estate_id=str(row.estate_id) if isinstance(row, store.EstateWebhook) else "",
        company_id=str(row.company_id) if isinstance(row, store.CompanyWebhook) else "",
        url=row.url,
        kinds=list(row.kinds),
        secret=secret,
        created_at=_stamp(row.created_at),
        active=row.active,
    )


def _delivery_pb(row: store.Delivery) -> notifications_pb2.Delivery:
    return notifications_pb2.Delivery(
        delivery_id=str(row.delivery_id),
        estate_id=str(row.estate_id),
        channel=row.channel,
        recipient=row.recipient,
        kind=row.kind,
        state=row.state,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=_stamp(row.created_at),
        next_attempt_at=_stamp(row.next_attempt_at),
    )


class NotificationsApi(notifications_pb2_grpc.NotificationsServiceServicer):
    def __init__(
        self, db: Database, hub: Hub, channels: frozenset[str], *, plain_http: bool
    ) -> None:
        self.db = db
        self.hub = hub
        self.channels = channels
        # Outside production a webhook may be plain http (a receiver on the same machine).
        self.plain_http = plain_http

    # -- the inbox -------------------------------------------------------------------------------
    async def ListInbox(
        self, request: notifications_pb2.ListInboxRequest, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.ListInboxResponse:
        principal = auth.require()
        size = request.page_size or 50
        if not 1 <= size <= 200:
            raise InvalidArgument("page_size must be between 1 and 200")
        try:
            before = int(request.page_token) if request.page_token else None
        except ValueError:
            raise InvalidArgument("page_token is not one this service issued") from None
        user = uuid.UUID(principal.user_id)
        # A user's inbox spans the estates they belong to.
        async with self.db.system_tx() as session:
            query = (
                select(store.InboxMessage)
                .where(store.InboxMessage.user_id == user)
                .order_by(store.InboxMessage.position.desc())
                .limit(size + 1)
            )
            if before is not None:
                query = query.where(store.InboxMessage.position < before)
            if request.unread_only:
                query = query.where(~store.InboxMessage.read)
            rows = list((await session.execute(query)).scalars())
            unread = await _unread(session, user)
        more = len(rows) > size
        rows = rows[:size]
        return notifications_pb2.ListInboxResponse(
            messages=[_message_pb(r) for r in rows],
            next_page_token=str(rows[-1].position) if more and rows else "",
            unread=unread,
        )

    async def WaitInbox(
        self, request: notifications_pb2.WaitInboxRequest, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.WaitInboxResponse:
        principal = auth.require()
        wait = request.wait_seconds or 20
        if not 0 <= wait <= MAX_WAIT_SECONDS:
            raise InvalidArgument(f"wait_seconds must be between 0 and {MAX_WAIT_SECONDS}")
        user = uuid.UUID(principal.user_id)
        deadline = time.monotonic() + wait
        while True:
            async with self.db.system_tx() as session:
                rows = list(
                    (
                        await session.execute(
                            select(store.InboxMessage)
                            .where(
                                store.InboxMessage.user_id == user,
                                store.InboxMessage.position > request.after,
                            )
                            .order_by(store.InboxMessage.position)
                            .limit(100)
                        )
                    ).scalars()
                )
                unread = await _unread(session, user)
            left = deadline - time.monotonic()
            if rows or left <= 0:
                return notifications_pb2.WaitInboxResponse(
                    messages=[_message_pb(r) for r in rows], unread=unread
                )
            await self.hub.wait(principal.user_id, min(left, 5.0))

    async def MarkRead(
        self, request: notifications_pb2.MarkReadRequest, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.MarkReadResponse:
        principal = auth.require()
        user = uuid.UUID(principal.user_id)
        where = [store.InboxMessage.user_id == user, ~store.InboxMessage.read]
        if not request.all:
            where.append(store.InboxMessage.message_id == _uuid(request.message_id, "message_id"))
        async with self.db.system_tx() as session:
            if not request.all:
                found = (
                    await session.execute(
                        select(store.InboxMessage.read).where(
                            store.InboxMessage.user_id == user,
                            store.InboxMessage.message_id == uuid.UUID(request.message_id),
                        )
                    )
                ).scalar_one_or_none()
                if found is None:
                    raise NotFound("no such message in your inbox")
            marked = len(
                (
                    await session.execute(
                        update(store.InboxMessage)
                        .where(*where)
                        .values(read=True)
                        .returning(store.InboxMessage.message_id)
                    )
                ).all()
            )
            unread = await _unread(session, user)
        return notifications_pb2.MarkReadResponse(marked=marked, unread=unread)

    # -- preferences -----------------------------------------------------------------------------
    async def _preferences(
        self, session: AsyncSession, user: uuid.UUID
    ) -> notifications_pb2.Preferences:
        contact = await session.get(store.Contact, user)
        kinds = {
            k.kind: k
            for k in (
                await session.execute(
                    select(store.KindPreference).where(store.KindPreference.user_id == user)
                )
            ).scalars()
        }
        out = notifications_pb2.Preferences(
            email=contact.email if contact else "",
            phone=contact.phone if contact else "",
            quiet_start=contact.quiet_start if contact else "",
            quiet_end=contact.quiet_end if contact else "",
            language=contact.language if contact else "zh",
            security_kinds=list(SECURITY_KINDS),
            available_channels=["inbox", *sorted(c for c in self.channels if c != "webhook")],
        )
        for kind in KINDS:
            row = kinds.get(kind)
            channels = list(row.channels) if row else list(plan.DEFAULT_CHANNELS)
            out.kinds.append(
                notifications_pb2.KindPreference(
                    kind=kind, channels=channels, digest=row.digest if row else False
                )
            )
        return out

    async def GetPreferences(
        self, request: notifications_pb2.GetPreferencesRequest, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.Preferences:
        principal = auth.require()
        async with self.db.system_tx() as session:
            return await self._preferences(session, uuid.UUID(principal.user_id))

    async def SetPreferences(
        self, request: notifications_pb2.Preferences, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.Preferences:
        principal = auth.require()
        user = uuid.UUID(principal.user_id)
        email = request.email.strip()
        if email and (len(email) > 254 or "@" not in email or " " in email):
            raise InvalidArgument("email is not an e-mail address")
        phone = request.phone.strip()
        if phone and not (phone.lstrip("+").isdigit() and 6 <= len(phone) <= 20):
            raise InvalidArgument("phone must be digits (with an optional leading +), 6 to 20")
        quiet = (request.quiet_start, request.quiet_end)
        if any(quiet) and not all(plan.valid_hhmm(q) for q in quiet):
            raise InvalidArgument(
                "quiet hours are two times HH:MM (e.g. 22:00 and 07:00), or both empty"
            )
        language = request.language or "zh"
        if language not in ("zh", "en"):
            raise InvalidArgument("language is zh or en")
        seen: set[str] = set()
        for k in request.kinds:
            problem = plan.check_kind_setting(k.kind, list(k.channels))
            if problem:
                raise InvalidArgument(problem)
            if k.kind in seen:
                raise InvalidArgument(f"the kind {k.kind} is given twice")
            if k.digest and k.kind in SECURITY_KINDS:
                raise InvalidArgument(f"{k.kind} is security-relevant: it is never held back")
            seen.add(k.kind)
        async with self.db.system_tx() as session:
            values = {
                "email": email,
                "phone": phone,
                "quiet_start": quiet[0],
                "quiet_end": quiet[1],
                "language": language,
            }
            await session.execute(
                insert(store.Contact)
                .values(user_id=user, **values)
                .on_conflict_do_update(index_elements=["user_id"], set_=values)
            )
            for k in request.kinds:
                setting = {"channels": list(dict.fromkeys(k.channels)), "digest": k.digest}
                await session.execute(
                    insert(store.KindPreference)
                    .values(user_id=user, kind=k.kind, **setting)
                    .on_conflict_do_update(index_elements=["user_id", "kind"], set_=setting)
                )
            return await self._preferences(session, user)

    # -- webhooks --------------------------------------------------------------------------------
    def _check_url(self, url: str) -> str:
        url = url.strip()
        parts = urlsplit(url)
        schemes = ("https", "http") if self.plain_http else ("https",)
        if len(url) > MAX_URL or parts.scheme not in schemes or not parts.hostname:
            raise InvalidArgument(
                "url must be an absolute https:// address"
                + (" (or http:// outside production)" if self.plain_http else "")
                + f" of at most {MAX_URL} characters"
            )
        if parts.username or parts.password:
            raise InvalidArgument("url must not carry credentials; the signature proves origin")
        return url

    async def CreateWebhook(
        self, request: notifications_pb2.CreateWebhookRequest, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.Webhook:
        url = self._check_url(request.url)
        kinds = list(dict.fromkeys(request.kinds))
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise InvalidArgument(f"unknown message kind {unknown[0]!r}")
        secret = "whsec_" + secrets.token_urlsafe(32)
        now = clock.now()
        if bool(request.estate_id) == bool(request.company_id):
            raise InvalidArgument("give estate_id or company_id, one of the two")
        if request.estate_id:
            principal, estate = authorize_estate(Action.WEBHOOK_MANAGE, request.estate_id)
            row: store.EstateWebhook | store.CompanyWebhook = store.EstateWebhook(
                estate_id=estate,
                subscription_id=uuid.uuid4(),
                url=url,
                secret=secret,
                kinds=kinds,
                active=True,
                created_by=uuid.UUID(principal.user_id),
                created_at=now,
            )
            scope = estate
        else:
            principal = auth.require()
            company = _uuid(request.company_id, "company_id")
            if not _company_managed(principal, company):
                raise PermissionDenied("only the company's manager sets up its webhooks")
            row = store.CompanyWebhook(
                company_id=company,
                subscription_id=uuid.uuid4(),
                url=url,
                secret=secret,
                kinds=kinds,
                active=True,
                created_by=uuid.UUID(principal.user_id),
                created_at=now,
            )
            scope = PLATFORM

        async def create() -> notifications_pb2.Webhook:
            session.add(row)
            await session.flush()
            await audit.record(
                session, scope, "webhook.create", str(row.subscription_id), {"url": url}
            )
            return _webhook_pb(row, secret=secret)

        async with self.db.estate_tx(scope) as session:
            return await idempotency.once(
                session,
                scope,
                f"{principal.user_id}:CreateWebhook",
                request.idempotency_key,
                request,
                notifications_pb2.Webhook,
                create,
            )

    async def ListWebhooks(
        self, request: notifications_pb2.ListWebhooksRequest, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.ListWebhooksResponse:
        model: type[store.EstateWebhook] | type[store.CompanyWebhook]
        if request.estate_id:
            _, estate = authorize_estate(Action.WEBHOOK_MANAGE, request.estate_id)
            model, holder, scope = store.EstateWebhook, store.EstateWebhook.estate_id, estate
        else:
            company = _uuid(request.company_id, "company_id")
            if not _company_managed(auth.require(), company):
                raise PermissionDenied("only the company's manager sees its webhooks")
            model, holder, scope = store.CompanyWebhook, store.CompanyWebhook.company_id, company
        async with self.db.system_tx() as session:
            found = await session.execute(
                select(model).where(holder == scope).order_by(model.created_at)
            )
            rows = cast(list[store.EstateWebhook | store.CompanyWebhook], list(found.scalars()))
            return notifications_pb2.ListWebhooksResponse(webhooks=[_webhook_pb(r) for r in rows])

    async def DeleteWebhook(
        self, request: notifications_pb2.WebhookRef, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.Webhook:
        subscription = _uuid(request.subscription_id, "subscription_id")
        if request.estate_id:
            _, estate = authorize_estate(Action.WEBHOOK_MANAGE, request.estate_id)
            async with self.db.estate_tx(estate) as session:
                row = await session.get(
                    store.EstateWebhook, (estate, subscription), with_for_update=True
                )
                if row is None:
                    raise NotFound("no such webhook")
                row.active = False
                await audit.record(session, estate, "webhook.delete", str(subscription), {})
                return _webhook_pb(row)
        company = _uuid(request.company_id, "company_id")
        if not _company_managed(auth.require(), company):
            raise PermissionDenied("only the company's manager removes its webhooks")
        async with self.db.estate_tx(PLATFORM) as session:
            crow = await session.get(
                store.CompanyWebhook, (company, subscription), with_for_update=True
            )
            if crow is None:
                raise NotFound("no such webhook")
            crow.active = False
            await audit.record(session, PLATFORM, "webhook.delete", str(subscription), {})
            return _webhook_pb(crow)

    # -- dead letters ----------------------------------------------------------------------------
    async def ListDeadLetters(
        self, request: notifications_pb2.ListDeadLettersRequest, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.ListDeadLettersResponse:
        size = request.page_size or 100
        if not 1 <= size <= 500:
            raise InvalidArgument("page_size must be between 1 and 500")
        query = select(store.Delivery).where(store.Delivery.state == "dead")
        if request.estate_id:
            _, estate = authorize_estate(Action.WEBHOOK_MANAGE, request.estate_id)
            query = query.where(
                store.Delivery.estate_id == estate,
                store.Delivery.channel == "webhook",
                store.Delivery.company_id.is_(None),
            )
        elif request.company_id:
            company = _uuid(request.company_id, "company_id")
            if not _company_managed(auth.require(), company):
                raise PermissionDenied("only the company's manager sees its dead letters")
            query = query.where(store.Delivery.company_id == company)
        elif not auth.require().is_operator:
            raise PermissionDenied("every dead letter of the platform is the operator's to see")
        async with self.db.system_tx() as session:
            rows = (
                await session.execute(query.order_by(store.Delivery.created_at.desc()).limit(size))
            ).scalars()
            return notifications_pb2.ListDeadLettersResponse(
                deliveries=[_delivery_pb(r) for r in rows]
            )

    async def ReplayDeadLetter(
        self, request: notifications_pb2.ReplayDeadLetterRequest, context: grpc.aio.ServicerContext
    ) -> notifications_pb2.Delivery:
        principal = auth.require()
        delivery = _uuid(request.delivery_id, "delivery_id")
        estate = _uuid(request.estate_id, "estate_id")
        async with self.db.estate_tx(estate) as session:
            row = await session.get(store.Delivery, (estate, delivery), with_for_update=True)
            may = principal.is_operator or (
                row is not None
                and row.channel == "webhook"
                and (
                    _company_managed(principal, row.company_id)
                    if row.company_id
                    else allowed(principal, Action.WEBHOOK_MANAGE, estate)
                )
            )
            if row is None or not may:
                raise NotFound("no such dead letter")
            if row.state != "dead":
                raise InvalidArgument(f"the delivery is {row.state}, not a dead letter")
            await dispatch.replay(session, row)
            await audit.record(session, estate, "delivery.replay", str(delivery), {})
            return _delivery_pb(row)
