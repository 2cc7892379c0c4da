"""The ways a message leaves the platform: e-mail over SMTP, signed webhooks, and SMS (or WeChat)
through an adapter. Each raises `SendFailed` when the far side did not take the message."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any, Protocol

import httpx

SIGNATURE_HEADER = "X-Xinyi-Signature"
TIMESTAMP_HEADER = "X-Xinyi-Timestamp"
DELIVERY_HEADER = "X-Xinyi-Delivery"
KIND_HEADER = "X-Xinyi-Kind"
# How old a signed timestamp a receiver should accept.
REPLAY_WINDOW_SECONDS = 300


class SendFailed(Exception):
    pass


@dataclass(frozen=True)
class Outgoing:
    delivery_id: str
    kind: str
    address: str
    subject: str
    text: str
    html: str
    payload: dict[str, Any]


class Channel(Protocol):
    name: str

    async def send(self, message: Outgoing, secret: str = "") -> None: ...


# -- webhooks ---------------------------------------------------------------------------------
def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 over "<timestamp>.<body>" with the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, signature: str, body: bytes, *, now: float | None = None
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - stamp) > REPLAY_WINDOW_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


class WebhookChannel:
    name = "webhook"

    def __init__(self, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def send(self, message: Outgoing, secret: str = "") -> None:
        body = json.dumps(message.payload, ensure_ascii=False, sort_keys=True).encode()
        stamp = int(time.time())
        headers = {
            "content-type": "application/json; charset=utf-8",
            "user-agent": "xinyi-notifications/1",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(secret, stamp, body),
            DELIVERY_HEADER: message.delivery_id,
            KIND_HEADER: message.kind,
        }
        try:
            reply = await self._client.post(message.address, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from exc
        if not 200 <= reply.status_code < 300:
            raise SendFailed(f"the receiver answered HTTP {reply.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


# -- e-mail -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 10.0


def email_message(settings: SmtpSettings, message: Outgoing) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = formataddr(("信义物业公开平台", settings.sender))
    mail["To"] = message.address
    # A stable id per delivery: a retried send is recognisably the same message.
    domain = settings.sender.rpartition("@")[2] or "xinyi.local"
    mail["Message-ID"] = make_msgid(idstring=message.delivery_id, domain=domain)
    mail["X-Xinyi-Delivery"] = message.delivery_id
    mail.set_content(message.text)
    mail.add_alternative(message.html or _html(message), subtype="html")
    return mail


def _html(message: Outgoing) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in message.text.split("\n") if p)
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(message.subject)}</title></head><body>"
        f"<h2>{html.escape(message.subject)}</h2>{paragraphs}</body></html>"
    )


class EmailChannel:
    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _send_blocking(self, mail: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
            if s.starttls:
                smtp.starttls()
            if s.username:
                smtp.login(s.username, s.password)
            smtp.send_message(mail)

    async def send(self, message: Outgoing, secret: str = "") -> None:
        try:
            await asyncio.to_thread(self._send_blocking, email_message(self.settings, message))
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"SMTP: {type(exc).__name__}: {exc}"[:500]) from exc


# -- SMS and WeChat ---------------------------------------------------------------------------
class TextAdapter(Protocol):
    """What an SMS or WeChat provider adapter does: one short text to one address."""

    async def deliver(self, address: str, text: str, reference: str) -> None: ...


class HttpSmsGateway:
    """An SMS gateway reached over HTTP: POST {"to", "text", "reference"} as JSON with a bearer
    token; any 2xx means accepted. Most Chinese SMS providers are fronted this way."""

    def __init__(self, url: str, token: str = "", timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self._client = httpx.AsyncClient(timeout=timeout)

    async def deliver(self, address: str, text: str, reference: str) -> None:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            reply = await self._client.post(
                self.url,
                json={"to": address, "text": text, "reference": reference},
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise SendFailed(f"SMS gateway: {type(exc).__name__}: {exc}"[:500]) from exc
        if not 200 <= reply.status_code < 300:
            raise SendFailed(f"the SMS gateway answered HTTP {reply.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


# An SMS carries the subject and the link, within the 70 Chinese characters of one message
# where it can.
SMS_LIMIT = 140


class SmsChannel:
    name = "sms"

    def __init__(self, adapter: TextAdapter, signature: str = "【信义】") -> None:
        self.adapter = adapter
        self.signature = signature

    async def send(self, message: Outgoing, secret: str = "") -> None:
        text = f"{self.signature}{message.subject}"
        if len(text) > SMS_LIMIT:
            text = text[: SMS_LIMIT - 1] + "…"
        await self.adapter.deliver(message.address, text, message.delivery_id)
