"""Secrets never reach a log: a whole platform runs with every kind of secret it knows - the
generated operator password, users' passwords (and a wrong one), TOTP secrets, access and refresh
tokens (refreshed, spent, revoked), a forged bearer token, the database password in DATABASE_URL,
the SMTP password, the SMS gateway's token, the S3 secret key, webhook secrets - through sign-ins,
deliveries on every channel and a database fault in the middle of a TOTP enrolment, and then the
output of every process (the services, the gateways, PostgreSQL and NATS) is searched for each.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import httpx
import pyotp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.identity.world import PASSWORD, build, ok
from tests.ledger.test_vouchers import png
from tests.poll import eventually
from tests.sinks import HttpSink
from xinyi_dev.embedded import free_port
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock

pytestmark = [
    pytest.mark.own_servers,
    pytest.mark.timeout(240),
    # The test's SMTP server takes AUTH without TLS: it is on the loopback.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

SMTP_USER = "xinyi-mailer"
SMTP_PASSWORD = "smtp-" + secrets.token_urlsafe(16)
SMS_TOKEN = "sms-" + secrets.token_urlsafe(16)
S3_ACCESS_KEY = "AKIA" + secrets.token_hex(8).upper()
S3_SECRET_KEY = "s3-" + secrets.token_urlsafe(24)
WRONG_PASSWORD = "wrong-" + secrets.token_urlsafe(12)
FORGED_BEARER = (
    "eyJhbGciOiJFUzI1NiJ9." + secrets.token_urlsafe(30) + "." + secrets.token_urlsafe(40)
)


class SmtpWithAuth:
    """An SMTP server that accepts mail only after AUTH with the platform's SMTP password."""

    def __init__(self) -> None:
        self.mails: list[bytes] = []
        self.logins: list[bool] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.mails.append(envelope.content)
                return "250 accepted"

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            good = (
                isinstance(data, LoginPassword)
                and data.login == SMTP_USER.encode()
                and data.password == SMTP_PASSWORD.encode()
            )
            sink.logins.append(good)
            return AuthResult(success=good)

        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,
            auth_required=True,
        )


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[str]:
    """An S3-compatible server (moto's) with the voucher bucket; its endpoint."""
    port = free_port()
    with open(tmp_path / "moto.log", "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        eventually(lambda: _listening(port), timeout=30, what="the S3 server to listen")
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
        ).create_bucket(Bucket="vouchers")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def tokens(base: str, username: str, password: str, totp: str | None = None) -> dict[str, str]:
    body = {"username": username, "password": password, **({"totp": totp} if totp else {})}
    return ok(httpx.post(f"{base}/api/v1/auth/token", json=body, timeout=30))


