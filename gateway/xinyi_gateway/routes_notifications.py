"""REST routes of the notifications service: my inbox (with a live stream), my preferences,
webhook subscriptions of estates and companies, and dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel, Field

from xinyi.notifications.v1 import notifications_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, IdempotencyKey, Svc, iso

router = APIRouter(prefix="/api/v1", tags=["notifications"])

CompanyId = Annotated[str, Path(pattern=UUID_PATTERN, description="Company UUID")]
# How long one long poll of the live stream waits before the stream sends a keep-alive.
STREAM_WAIT_SECONDS = 20
Kind = Annotated[str, Field(max_length=40, pattern=r"^[a-z_]+$")]


class InboxMessageOut(BaseModel):
    message_id: str
    kind: str
    title: str
    body: str
    read: bool
    urgent: bool
    created_at: str | None
    estate_id: str
    link: str = Field(description="Where in the web app the matter is (the part after '#')")
    params: dict[str, Any] = Field(description="The message's facts, for clients that word it")
    position: int


class InboxPage(BaseModel):
    messages: list[InboxMessageOut]
    unread: int
    next_cursor: str | None


def _message(m: notifications_pb2.InboxMessage) -> InboxMessageOut:
    return InboxMessageOut(
        message_id=m.message_id,
        kind=m.kind,
        title=m.title,
        body=m.body,
        read=m.read,
        urgent=m.urgent,
        created_at=iso(m.created_at),
        estate_id=m.estate_id,
        link=m.link,
        params=MessageToDict(m.params),
        position=m.position,
    )


@router.get("/me/inbox", response_model=InboxPage, summary="My in-app messages, newest first")
async def inbox(
    who: Authed,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$")] = None,
    unread_only: bool = False,
) -> InboxPage:
    reply = await svc.notifications.ListInbox(
        notifications_pb2.ListInboxRequest(
            page_size=limit, page_token=cursor or "", unread_only=unread_only
        ),
        metadata=who.metadata,
    )
    return InboxPage(
        messages=[_message(m) for m in reply.messages],
        unread=reply.unread,
        next_cursor=reply.next_page_token or None,
    )


class ReadOut(BaseModel):
    marked: int
    unread: int


@router.post("/me/inbox/{message_id}/read", response_model=ReadOut, summary="Mark one message read")
async def mark_read(
    message_id: Annotated[str, Path(pattern=UUID_PATTERN)], who: Authed, svc: Svc
) -> ReadOut:
    reply = await svc.notifications.MarkRead(
        notifications_pb2.MarkReadRequest(message_id=message_id), metadata=who.metadata
    )
    return ReadOut(marked=reply.marked, unread=reply.unread)


@router.post("/me/inbox/read-all", response_model=ReadOut, summary="Mark every message read")
async def mark_all_read(who: Authed, svc: Svc) -> ReadOut:
    reply = await svc.notifications.MarkRead(
        notifications_pb2.MarkReadRequest(all=True), metadata=who.metadata
    )
    return ReadOut(marked=reply.marked, unread=reply.unread)


def _sse(event: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@router.get(
    "/me/inbox/stream",
    summary="New messages as they arrive (Server-Sent Events)",
    description=(
        "A `text/event-stream`: first an `unread` event with the count, then a `message` event "
        "for each new message (its id is the message's position: reconnect with "
        "`Last-Event-ID` to miss nothing) and an `unread` event after each change; a comment "
        "line keeps the connection alive."
    ),
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    who: Authed,
    svc: Svc,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=20, pattern=r"^\d*$")
    ] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> StreamingResponse:
    # Where to start: the client's last seen message, or the newest one now.
    start = int(last_event_id) if last_event_id else after
    first = await svc.notifications.ListInbox(
        notifications_pb2.ListInboxRequest(page_size=1), metadata=who.metadata
    )
    if start is None:
        start = first.messages[0].position if first.messages else 0

    async def events() -> AsyncIterator[bytes]:
        position = start
        unread = first.unread
        yield b"retry: 3000\n\n"
        yield _sse("unread", {"unread": unread})
        while not await request.is_disconnected():
            try:
                reply = await svc.notifications.WaitInbox(
                    notifications_pb2.WaitInboxRequest(
                        after=position, wait_seconds=STREAM_WAIT_SECONDS
                    ),
                    metadata=who.metadata,
                    timeout=STREAM_WAIT_SECONDS + 10,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (
                    grpc.StatusCode.UNAUTHENTICATED,
                    grpc.StatusCode.PERMISSION_DENIED,
                ):
                    yield _sse("error", {"detail": "sign in again"})
                    return
                # The service is restarting: the client keeps its stream, we try again.
                yield b": waiting for the notifications service\n\n"
                await asyncio.sleep(2)
                continue
            for m in reply.messages:
                position = max(position, m.position)
                yield _sse("message", _message(m).model_dump(), m.position)
            if reply.unread != unread or reply.messages:
                unread = reply.unread
                yield _sse("unread", {"unread": unread})
            else:
                yield b": keep-alive\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# -- preferences ------------------------------------------------------------------------------
class KindPreferenceIO(BaseModel):
    kind: Kind
    channels: list[Annotated[str, Field(pattern=r"^(inbox|email|sms)$")]] = Field(max_length=3)
    digest: bool = False


class PreferencesIn(BaseModel):
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=20)
    quiet_start: str = Field(default="", pattern=r"^(|([01]\d|2[0-3]):[0-5]\d)$")
    quiet_end: str = Field(default="", pattern=r"^(|([01]\d|2[0-3]):[0-5]\d)$")
    language: str = Field(default="zh", pattern=r"^(zh|en)$")
    kinds: list[KindPreferenceIO] = Field(default_factory=list, max_length=50)


class PreferencesOut(PreferencesIn):
    security_kinds: list[str] = Field(description="Kinds that cannot be switched off")
    available_channels: list[str]


def _preferences(p: notifications_pb2.Preferences) -> PreferencesOut:
    return PreferencesOut(
        email=p.email,
        phone=p.phone,
        quiet_start=p.quiet_start,
        quiet_end=p.quiet_end,
        language=p.language or "zh",
        kinds=[
            KindPreferenceIO(kind=k.kind, channels=list(k.channels), digest=k.digest)
            for k in p.kinds
        ],
        security_kinds=list(p.security_kinds),
        available_channels=list(p.available_channels),
    )


@router.get("/me/preferences", response_model=PreferencesOut, summary="How I am told what")
async def get_preferences(who: Authed, svc: Svc) -> PreferencesOut:
    reply = await svc.notifications.GetPreferences(
        notifications_pb2.GetPreferencesRequest(), metadata=who.metadata
    )
    return _preferences(reply)


@router.put(
    "/me/preferences",
    response_model=PreferencesOut,
    summary="Set my addresses, quiet hours and, per kind, channels and digest",
    description=(
        "Kinds not listed keep their setting. Security-relevant kinds (approval requests, "
        "alarms, co-signatures) always reach the inbox and are never held for quiet hours or "
        "a digest."
    ),
)
async def put_preferences(body: PreferencesIn, who: Authed, svc: Svc) -> PreferencesOut:
    reply = await svc.notifications.SetPreferences(
        notifications_pb2.Preferences(
            email=body.email,
            phone=body.phone,
            quiet_start=body.quiet_start,
            quiet_end=body.quiet_end,
            language=body.language,
            kinds=[
                notifications_pb2.KindPreference(kind=k.kind, channels=k.channels, digest=k.digest)
                for k in body.kinds
            ],
        ),
        metadata=who.metadata,
    )
    return _preferences(reply)


# -- webhooks ---------------------------------------------------------------------------------
class WebhookIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000)
    kinds: list[Kind] = Field(default_factory=list, max_length=30)


class WebhookOut(BaseModel):
    subscription_id: str
    estate_id: str | None
    company_id: str | None
    url: str
    kinds: list[str]
    active: bool
    created_at: str | None
    secret: str | None = Field(
        default=None,
        description=(
            "Only in the answer that creates it: the HMAC-SHA256 key. Each delivery carries "
            "X-Xinyi-Timestamp and X-Xinyi-Signature: v1=hex(HMAC(secret, timestamp + '.' + "
            "body)); refuse timestamps more than 5 minutes old. X-Xinyi-Delivery identifies a "
            "delivery across retries."
        ),
    )


def _webhook(w: notifications_pb2.Webhook) -> WebhookOut:
    return WebhookOut(
        subscription_id=w.subscription_id,
        estate_id=w.estate_id or None,
        company_id=w.company_id or None,
        url=w.url,
        kinds=list(w.kinds),
        active=w.active,
        created_at=iso(w.created_at),
        secret=w.secret or None,
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


async def _create_webhook(
    svc: Svc, who: Authed, body: WebhookIn, key: str | None, **holder: str
) -> WebhookOut:
    reply = await svc.notifications.CreateWebhook(
        notifications_pb2.CreateWebhookRequest(
            url=body.url, kinds=body.kinds, idempotency_key=key or "", **holder
        ),
        metadata=who.metadata,
    )
    return _webhook(reply)


async def _list_webhooks(svc: Svc, who: Authed, **holder: str) -> WebhookList:
    reply = await svc.notifications.ListWebhooks(
        notifications_pb2.ListWebhooksRequest(**holder), metadata=who.metadata
    )
    return WebhookList(webhooks=[_webhook(w) for w in reply.webhooks])


async def _delete_webhook(svc: Svc, who: Authed, subscription_id: str, **holder: str) -> WebhookOut:
    reply = await svc.notifications.DeleteWebhook(
        notifications_pb2.WebhookRef(subscription_id=subscription_id, **holder),
        metadata=who.metadata,
    )
    return _webhook(reply)


SubscriptionId = Annotated[str, Path(pattern=UUID_PATTERN)]


@router.post(
    "/estates/{estate_id}/webhooks",
    response_model=WebhookOut,
    status_code=201,
    summary="Send the estate's notices to a system of its own (the committee's chair)",
)
async def create_estate_webhook(
    estate_id: EstateId,
    body: WebhookIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> WebhookOut:
    return await _create_webhook(svc, who, body, idempotency_key, estate_id=estate_id)


@router.get(
    "/estates/{estate_id}/webhooks", response_model=WebhookList, summary="The estate's webhooks"
)
async def list_estate_webhooks(estate_id: EstateId, who: Authed, svc: Svc) -> WebhookList:
    return await _list_webhooks(svc, who, estate_id=estate_id)


@router.delete(
    "/estates/{estate_id}/webhooks/{subscription_id}",
    response_model=WebhookOut,
    summary="Stop a webhook",
)
async def delete_estate_webhook(
    estate_id: EstateId, subscription_id: SubscriptionId, who: Authed, svc: Svc
) -> WebhookOut:
    return await _delete_webhook(svc, who, subscription_id, estate_id=estate_id)


@router.post(
    "/companies/{company_id}/webhooks",
    response_model=WebhookOut,
    status_code=201,
    summary="Send the notices of every estate the company serves to its system (its manager)",
)
async def create_company_webhook(
    company_id: CompanyId,
    body: WebhookIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> WebhookOut:
    return await _create_webhook(svc, who, body, idempotency_key, company_id=company_id)


@router.get(
    "/companies/{company_id}/webhooks", response_model=WebhookList, summary="The company's webhooks"
)
async def list_company_webhooks(company_id: CompanyId, who: Authed, svc: Svc) -> WebhookList:
    return await _list_webhooks(svc, who, company_id=company_id)


@router.delete(
    "/companies/{company_id}/webhooks/{subscription_id}",
    response_model=WebhookOut,
    summary="Stop a company webhook",
)
async def delete_company_webhook(
    company_id: CompanyId, subscription_id: SubscriptionId, who: Authed, svc: Svc
) -> WebhookOut:
    return await _delete_webhook(svc, who, subscription_id, company_id=company_id)


# -- dead letters -----------------------------------------------------------------------------
class DeliveryOut(BaseModel):
    delivery_id: str
    estate_id: str
    channel: str
    recipient: str
    kind: str
    state: str
    attempts: int
    last_error: str
    created_at: str | None
    next_attempt_at: str | None


class DeadLetters(BaseModel):
    deliveries: list[DeliveryOut]


def _delivery(d: notifications_pb2.Delivery) -> DeliveryOut:
    return DeliveryOut(
        delivery_id=d.delivery_id,
        estate_id=d.estate_id,
        channel=d.channel,
        recipient=d.recipient,
        kind=d.kind,
        state=d.state,
        attempts=d.attempts,
        last_error=d.last_error,
        created_at=iso(d.created_at),
        next_attempt_at=iso(d.next_attempt_at),
    )


@router.get(
    "/notifications/dead-letters",
    response_model=DeadLetters,
    summary="Deliveries that failed every retry",
    description=(
        "With estate_id: the estate's webhooks' (its chair); with company_id: the company's "
        "webhooks' (its manager); with neither: every channel's, for the operator."
    ),
)
async def dead_letters(
    who: Authed,
    svc: Svc,
    estate_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    company_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeadLetters:
    reply = await svc.notifications.ListDeadLetters(
        notifications_pb2.ListDeadLettersRequest(
            estate_id=estate_id or "", company_id=company_id or "", page_size=limit
        ),
        metadata=who.metadata,
    )
    return DeadLetters(deliveries=[_delivery(d) for d in reply.deliveries])


class ReplayIn(BaseModel):
    estate_id: str = Field(pattern=UUID_PATTERN)


@router.post(
    "/notifications/dead-letters/{delivery_id}/replay",
    response_model=DeliveryOut,
    summary="Send a dead letter again (from its first attempt)",
)
async def replay_dead_letter(
    delivery_id: Annotated[str, Path(pattern=UUID_PATTERN)], body: ReplayIn, who: Authed, svc: Svc
) -> DeliveryOut:
    reply = await svc.notifications.ReplayDeadLetter(
        notifications_pb2.ReplayDeadLetterRequest(
            delivery_id=delivery_id, estate_id=body.estate_id
        ),
        metadata=who.metadata,
    )
    return _delivery(reply)
