"""Notifications end to end: events from the ledger and voting reach the right people in the
inbox, by mail (a real SMTP server), by SMS (a real HTTP gateway) and by signed webhooks (real
HTTP receivers), each exactly once, across redelivered events and a restart of the service."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import nats
import pytest

from tests.identity.world import PASSWORD, World, build, ok, signin
from tests.poll import eventually
from tests.sinks import HttpSink, MailSink
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock
from xinyi_notifications.channels import verify

APPROVERS = ("committee_member", "committee_chair")


@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    return build(platform.gateway_url, operator_token)


def addresses(world: World) -> dict[str, str]:
    tag = world.estate_a[:8]
    return {role: f"{role.replace('_', '-')}-{tag}@example.cn" for role in APPROVERS}


def estate(world: World, tail: str = "") -> str:
    return f"/api/v1/estates/{world.estate_a}{tail}"


def request_disbursement(world: World, purpose: str, amount_fen: int = 12_345) -> str:
    """Income, then a payment request the approving body must approve; its id."""
    with world.client("company_accountant") as acc:
        ok(
            acc.post(
                estate(world, "/ledger/entries"),
                json={"kind": "income", "source": "parking", "amount_fen": 1_000_000},
            )
        )
        asked = ok(
            acc.post(
                estate(world, "/disbursements"),
                json={
                    "amount_fen": amount_fen,
                    "payee": "成都电梯维保公司",
                    "purpose": purpose,
                    "expense_code": "5005",
                },
            )
        )
    return str(asked["disbursement_id"])


def fresh(world: World, role: str) -> httpx.Client:
    """A client signed in now, on the platform's (perhaps moved) clock."""
    return world.as_token(signin(world.base, world.usernames[role]))


def inbox(world: World, role: str) -> dict:  # type: ignore[type-arg]
    with fresh(world, role) as c:
        return ok(c.get("/api/v1/me/inbox", params={"limit": 200}))


def about(messages: list[dict], disbursement: str) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in messages if m["params"].get("disbursement_id") == disbursement]


def mails_about(mail: MailSink, address: str, purpose: str) -> list[EmailMessage]:
    found = []
    for m in mail.to(address):
        text = m.get_body(("plain",))
        if text is not None and purpose in text.get_content():
            found.append(m)
    return found


def hooks_about(sink: HttpSink, disbursement: str) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for r in sink.received:
        body = json.loads(r.body)
        if body["params"].get("disbursement_id") == disbursement:
            out.append(body)
    return out


@pytest.fixture(scope="module")
def receivers(world: World) -> Iterator[dict[str, object]]:
    """The approvers' addresses, the estate's and the company's webhook receivers."""
    emails = addresses(world)
    for role in APPROVERS:
        with world.client(role) as c:
            kinds = (
                [{"kind": "approval_requested", "channels": ["inbox", "email", "sms"]}]
                if role == "committee_chair"
                else []
            )
            ok(
                c.put(
                    "/api/v1/me/preferences",
                    json={"email": emails[role], "phone": "13800001234", "kinds": kinds},
                )
            )
    estate_hook, company_hook = HttpSink(), HttpSink()
    with world.client("committee_chair") as chair:
        made = chair.post(
            estate(world, "/webhooks"),
            json={"url": f"{estate_hook.url}/xinyi", "kinds": ["approval_requested"]},
        )
        assert made.status_code == 201, made.text
        estate_secret = made.json()["secret"]
        # The secret is shown once, never again.
        listed = ok(chair.get(estate(world, "/webhooks")))["webhooks"]
        assert [w["secret"] for w in listed] == [None]
    with world.client("company_manager") as manager:
        made = manager.post(
            f"/api/v1/companies/{world.company_a}/webhooks", json={"url": f"{company_hook.url}/k"}
        )
        assert made.status_code == 201, made.text
        company_secret = made.json()["secret"]
    yield {
        "emails": emails,
        "estate_hook": estate_hook,
        "company_hook": company_hook,
        "estate_secret": estate_secret,
        "company_secret": company_secret,
    }
    estate_hook.stop()
    company_hook.stop()