def test_no_secret_reaches_any_process_log(tmp_path: Path, s3: str) -> None:
    data_dir = tmp_path / "platform"
    log_path = tmp_path / "platform.log"
    mail, sms, hook, failing_hook = SmtpWithAuth(), HttpSink(), HttpSink(), HttpSink(lambda *_: 500)
    mail.controller.start()
    found: dict[str, str] = {}  # what -> secret value
    plat = Platform(
        data_dir=data_dir,
        http_port=free_port(),
        # No bootstrap password: identity makes one, as on a first `make run`.
        extra_env={
            "XINYI_ENV": "test",
            "XINYI_TEST_CLOCK_FILE": str(data_dir / "clock-offset"),
            "XINYI_LOGIN_RATE_PER_MINUTE": "10000",
            "XINYI_SMTP_HOST": "127.0.0.1",
            "XINYI_SMTP_PORT": str(mail.port),
            "XINYI_SMTP_USERNAME": SMTP_USER,
            "XINYI_SMTP_PASSWORD": SMTP_PASSWORD,
            "XINYI_SMS_GATEWAY_URL": f"{sms.url}/sms",
            "XINYI_SMS_GATEWAY_TOKEN": SMS_TOKEN,
            "XINYI_VOUCHER_STORE": "s3",
            "XINYI_S3_ENDPOINT": s3,
            "XINYI_S3_BUCKET": "vouchers",
            "XINYI_S3_ACCESS_KEY": S3_ACCESS_KEY,
            "XINYI_S3_SECRET_KEY": S3_SECRET_KEY,
            "XINYI_RETRY_BASE_SECONDS": "0.2",
            "XINYI_MAX_ATTEMPTS": "2",
        },
        log_sink=open(log_path, "w"),  # noqa: SIM115
    )
    try:
        plat.start()
        base = plat.gateway_url
        found["the generated operator password"] = plat.operator_password
        found["the database password in DATABASE_URL"] = plat.app_password
        assert plat.app_password in plat.service_env("ledger")["DATABASE_URL"]
        found["the SMTP password"] = SMTP_PASSWORD
        found["the SMS gateway token"] = SMS_TOKEN
        found["the S3 access key"] = S3_ACCESS_KEY
        found["the S3 secret key"] = S3_SECRET_KEY
        found["a user's password"] = PASSWORD
        found["a mistyped password"] = WRONG_PASSWORD
        found["a forged bearer token"] = FORGED_BEARER

        refused = httpx.post(
            f"{base}/api/v1/auth/token",
            json={"username": "operator", "password": WRONG_PASSWORD},
            timeout=30,
        )
        assert refused.status_code == 401
        operator = tokens(base, "operator", plat.operator_password)
        world = build(base, operator["access_token"])
        for role, token in world.tokens.items():
            found[f"{role}'s access token"] = token
        assert (
            httpx.get(
                f"{base}/api/v1/me", headers={"Authorization": f"Bearer {FORGED_BEARER}"}
            ).status_code
            == 401
        )

        # Refresh: rotate, spend the old one again (refused), then sign out.
        chair_name = world.usernames["committee_chair"]
        first = tokens(base, chair_name, PASSWORD)
        second = ok(
            httpx.post(
                f"{base}/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
            )
        )
        spent = httpx.post(
            f"{base}/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert spent.status_code in (400, 401), spent.text
        assert (
            httpx.post(
                f"{base}/api/v1/auth/logout", json={"refresh_token": second["refresh_token"]}
            ).status_code
            == 204
        )
        for name, issued in (("first", first), ("second", second), ("operator's", operator)):
            found[f"the {name} access token"] = issued["access_token"]
            found[f"the {name} refresh token"] = issued["refresh_token"]

        # TOTP: one enrolment goes through; another meets a database fault halfway.
        with world.client("committee_chair") as chair:
            secret = ok(chair.post("/api/v1/me/totp"))["secret"]
            ok(chair.post("/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(secret).now()}))
        found["a TOTP secret"] = secret
        # The next code: each is spent once.
        move_clock(data_dir / "clock-offset", 30)
        with_code = tokens(base, chair_name, PASSWORD, pyotp.TOTP(secret).at(time.time() + 30))
        found["a TOTP sign-in's access token"] = with_code["access_token"]
        with world.client("committee_member") as member:
            pending = ok(member.post("/api/v1/me/totp"))["secret"]
            found["a TOTP secret being enrolled"] = pending
            # A constraint the enrolment's UPDATE breaks: the error names the statement.
            probe = "ALTER TABLE identity.users {} CONSTRAINT leak_probe"
            check = " CHECK (totp_secret IS NULL) NOT VALID"
            asyncio.run(_admin(plat.admin_url, probe.format("ADD") + check))
            try:
                failed = member.post(
                    "/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(pending).now()}
                )
            finally:
                asyncio.run(_admin(plat.admin_url, probe.format("DROP")))
            assert failed.status_code == 500, failed.text

        # Deliveries on every channel: mail after SMTP AUTH, SMS with the gateway's token, a
        # webhook signed with its secret, and one whose receiver fails until it is a dead letter.
        with world.client("committee_chair") as chair:
            ok(
                chair.put(
                    "/api/v1/me/preferences",
                    json={
                        "email": "chair@example.cn",
                        "phone": "13800001234",
                        "kinds": [
                            {"kind": "approval_requested", "channels": ["inbox", "email", "sms"]}
                        ],
                    },
                )
            )
            for sink, path in ((hook, "ok"), (failing_hook, "down")):
                made = ok(
                    chair.post(
                        f"/api/v1/estates/{world.estate_a}/webhooks",
                        json={"url": f"{sink.url}/{path}", "kinds": ["approval_requested"]},
                    )
                )
                found[f"the webhook secret ({path})"] = made["secret"]
        with world.client("company_accountant") as acc:
            estate = f"/api/v1/estates/{world.estate_a}"
            ok(
                acc.post(
                    f"{estate}/ledger/entries", json={"source": "parking", "amount_fen": 10**6}
                )
            )
            ok(
                acc.post(
                    f"{estate}/vouchers",
                    content=png("secrets"),
                    headers={"content-type": "image/png"},
                    params={"kind": "receipt"},
                )
            )
            ok(
                acc.post(
                    f"{estate}/disbursements",
                    json={
                        "amount_fen": 12_345,
                        "payee": "成都电梯维保公司",
                        "purpose": "电梯年检",
                        "expense_code": "5005",
                    },
                )
            )
        eventually(
            lambda: mail.mails and sms.received and hook.received and failing_hook.attempts >= 2,
            timeout=60,
            what="mail, SMS, the webhook and the failing webhook's attempts",
        )
        assert all(mail.logins) and mail.logins
        assert sms.received[0].headers["authorization"] == f"Bearer {SMS_TOKEN}"
        time.sleep(1)  # the dead letter's log line
    finally:
        plat.stop()
        mail.controller.stop()
        for sink in (sms, hook, failing_hook):
            sink.stop()

    logs = {
        "the processes' output": log_path.read_text(errors="replace"),
        "PostgreSQL's log": (data_dir / "postgres" / "server.log").read_text(errors="replace"),
        "NATS's log": (data_dir / "nats" / "server.log").read_text(errors="replace"),
    }
    output = logs["the processes' output"]
    # The search means something: every process wrote, the fault and the dead letter were logged.
    for name in ("identity", "ledger", "voting", "disclosure", "notifications", "gateway"):
        assert f"\n{name:<15}|" in "\n" + output, f"no output from {name}"
    assert "unexpected error in /xinyi.identity.v1.IdentityService/ConfirmTotpEnrolment" in output
    assert "dead letter" in output
    leaks = [
        f"{what} in {where}: {line.strip()[:300]}"
        for what, value in found.items()
        for where, text in logs.items()
        for line in text.splitlines()
        if value in line
    ]
    leaks += [f"a private key in {where}" for where, text in logs.items() if "PRIVATE KEY" in text]
    assert not leaks, "secrets in the logs:\n" + "\n".join(leaks)


def test_a_refused_setting_is_named_without_its_value() -> None:
    """A service that will not start for a bad setting says which, not what it held."""
    secret = "db-" + secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "DATABASE_URL": f"mysql://xinyi:{secret}@db.example/xinyi",
        "XINYI_SMTP_PASSWORD": SMTP_PASSWORD,
        "XINYI_SMTP_PORT": f"not-a-port-{secret}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "xinyi_notifications.main"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "DATABASE_URL" in done.stderr and "XINYI_SMTP_PORT" in done.stderr
    for value in (secret, SMTP_PASSWORD):
        assert value not in done.stdout + done.stderr
