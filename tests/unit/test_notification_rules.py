"""Notifications' pure rules: who hears what, which channels and when, signatures, back-off and
the steady drain of a burst."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from xinyi_notifications import plan, rules
from xinyi_notifications.channels import sign, verify
from xinyi_notifications.dispatch import TokenBucket

# 2026-11-26 23:30 in Shanghai.
LATE = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)
NOON = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def person(**settings: plan.KindSetting) -> plan.Person:
    return plan.Person(
        user_id="u",
        email="u@example.cn",
        phone="13800000000",
        quiet_start="22:00",
        quiet_end="07:00",
        settings=tuple(settings.items()),
    )


ALL = frozenset({"email", "sms", "webhook"})


def test_security_messages_cannot_be_silenced_nor_held_back() -> None:
    silent = person(approval_requested=plan.KindSetting(("email",), digest=True))
    assert plan.wants_inbox("approval_requested", silent)
    sent = plan.outward("approval_requested", silent, ALL, LATE, 20)
    # In quiet hours, asked for a digest: it goes now all the same.
    assert [(o.channel, o.not_before, o.digest) for o in sent] == [("email", LATE, False)]
    assert plan.check_kind_setting("bank_alarm", ["email"]) is not None
    assert plan.check_kind_setting("bank_alarm", ["inbox"]) is None
    assert plan.check_kind_setting("ballot_opened", []) is None


def test_quiet_hours_hold_ordinary_messages_until_morning() -> None:
    p = person(ballot_opened=plan.KindSetting(("inbox", "email", "sms")))
    held = plan.outward("ballot_opened", p, ALL, LATE, 20)
    morning = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # 07:00 on the 27th in Shanghai
    assert {(o.channel, o.not_before) for o in held} == {("email", morning), ("sms", morning)}
    at_noon = plan.outward("ballot_opened", p, ALL, NOON, 20)
    assert {o.not_before for o in at_noon} == {NOON}


def test_a_digest_waits_for_its_hour_and_unavailable_channels_are_skipped() -> None:
    p = person(report_published=plan.KindSetting(("inbox", "email", "sms"), digest=True))
    out = plan.outward("report_published", p, frozenset({"email"}), NOON, 20)
    assert [(o.channel, o.digest) for o in out] == [("email", True)]
    assert out[0].not_before == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # 20:00 local
    assert plan.next_digest(LATE, 20) == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    nobody = plan.Person(user_id="x")
    assert plan.outward("report_published", nobody, ALL, NOON, 20) == []


def test_the_default_is_the_inbox_and_mail() -> None:
    p = plan.Person(user_id="x", email="x@example.cn", phone="1380000")
    assert [o.channel for o in plan.outward("fee_due", p, ALL, NOON, 20)] == ["email"]
    assert plan.wants_inbox("fee_due", p)
    off = plan.Person(user_id="x", settings=(("fee_due", plan.KindSetting(())),))
    assert not plan.wants_inbox("fee_due", off)


@given(st.integers(min_value=1, max_value=30))
def test_back_off_doubles_up_to_its_cap(attempts: int) -> None:
    wait = plan.backoff(attempts, 2.0)
    assert wait == timedelta(seconds=min(3600, 2.0 * 2 ** (attempts - 1)))
    assert plan.backoff(attempts + 1, 2.0) >= wait


def test_a_signature_covers_the_body_and_the_time() -> None:
    body = b'{"kind": "bank_alarm"}'
    now = 1_800_000_000
    header = sign("whsec_k", now, body)
    assert verify("whsec_k", str(now), header, body, now=now + 10)
    assert not verify("whsec_k", str(now), header, body + b" ", now=now + 10)
    assert not verify("whsec_other", str(now), header, body, now=now + 10)
    assert not verify("whsec_k", str(now + 1), header, body, now=now + 10)
    # A replay ten minutes later is refused.
    assert not verify("whsec_k", str(now), header, body, now=now + 600)
    assert not verify("whsec_k", "yesterday", header, body, now=now)


def test_a_burst_drains_at_the_channels_rate() -> None:
    bucket = TokenBucket(rate=10, burst=10, now=0.0)
    assert bucket.take(100, now=0.0) == 10
    assert bucket.take(100, now=0.5) == 5
    assert bucket.take(100, now=0.5) == 0
    # Idle for long, the burst does not grow past its size.
    assert bucket.take(100, now=100.0) == 10


def test_urgent_messages_go_before_the_bulk() -> None:
    alarm = rules.bank_alarm("e", "甲小区", "l", 50_000, "2026-11-01", "转账")
    report = rules.report_published("e", "甲小区", "2026-10")
    vote = rules.vote_counted("e", "甲小区", "b", "续聘", "R-1", "u")
    result = rules.ballot_result("e", "甲小区", "b", "续聘物业", True)
    assert alarm.priority < vote.priority < result.priority < report.priority
    assert alarm.urgent and not report.urgent
    # Personal messages never go to an estate's webhooks; estate-wide ones do.
    assert not vote.broadcast and result.broadcast and alarm.broadcast


def test_each_event_speaks_to_its_audience() -> None:
    alarm = rules.bank_alarm("e", "甲小区", "l", 50_000, "2026-11-01", "转账")
    assert alarm.roles == {"committee_member", "committee_chair", "estate_supervisor"}
    assert alarm.community_supervisors
    assert "500.00" in alarm.title
    fee = rules.fee_reminder("e", "甲小区", "unit-1", "arrears", "2026-11", 12_000, "2026-08")
    assert fee is not None and fee.kind == "fee_arrears" and fee.units == ("unit-1",)
    assert "第九百四十四条" in fee.body
    assert rules.fee_reminder("e", "甲小区", "u", "other", "2026-11", 1, "") is None
    assert rules.suggestion_updated("e", "甲小区", "s", "submitted", "u") is None
    answered = rules.suggestion_updated("e", "甲小区", "s", "answered", "u")
    assert answered is not None and answered.users == ("u",)
    opened = rules.ballot_state("e", "甲小区", "b", "open", "续聘", None, LATE)
    assert opened is not None and opened.roles == {"owner"}
    assert "2026-11-26 23:30" in opened.body
    assert rules.ballot_state("e", "甲小区", "b", "closed", "续聘", None, LATE) is None
    report = rules.report_published("e", "甲小区", "2026-10")
    assert {"owner", "tenant", "company_manager"} <= report.roles
    for kind in rules.SECURITY_KINDS:
        assert kind in rules.KINDS