async def _redeliver(nats_url: str, estate_id: str) -> None:
    """Publishes the estate's latest disbursement_requested event again, as a redelivery would
    (a fresh message id, so JetStream does not drop it as a duplicate)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        subject = f"xinyi.ledger.v1.{estate_id}.disbursement_requested"
        last = await js.get_last_msg("XINYI_LEDGER", subject)
        assert last.data
        await js.publish(subject, last.data, headers={"Nats-Msg-Id": str(uuid.uuid4())})
    finally:
        await nc.close()


def test_an_approval_request_reaches_the_approving_body_once_on_every_channel(
    world: World,
    platform: Platform,
    mail: MailSink,
    sms: HttpSink,
    receivers: dict[str, object],
) -> None:
    emails: dict[str, str] = receivers["emails"]  # type: ignore[assignment]
    estate_hook: HttpSink = receivers["estate_hook"]  # type: ignore[assignment]
    company_hook: HttpSink = receivers["company_hook"]  # type: ignore[assignment]
    purpose = f"电梯年检 {uuid.uuid4().hex[:6]}"
    amount = 10_000 + uuid.uuid4().int % 90_000
    shown = f"{amount // 100:,}.{amount % 100:02d}"
    d = request_disbursement(world, purpose, amount)

    def texts() -> list[dict]:  # type: ignore[type-arg]
        return [json.loads(r.body) for r in sms.received if shown.encode() in r.body]

    def everywhere() -> bool:
        return (
            all(len(about(inbox(world, r)["messages"], d)) == 1 for r in APPROVERS)
            and all(len(mails_about(mail, emails[r], purpose)) == 1 for r in APPROVERS)
            and len(hooks_about(estate_hook, d)) == 1
            and len(hooks_about(company_hook, d)) == 1
            and len(texts()) == 1
        )

    eventually(everywhere, timeout=60, what="the approval request on every channel")

    # The message as the approver reads it, in Chinese, with what to check.
    message = about(inbox(world, "committee_member")["messages"], d)[0]
    assert message["kind"] == "approval_requested" and message["urgent"] is True
    assert "待审批" in message["title"] and shown in message["title"]
    # Only the chair asked for SMS too.
    assert texts()[0]["to"] == "13800001234" and texts()[0]["text"].startswith("【信义】")
    assert message["link"] == f"/fund/{world.estate_a}/disbursements/{d}"
    # Nobody outside the approving body hears of it.
    for role in ("owner", "company_accountant", "estate_supervisor"):
        assert not about(inbox(world, role)["messages"], d), role

    # The mail: a Chinese subject, plain text and HTML.
    sent = mails_about(mail, emails["committee_chair"], purpose)[0]
    assert "待审批" in str(sent["Subject"])
    assert sent.get_body(("html",)) is not None
    assert purpose in sent.get_body(("html",)).get_content()  # type: ignore[union-attr]

    # The webhooks: signed with each subscription's own secret, timestamp fresh.
    for sink, secret in (
        (estate_hook, receivers["estate_secret"]),
        (company_hook, receivers["company_secret"]),
    ):
        got = next(r for r in sink.received if d in r.body.decode())
        assert verify(
            str(secret),
            got.headers["x-xinyi-timestamp"],
            got.headers["x-xinyi-signature"],
            got.body,
        )
        assert not verify(
            "whsec_wrong",
            got.headers["x-xinyi-timestamp"],
            got.headers["x-xinyi-signature"],
            got.body,
        )
        assert abs(int(got.headers["x-xinyi-timestamp"]) - time.time()) < 120
        assert json.loads(got.body)["params"]["amount_fen"] == amount

    # The event arrives again, the service restarts in between, and it arrives once more.
    asyncio.run(_redeliver(platform.nats_url or "", world.estate_a))
    platform.stop_process("notifications")
    asyncio.run(_redeliver(platform.nats_url or "", world.estate_a))
    platform.start_service("notifications")
    platform.wait_healthy()
    # A later request is the barrier: once it is everywhere, the redeliveries were seen.
    later = f"消防检测 {uuid.uuid4().hex[:6]}"
    d2 = request_disbursement(world, later)
    eventually(
        lambda: (
            len(hooks_about(estate_hook, d2)) == 1
            and all(len(mails_about(mail, emails[r], later)) == 1 for r in APPROVERS)
        ),
        timeout=90,
        what="the later request after the restart",
    )
    for role in APPROVERS:
        assert len(about(inbox(world, role)["messages"], d)) == 1
        assert len(mails_about(mail, emails[role], purpose)) == 1
    assert len(hooks_about(estate_hook, d)) == 1
    assert len(hooks_about(company_hook, d)) == 1
    assert len(texts()) == 1


def test_a_webhook_that_fails_three_times_gets_the_message_once_correctly_signed(
    world: World,
) -> None:
    sink = HttpSink(answer=lambda received, n: 500 if n <= 3 else 200)
    try:
        with world.client("committee_chair") as chair:
            # Bad subscriptions are refused in words; a resident may not subscribe at all.
            for body, word in (
                ({"url": "ftp://example.cn/hook"}, "http"),
                ({"url": "http://user:pw@example.cn/hook"}, "credentials"),
                ({"url": f"{sink.url}/x", "kinds": ["no_such_kind"]}, "unknown message kind"),
            ):
                refused = chair.post(estate(world, "/webhooks"), json=body)
                assert refused.status_code == 400 and word in refused.json()["detail"], body
            with world.client("owner") as owner:
                denied = owner.post(estate(world, "/webhooks"), json={"url": f"{sink.url}/x"})
                assert denied.status_code == 403
            made = ok(
                chair.post(
                    estate(world, "/webhooks"),
                    json={"url": f"{sink.url}/flaky", "kinds": ["approval_requested"]},
                )
            )
        d = request_disbursement(world, f"水泵更换 {uuid.uuid4().hex[:6]}")
        eventually(lambda: hooks_about(sink, d), timeout=60, what="the retried webhook")
        time.sleep(2)  # no late duplicate follows
        assert len(hooks_about(sink, d)) == 1
        assert sink.attempts == 4
        # Every attempt was the same delivery, signed afresh with the subscription's secret.
        assert len({r.headers["x-xinyi-delivery"] for r in sink.seen}) == 1
        for r in sink.seen:
            assert verify(
                made["secret"],
                r.headers["x-xinyi-timestamp"],
                r.headers["x-xinyi-signature"],
                r.body,
            )
        # Back-off: the waits between attempts grow.
        gaps = [b.at - a.at for a, b in zip(sink.seen, sink.seen[1:], strict=False)]
        assert gaps[2] > gaps[0], gaps
        with world.client("committee_chair") as chair:
            ok(chair.delete(estate(world, f"/webhooks/{made['subscription_id']}")))
    finally:
        sink.stop()


def test_a_dead_letter_is_listed_and_replayed(
    world: World, mail: MailSink, receivers: dict[str, object]
) -> None:
    emails: dict[str, str] = receivers["emails"]  # type: ignore[assignment]
    state = {"up": False}
    sink = HttpSink(answer=lambda received, n: 200 if state["up"] else 503)
    try:
        with world.client("committee_chair") as chair:
            made = ok(
                chair.post(
                    estate(world, "/webhooks"),
                    json={"url": f"{sink.url}/down", "kinds": ["approval_requested"]},
                )
            )
            purpose = f"门禁维修 {uuid.uuid4().hex[:6]}"
            d = request_disbursement(world, purpose)

            def dead() -> dict | None:  # type: ignore[type-arg]
                rows = ok(
                    chair.get(
                        "/api/v1/notifications/dead-letters",
                        params={"estate_id": world.estate_a},
                    )
                )["deliveries"]
                return next((r for r in rows if r["recipient"] == made["subscription_id"]), None)

            letter = eventually(dead, timeout=60, what="the dead letter")
            assert letter["attempts"] == 5 and "503" in letter["last_error"]
            assert not hooks_about(sink, d)
            # The failing webhook held up nothing else: the approvers' mail went out.
            for role in APPROVERS:
                assert len(mails_about(mail, emails[role], purpose)) == 1
            # Owners see no dead letters; the operator sees all of them.
            with world.client("owner") as owner:
                refused = owner.get(
                    "/api/v1/notifications/dead-letters", params={"estate_id": world.estate_a}
                )
                assert refused.status_code == 403
            state["up"] = True
            replayed = ok(
                chair.post(
                    f"/api/v1/notifications/dead-letters/{letter['delivery_id']}/replay",
                    json={"estate_id": world.estate_a},
                )
            )
            assert replayed["state"] == "pending"
            eventually(lambda: hooks_about(sink, d), timeout=30, what="the replayed delivery")
            again = chair.post(
                f"/api/v1/notifications/dead-letters/{letter['delivery_id']}/replay",
                json={"estate_id": world.estate_a},
            )
            assert again.status_code in (400, 422), again.text
            ok(chair.delete(estate(world, f"/webhooks/{made['subscription_id']}")))
        assert len(hooks_about(sink, d)) == 1
    finally:
        sink.stop()


def test_owners_hear_of_an_assembly_from_its_notice_to_its_last_day(
    world: World, platform: Platform
) -> None:
    day = 86400
    with world.client("committee_chair") as chair:
        ballot = ok(
            chair.post(
                estate(world, "/ballots"),
                json={
                    "title": "更换电梯",
                    "questions": [{"question_id": "q", "text": "更换电梯", "matter_class": 9}],
                },
            )
        )
        b = ballot["ballot_id"]
        opens = time.time() + 16 * day
        ok(
            chair.post(
                estate(world, f"/ballots/{b}/announce"),
                json={"voting_opens_at": _iso(opens), "voting_closes_at": _iso(opens + 5 * day)},
            )
        )

    def heard(role: str, kind: str) -> dict | None:  # type: ignore[type-arg]
        return next(
            (
                m
                for m in inbox(world, role)["messages"]
                if m["kind"] == kind and m["params"].get("ballot_id") == b
            ),
            None,
        )

    message = eventually(lambda: heard("owner", "ballot_announced"), what="the announcement")
    assert "更换电梯" in message["title"] and message["read"] is False
    clock = platform.data_dir / "clock-offset"
    try:
        move_clock(clock, 16 * day + 3600)
        with fresh(world, "committee_chair") as chair:
            ok(chair.post(estate(world, f"/ballots/{b}/open")))
        eventually(lambda: heard("owner", "ballot_opened"), what="the opening")
        with fresh(world, "owner") as owner:
            ok(
                owner.put(
                    estate(world, f"/ballots/{b}/vote"),
                    json={"choices": [{"question_id": "q", "answer": "yes"}]},
                )
            )
        counted = eventually(lambda: heard("owner", "vote_counted"), what="the vote's receipt")
        assert counted["params"]["receipt_code"]
        # Half a day before the end, owners are reminded once.
        move_clock(clock, 21 * day - 12 * 3600)
        eventually(lambda: heard("owner", "ballot_closing"), what="the closing reminder")
        time.sleep(1.5)
        closing = [
            m
            for m in inbox(world, "owner")["messages"]
            if m["kind"] == "ballot_closing" and m["params"].get("ballot_id") == b
        ]
        assert len(closing) == 1
    finally:
        move_clock(clock, 0)
    # The assembly is the owners': tenants hear nothing of it.
    assert heard("tenant", "ballot_announced") is None
    with world.client("owner") as owner:
        before = ok(owner.get("/api/v1/me/inbox"))["unread"]
        read = ok(owner.post(f"/api/v1/me/inbox/{message['message_id']}/read"))
        assert read == {"marked": 1, "unread": before - 1}
        # Someone else's message is not mine to mark.
        with world.client("tenant") as tenant:
            assert tenant.post(f"/api/v1/me/inbox/{message['message_id']}/read").status_code == 404
        assert ok(owner.post("/api/v1/me/inbox/read-all"))["unread"] == 0


def test_the_live_stream_brings_a_new_message_without_asking(world: World) -> None:
    with (
        world.client("committee_member") as member,
        member.stream("GET", "/api/v1/me/inbox/stream", timeout=60) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        d = ""
        event = ""
        deadline = time.monotonic() + 60
        for line in lines:
            if line.startswith("event: unread") and not d:
                d = request_disbursement(world, f"路灯更换 {uuid.uuid4().hex[:6]}")
            if line.startswith("event: "):
                event = line[7:]
            if event == "message" and line.startswith("data: ") and d in line:
                got = json.loads(line[6:])
                assert got["kind"] == "approval_requested"
                break
            assert time.monotonic() < deadline, "no message came on the stream"


def test_preferences_are_checked_and_security_messages_stay_on(world: World) -> None:
    with world.client("owner") as owner:
        prefs = ok(owner.get("/api/v1/me/preferences"))
        assert "approval_requested" in prefs["security_kinds"]
        assert {"inbox", "email", "sms"} <= set(prefs["available_channels"])
        kinds = {k["kind"]: k for k in prefs["kinds"]}
        assert kinds["ballot_announced"]["channels"] == ["inbox", "email"]
        bad = [
            {"kinds": [{"kind": "bank_alarm", "channels": []}]},
            {"kinds": [{"kind": "approval_requested", "channels": ["inbox"], "digest": True}]},
            {"kinds": [{"kind": "no_such_kind", "channels": ["inbox"]}]},
            {"quiet_start": "22:00"},
            {"quiet_start": "25:00", "quiet_end": "07:00"},
            {"email": "not-an-address"},
        ]
        for body in bad:
            reply = owner.put("/api/v1/me/preferences", json=body)
            assert reply.status_code in (400, 422), (body, reply.text)
            assert reply.headers["content-type"].startswith("application/problem+json")
        saved = ok(
            owner.put(
                "/api/v1/me/preferences",
                json={
                    "email": "owner@example.cn",
                    "quiet_start": "22:30",
                    "quiet_end": "07:00",
                    "kinds": [{"kind": "report_published", "channels": ["email"], "digest": True}],
                },
            )
        )
        kinds = {k["kind"]: k for k in saved["kinds"]}
        assert kinds["report_published"] == {
            "kind": "report_published",
            "channels": ["email"],
            "digest": True,
        }
        assert saved["quiet_start"] == "22:30"
    anonymous = httpx.get(f"{world.base}/api/v1/me/preferences", timeout=10)
    assert anonymous.status_code == 401


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def test_a_raised_flag_reaches_the_approving_body_and_the_supervisors(world: World) -> None:
    month = time.strftime("%Y-%m")
    with world.client("company_accountant") as acc:
        entry = ok(
            acc.post(
                estate(world, "/ledger/entries"),
                json={"kind": "income", "source": "venue", "amount_fen": 88_800},
            )
        )

    # Anyone reading the month's flags evaluates them; the one raised is announced. Disclosure
    # learns of the entry from the ledger's event, so the first reads may not see it yet.
    def flag_of_the_entry() -> dict[str, Any] | None:
        with world.client("owner") as owner:
            flags = ok(owner.get(estate(world, "/flags"), params={"period": month}))
        return next((f for f in flags if entry["entry_id"] in f["entry_ids"]), None)

    lump = eventually(flag_of_the_entry, timeout=30, what="the flag on the entry")

    def told(role: str) -> bool:
        return any(
            m["kind"] == "flag_raised" and m["params"].get("flag_id") == lump["flag_id"]
            for m in inbox(world, role)["messages"]
        )

    for role in (
        "committee_member",
        "committee_chair",
        "estate_supervisor",
        "community_supervisor",
    ):
        eventually(lambda r=role: told(r), timeout=30, what=f"the flag for the {role}")
    assert not told("owner") and not told("company_accountant")


def test_a_fee_reminder_reaches_the_owner_of_the_unit_only(world: World) -> None:
    with world.client("company_manager") as manager:
        ok(
            manager.put(
                estate(world, "/fees/rates"),
                json={
                    "rates": [
                        {"unit_type": t, "fen_per_m2_month": "250", "effective_from": "2020-01"}
                        for t in ("residential", "commercial")
                    ]
                },
            )
        )
    month = time.strftime("%Y-%m")
    with world.client("company_accountant") as acc:
        ok(acc.post(estate(world, "/fees/assessments"), json={"period": month}))

    def due(role: str) -> list[dict]:  # type: ignore[type-arg]
        return [
            m
            for m in inbox(world, role)["messages"]
            if m["kind"] == "fee_due" and m["params"].get("period") == month
        ]

    eventually(lambda: due("owner"), timeout=30, what="the owner's fee reminder")
    # 1-101 is 89.50 m² at 2.50 yuan: 223.75 yuan, and only its owner hears of it.
    assert [m["params"]["owed_fen"] for m in due("owner")] == [22_375]
    assert "223.75" in due("owner")[0]["title"]
    assert not due("tenant") and not due("committee_member")


def test_a_sign_in_from_a_new_device_is_announced_to_the_account_once(world: World) -> None:
    agent = f"Mozilla/5.0 (Linux; Android 14) XinyiTest/{uuid.uuid4().hex[:6]}"

    def sign_in() -> None:
        reply = httpx.post(
            f"{world.base}/api/v1/auth/token",
            json={"username": world.usernames["estate_supervisor"], "password": PASSWORD},
            headers={"User-Agent": agent},
            timeout=30,
        )
        ok(reply)

    def told() -> list[dict]:  # type: ignore[type-arg]
        return [
            m
            for m in inbox(world, "estate_supervisor")["messages"]
            if m["kind"] == "new_device_login" and m["params"].get("device") == agent
        ]

    sign_in()
    message = eventually(told, timeout=30, what="the new-device message")[0]
    assert message["urgent"] and "新设备" in message["title"]
    sign_in()  # the same browser again: nothing new to say
    time.sleep(1.5)
    assert len(told()) == 1
    with world.client("estate_supervisor") as me:
        refused = me.put(
            "/api/v1/me/preferences",
            json={"kinds": [{"kind": "new_device_login", "channels": ["email"]}]},
        )
        assert refused.status_code == 400 and "cannot be switched off" in refused.json()["detail"]


def test_a_digest_gathers_the_days_messages_into_one_mail_at_its_hour(
    world: World, platform: Platform, mail: MailSink
) -> None:
    address = f"digest-{uuid.uuid4().hex[:6]}@example.cn"
    with world.client("owner") as owner:
        ok(
            owner.put(
                "/api/v1/me/preferences",
                json={
                    "email": address,
                    "kinds": [
                        {"kind": "ballot_announced", "channels": ["inbox", "email"], "digest": True}
                    ],
                },
            )
        )
    titles = [f"议题{n}-{uuid.uuid4().hex[:4]}" for n in range(2)]
    opens = time.time() + 16 * 86400
    with world.client("committee_chair") as chair:
        for title in titles:
            ballot = ok(
                chair.post(
                    estate(world, "/ballots"),
                    json={
                        "title": title,
                        "questions": [{"question_id": "q", "text": title, "matter_class": 9}],
                    },
                )
            )
            ok(
                chair.post(
                    estate(world, f"/ballots/{ballot['ballot_id']}/announce"),
                    json={
                        "voting_opens_at": _iso(opens),
                        "voting_closes_at": _iso(opens + 5 * 86400),
                    },
                )
            )
    # In the inbox at once; by mail, not yet.
    eventually(
        lambda: all(
            any(t in m["title"] for m in inbox(world, "owner")["messages"]) for t in titles
        ),
        what="the announcements in the inbox",
    )
    time.sleep(1.5)
    assert mail.to(address) == []
    # At the digest hour (20:00 in Shanghai), one mail with both.
    here = datetime.now(ZoneInfo("Asia/Shanghai"))
    at = here.replace(hour=20, minute=0, second=30, microsecond=0)
    if at <= here:
        at += timedelta(days=1)
    clock = platform.data_dir / "clock-offset"
    try:
        move_clock(clock, (at - datetime.now(UTC)).total_seconds())
        digest = eventually(lambda: mail.to(address), timeout=30, what="the digest mail")
        time.sleep(1.5)
    finally:
        move_clock(clock, 0)
    assert len(mail.to(address)) == 1
    text = digest[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(t in text for t in titles) and "2 条消息" in str(digest[0]["Subject"])
