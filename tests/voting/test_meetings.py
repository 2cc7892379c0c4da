"""Monthly meetings through the gateway: scheduled by the committee or the company manager, the
company's work report posted, the minutes published once the meeting has begun (the platform
clock moves), and the points raised turned into suggestions that follow the voice module's
timeline. Who may do what, bad inputs and idempotent retries. The pure rules without I/O."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.identity.world import World, build, ok, signin
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock
from xinyi_kit.errors import InvalidArgument
from xinyi_voting import meetings


# -- pure rules --------------------------------------------------------------------------------
def test_agenda_points_and_titles() -> None:
    assert meetings.check_agenda([" 物业工作报告 ", "财务收支公示"]) == [
        "物业工作报告",
        "财务收支公示",
    ]
    with pytest.raises(InvalidArgument, match="1 to 30 items"):
        meetings.check_agenda([])
    with pytest.raises(InvalidArgument, match="agenda item 2 is required"):
        meetings.check_agenda(["报告", "  "])
    assert meetings.check_points([]) == []
    with pytest.raises(InvalidArgument, match="at most 50 points"):
        meetings.check_points(["x"] * 51)
    assert meetings.suggestion_title("增设充电桩\n地下车库B区") == "增设充电桩"
    long = meetings.suggestion_title("长" * 300)
    assert len(long) == 200 and long.endswith("…")
    with pytest.raises(InvalidArgument, match="starts_at is required"):
        meetings.check_starts_at(None, datetime.now(UTC))


# -- through the gateway -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    return build(platform.gateway_url, operator_token)


@pytest.fixture
def people(world: World) -> Iterator[dict[str, httpx.Client]]:
    """Everyone signed in afresh (a module's tokens would expire on a slow machine)."""
    clients = {r: world.as_token(signin(world.base, world.usernames[r])) for r in world.usernames}
    clients["owner_b"] = world.as_token(world.owner_b_token)
    yield clients
    for client in clients.values():
        client.close()


def base(world: World) -> str:
    return f"/api/v1/estates/{world.estate_a}/meetings"


def meeting_body(starts_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "title": f"6月物业联席会 {uuid.uuid4().hex[:6]}",
        "starts_at": starts_at.isoformat(),
        "place": "小区活动室",
        "agenda": ["物业服务企业工作报告", "共有基金收支情况", "业主提问"],
        **extra,
    }


def problem_of(reply: httpx.Response, status: int) -> str:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    return str(reply.json()["detail"])


def test_a_meeting_from_its_schedule_to_minutes_whose_points_become_suggestions(
    world: World, platform: Platform, people: dict[str, httpx.Client]
) -> None:
    chair, manager, owner = people["committee_chair"], people["company_manager"], people["owner"]
    starts = datetime.now(UTC) + timedelta(hours=2)
    meeting = ok(chair.post(base(world), json=meeting_body(starts)))
    assert meeting["state"] == "scheduled" and meeting["scheduled_by_role"] == "committee_chair"
    assert meeting["agenda"][0] == "物业服务企业工作报告" and meeting["report"] is None
    one = f"{base(world)}/{meeting['meeting_id']}"
    # The company manager may schedule too; its own meeting is cancelled with a reason.
    by_company = ok(manager.post(base(world), json=meeting_body(starts + timedelta(days=30))))
    assert by_company["scheduled_by_role"] == "company_manager"
    cancelled = ok(
        chair.post(
            f"{base(world)}/{by_company['meeting_id']}/cancel", json={"reason": "与业主大会合并"}
        )
    )
    assert cancelled["state"] == "cancelled" and cancelled["cancelled_reason"] == "与业主大会合并"
    assert "cancelled" in problem_of(
        manager.put(f"{base(world)}/{by_company['meeting_id']}/report", json={"report": "x"}), 422
    )
    # Rescheduled while scheduled.
    moved = ok(
        manager.put(one, json=meeting_body(starts, title="6月联席会（改期）", place="物业服务中心"))
    )
    assert (moved["title"], moved["place"]) == ("6月联席会（改期）", "物业服务中心")

    # The company's work report, replaceable until the minutes are out.
    sha = "cd" * 32
    ok(manager.put(f"{one}/report", json={"report": "草稿"}))
    reported = ok(
        manager.put(
            f"{one}/report",
            json={"report": "本月完成电梯维保两次，更换路灯12盏", "attachment_sha256s": [sha]},
        )
    )
    assert reported["report"] == "本月完成电梯维保两次，更换路灯12盏"
    assert reported["report_attachment_sha256s"] == [sha]
    assert reported["report_posted_by_role"] == "company_manager" and reported["report_posted_at"]
    seen = ok(people["tenant"].get(one))
    assert seen["report"] == reported["report"]
    assert meeting["meeting_id"] in [m["meeting_id"] for m in ok(owner.get(base(world)))]
    minutes = {
        "minutes": "出席业主28人。",
        "points": ["增设电动车充电桩\n地下车库B区", "垃圾分类点异味"],
    }
    assert "once it has been held" in problem_of(chair.post(f"{one}/minutes", json=minutes), 422)

    clock = platform.data_dir / "clock-offset"
    move_clock(clock, 3 * 3600)
    try:
        chair2 = world.as_token(signin(world.base, world.usernames["committee_chair"]))
        owner2 = world.as_token(signin(world.base, world.usernames["owner"]))
        manager2 = world.as_token(signin(world.base, world.usernames["company_manager"]))
        with chair2, owner2, manager2:
            problem_of(manager2.post(f"{one}/minutes", json=minutes), 403)
            held = ok(chair2.post(f"{one}/minutes", json=minutes))
            assert held["state"] == "held" and held["minutes"] == "出席业主28人。"
            assert held["minutes_published_by_role"] == "committee_chair"
            assert [(p["point_id"], p["suggestion_id"]) for p in held["points"]] == [
                ("p1", None),
                ("p2", None),
            ]
            assert "scheduled" in problem_of(
                manager2.put(f"{one}/report", json={"report": "补充"}), 422
            )
            assert "scheduled" in problem_of(chair2.post(f"{one}/minutes", json=minutes), 422)
            assert "scheduled" in problem_of(
                chair2.post(f"{one}/cancel", json={"reason": "x"}), 422
            )

            # A point becomes a suggestion, submitted by the committee member who records it.
            problem_of(owner2.post(f"{one}/points/p1/suggestion"), 403)
            raised = chair2.post(f"{one}/points/p1/suggestion")
            assert raised.status_code == 201, raised.text
            item = raised.json()["suggestion"]
            assert (item["kind"], item["state"], item["title"]) == (
                "suggestion",
                "submitted",
                "增设电动车充电桩",
            )
            assert item["submitted_by_role"] == "committee_chair" and item["submitted_by_me"]
            assert meeting["meeting_id"] in item["body"] and "point p1" in item["body"]
            assert raised.json()["meeting"]["points"][0]["suggestion_id"] == item["suggestion_id"]
            assert raised.headers["location"].endswith(item["suggestion_id"])
            assert "already" in problem_of(chair2.post(f"{one}/points/p1/suggestion"), 422)
            assert "no point" in problem_of(chair2.post(f"{one}/points/p9/suggestion"), 404)
            # With a key, a retry answers as the first time; a title of one's own.
            key = {"Idempotency-Key": uuid.uuid4().hex}
            body = {"title": "垃圾分类点除臭"}
            first = ok(chair2.post(f"{one}/points/p2/suggestion", json=body, headers=key))
            again = ok(chair2.post(f"{one}/points/p2/suggestion", json=body, headers=key))
            assert first == again and first["suggestion"]["title"] == "垃圾分类点除臭"

            # The estate follows them as any suggestion, and the company handles them.
            listed = ok(owner2.get(f"/api/v1/estates/{world.estate_a}/suggestions"))
            ids = [s["suggestion_id"] for s in listed]
            assert item["suggestion_id"] in ids
            assert first["suggestion"]["suggestion_id"] in ids
            answered = ok(
                manager2.post(
                    f"/api/v1/estates/{world.estate_a}/suggestions/{item['suggestion_id']}/answer",
                    json={"text": "已列入下月计划"},
                )
            )
            assert [s["state"] for s in answered["timeline"]] == ["submitted", "answered"]
            final = ok(owner2.get(one))
            assert [p["suggestion_id"] for p in final["points"]] == [
                item["suggestion_id"],
                first["suggestion"]["suggestion_id"],
            ]
    finally:
        move_clock(clock, 0)


def test_who_may_do_what_and_bad_inputs(
    world: World, platform: Platform, people: dict[str, httpx.Client]
) -> None:
    chair, manager = people["committee_chair"], people["company_manager"]
    starts = datetime.now(UTC) + timedelta(days=7)
    meeting = ok(chair.post(base(world), json=meeting_body(starts)))
    one = f"{base(world)}/{meeting['meeting_id']}"
    for role in ("owner", "tenant", "estate_supervisor", "company_staff", "company_accountant"):
        problem_of(people[role].post(base(world), json=meeting_body(starts)), 403)
        problem_of(people[role].post(f"{one}/cancel", json={"reason": "x"}), 403)
    # Only the company's manager posts the work report; only the approving body the minutes.
    for role in ("committee_chair", "company_staff", "owner"):
        problem_of(people[role].put(f"{one}/report", json={"report": "x"}), 403)
    for role in ("tenant", "community_supervisor", "company_staff", "committee_member"):
        assert ok(people[role].get(one))["meeting_id"] == meeting["meeting_id"]
    problem_of(people["owner_b"].get(one), 404)
    problem_of(people["owner_b"].get(base(world)), 404)
    with world.as_token(signin(world.base, "operator", platform.operator_password)) as op:
        problem_of(op.get(one), 403)
    problem_of(httpx.get(f"{world.base}{one}", timeout=10), 401)

    url = base(world)
    past = datetime.now(UTC) - timedelta(hours=1)
    assert "future" in problem_of(chair.post(url, json=meeting_body(past)), 400)
    assert "366 days" in problem_of(
        chair.post(url, json=meeting_body(starts + timedelta(days=400))), 400
    )
    problem_of(chair.post(url, json=meeting_body(starts, agenda=[])), 422)
    problem_of(chair.post(url, json={**meeting_body(starts), "starts_at": "2031-06-01T19:00"}), 422)
    assert "place is required" in problem_of(
        chair.post(url, json=meeting_body(starts, place=" ")), 400
    )
    assert "agenda must not contain the NUL character" in problem_of(
        chair.post(url, json=meeting_body(starts, agenda=["a\x00b"])), 400
    )
    assert "control characters" in problem_of(
        chair.post(url, json=meeting_body(starts, agenda=["a\x07b"])), 400
    )
    assert "out of range" in problem_of(
        chair.post(url, json={**meeting_body(starts), "starts_at": "9999-12-31T23:59:00-14:00"}),
        400,
    )
    problem_of(chair.get(url, params={"state": "lost"}), 422)
    problem_of(chair.get(f"{url}/not-a-uuid"), 422)
    assert "no such meeting" in problem_of(chair.get(f"{url}/{uuid.uuid4()}"), 404)
    problem_of(manager.put(f"{one}/report", json={"report": "x", "attachment_sha256s": ["x"]}), 422)
    assert "required" in problem_of(manager.put(f"{one}/report", json={"report": "  "}), 400)
    problem_of(chair.post(f"{one}/points/one/suggestion"), 422)
    assert "minutes are published" in problem_of(chair.post(f"{one}/points/p1/suggestion"), 422)
    assert "reason is required" in problem_of(chair.post(f"{one}/cancel", json={"reason": ""}), 400)

    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = meeting_body(starts)
    first = chair.post(url, json=body, headers=key)
    again = chair.post(url, json=body, headers=key)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert "different request" in problem_of(
        chair.post(url, json={**body, "place": "别处"}, headers=key), 409
    )
    listed = ok(chair.get(url, params={"state": "scheduled"}))
    assert len([m for m in listed if m["title"] == body["title"]]) == 1
    assert all(m["state"] == "scheduled" for m in listed)
