"""Owners' voice through the gateway: suggestions, complaints and inquiries from submission to
confirmation or reopening, overdue rectifications by the platform clock, who may do what, photos
and their limits, idempotent retries, suggestion_updated on JetStream, and satisfaction surveys.
The pure rules (transitions, due dates, photo checks, survey tallies) are tested without I/O."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import httpx
import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout

from tests.identity.world import World, build, ok, signin
from tests.poll import eventually
from xinyi.common.v1 import common_pb2
from xinyi.voting.v1 import events_pb2, voice_pb2
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock
from xinyi_kit.errors import FailedPrecondition, InvalidArgument
from xinyi_voting import voice

SHANGHAI = ZoneInfo("Asia/Shanghai")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def webp(tag: bytes) -> bytes:
    return b"RIFF\x10\x00\x00\x00WEBPVP8 " + tag


def today() -> date:
    return datetime.now(SHANGHAI).date()


# -- pure rules --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "target", "allowed"),
    [
        ("submitted", "answered", True),
        ("reopened", "answered", True),
        ("answered", "answered", False),
        ("submitted", "committed", True),
        ("answered", "committed", True),
        ("committed", "committed", False),
        ("committed", "rectified", True),
        ("answered", "rectified", False),
        ("rectified", "confirmed", True),
        ("answered", "confirmed", True),
        ("committed", "confirmed", False),
        ("confirmed", "reopened", False),
        ("rectified", "reopened", True),
        ("submitted", "reopened", False),
    ],
)
def test_transitions(state: str, target: str, allowed: bool) -> None:
    if allowed:
        voice.check_transition("complaint", state, target)
    else:
        with pytest.raises(FailedPrecondition, match=f"this complaint is {state}"):
            voice.check_transition("complaint", state, target)


def test_a_due_date_ends_at_midnight_in_shanghai() -> None:
    day, end = voice.parse_due_on(voice.today().isoformat())
    assert day == voice.today()
    assert end == datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI)
    for bad in ("2024-02-30", "tomorrow", "", (voice.today() - timedelta(days=1)).isoformat()):
        with pytest.raises(InvalidArgument):
            voice.parse_due_on(bad)
    with pytest.raises(InvalidArgument, match="at most 366 days"):
        voice.parse_due_on((voice.today() + timedelta(days=367)).isoformat())


def test_photos_are_checked_by_their_bytes() -> None:
    assert voice.check_photo(JPEG, "image/jpeg") == hashlib.sha256(JPEG).hexdigest()
    assert voice.check_photo(webp(b"x"), "image/webp")
    with pytest.raises(InvalidArgument, match="declared PNG but its bytes say it is a JPEG"):
        voice.check_photo(JPEG, "image/png")
    with pytest.raises(InvalidArgument, match="none of the accepted image types"):
        voice.check_photo(b"%PDF-1.7", "image/jpeg")
    with pytest.raises(InvalidArgument, match="not application/pdf"):
        voice.check_photo(b"%PDF-1.7", "application/pdf")
    with pytest.raises(InvalidArgument, match="5 MiB"):
        voice.check_photo(JPEG + bytes(voice.MAX_PHOTO_BYTES), "image/jpeg")
    with pytest.raises(InvalidArgument, match="empty"):
        voice.check_photo(b"", "image/jpeg")


def test_subject_refs_name_an_entry_or_disbursement_and_only_for_inquiries() -> None:
    entry = str(uuid.uuid4())
    assert voice.check_subject_ref("inquiry", f" entry:{entry.upper()} ") == f"entry:{entry}"
    assert voice.check_subject_ref("inquiry", f"disbursement:{entry}")
    assert voice.check_subject_ref("complaint", "") == ""
    for bad in ("", "budget:" + entry, "entry:42", f"entry:{entry}x"):
        with pytest.raises(InvalidArgument, match="entry:<uuid> or disbursement:<uuid>"):
            voice.check_subject_ref("inquiry", bad)
    with pytest.raises(InvalidArgument, match="only inquiries"):
        voice.check_subject_ref("suggestion", f"entry:{entry}")


def test_text_is_plain_and_bounded() -> None:
    assert voice.clean_text("  电梯 \n 坏了 ", "body", 10) == "电梯 \n 坏了"
    with pytest.raises(InvalidArgument, match="title is required"):
        voice.clean_text("   ", "title", 10)
    with pytest.raises(InvalidArgument, match="at most 3 characters"):
        voice.clean_text("abcd", "title", 3)
    with pytest.raises(InvalidArgument, match="control characters"):
        voice.clean_text("a\x00b", "body", 10)


def test_survey_tally_counts_every_answer_and_means_exactly() -> None:
    questions = voice.check_questions(
        [
            voice_pb2.SurveyQuestion(text="总体满意度", kind="scale"),
            voice_pb2.SurveyQuestion(text="最需改进", kind="choice", options=["保洁", "安保"]),
        ]
    )
    assert [q["question_id"] for q in questions] == ["q1", "q2"]
    answers = [{"q1": 5, "q2": 0}, {"q1": 4, "q2": 1}, {"q1": 4, "q2": 1}]
    scale, choice = voice.tally_survey(questions, answers)
    assert list(scale.scale.counts) == [0, 0, 0, 2, 1] and scale.respondents == 3
    assert scale.scale.mean == "13/3" and scale.scale.mean_text == "4.33"
    assert list(choice.choice.counts) == [1, 2]
    assert voice.mean_text(Fraction(9, 8)) == "1.13"  # 1.125 rounds half up
    assert voice.tally_survey(questions, [])[0].scale.mean_text == "0.00"


def test_one_scale_question_measures_satisfaction() -> None:
    def q(kind: str, satisfaction: bool = False) -> voice_pb2.SurveyQuestion:
        options = ["甲", "乙"] if kind == "choice" else []
        return voice_pb2.SurveyQuestion(
            text="x", kind=kind, options=options, satisfaction=satisfaction
        )

    # Unmarked: the first scale question; marked: that one alone.
    marked = [
        x["satisfaction"] for x in voice.check_questions([q("choice"), q("scale"), q("scale")])
    ]
    assert marked == [False, True, False]
    chosen = voice.check_questions([q("scale"), q("scale", True)])
    assert [x["satisfaction"] for x in chosen] == [False, True]
    assert [x["satisfaction"] for x in voice.check_questions([q("choice")])] == [False]
    with pytest.raises(InvalidArgument, match="at most one"):
        voice.check_questions([q("scale", True), q("scale", True)])
    with pytest.raises(InvalidArgument, match="1-5 scale"):
        voice.check_questions([q("choice", True)])
    # A survey stored before questions were marked: its first scale question.
    legacy = [{k: v for k, v in x.items() if k != "satisfaction"} for x in chosen]
    assert voice.satisfaction_question(legacy) == legacy[0]

    row = voice.SurveyRow(
        estate_id=uuid.uuid4(), survey_id=uuid.uuid4(), title="满意度", questions=chosen
    )
    at = datetime(2025, 6, 30, 16, 0, tzinfo=UTC)
    answers = [{"q1": 5, "q2": v} for v in (5, 4, 4, 3, 1, 2, 5)]
    event = voice.survey_closed_event(row, at, answers)
    assert (event.question_id, list(event.counts), event.respondents) == (
        "q2",
        [1, 1, 1, 2, 2],
        7,
    )
    # 4 of 7 satisfied: 571.43 per mille, rounded half up.
    assert (event.satisfied, event.satisfaction_permille) == (4, 571)
    assert event.closed_at.ToDatetime(tzinfo=UTC) == at
    assert voice.survey_closed_event(row, at, []).satisfaction_permille == -1
    assert voice.satisfaction_permille(1, 8) == 125 and voice.satisfaction_permille(1, 2000) == 1


def test_survey_answers_cover_every_question_once() -> None:
    questions = voice.check_questions(
        [
            voice_pb2.SurveyQuestion(text="满意度", kind="scale"),
            voice_pb2.SurveyQuestion(text="选一个", kind="choice", options=["甲", "乙", "丙"]),
        ]
    )

    def answers(*pairs: tuple[str, int]) -> list[voice_pb2.SurveyAnswer]:
        return [voice_pb2.SurveyAnswer(question_id=q, value=v) for q, v in pairs]

    assert voice.check_answers(questions, answers(("q1", 5), ("q2", 2))) == {"q1": 5, "q2": 2}
    for bad, message in [
        (answers(("q1", 5)), "missing: q2"),
        (answers(("q1", 0), ("q2", 0)), "scale of 1 to 5"),
        (answers(("q1", 3), ("q2", 3)), "index from 0 to 2"),
        (answers(("q1", 3), ("q1", 3), ("q2", 0)), "answered twice"),
        (answers(("q9", 3)), "no question"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            voice.check_answers(questions, bad)
    for bad_q, message in [
        (voice_pb2.SurveyQuestion(text="x", kind="choice", options=["一"]), "2 to 10 options"),
        (voice_pb2.SurveyQuestion(text="x", kind="choice", options=["一", "一"]), "twice"),
        (voice_pb2.SurveyQuestion(text="x", kind="scale", options=["一"]), "no options"),
        (voice_pb2.SurveyQuestion(text="x", kind="stars"), "scale or choice"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            voice.check_questions([bad_q])


# -- through the gateway -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    return build(platform.gateway_url, operator_token)


@pytest.fixture
def as_role(world: World) -> Iterator[dict[str, httpx.Client]]:
    clients: dict[str, httpx.Client] = {}
    for role in world.tokens:
        clients[role] = world.client(role)
    clients["operator"] = world.client("operator")
    clients["owner_b"] = world.as_token(world.owner_b_token)
    clients["other_company"] = world.as_token(world.other_company_token)
    yield clients
    for client in clients.values():
        client.close()


def base(world: World) -> str:
    return f"/api/v1/estates/{world.estate_a}"


def submit(
    client: httpx.Client, world: World, *, kind: str = "complaint", title: str = "", **extra: str
) -> dict:  # type: ignore[type-arg]
    body = {
        "kind": kind,
        "title": title or f"3栋电梯异响 {uuid.uuid4().hex[:6]}",
        "body": "晚上有异响",
    }
    reply = client.post(f"{base(world)}/suggestions", json={**body, **extra})
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def step(client: httpx.Client, world: World, item: dict, name: str, **body: str) -> httpx.Response:  # type: ignore[type-arg]
    return client.post(f"{base(world)}/suggestions/{item['suggestion_id']}/{name}", json=body)


def problem_of(reply: httpx.Response, status: int) -> str:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    return str(reply.json()["detail"])


def test_the_whole_lifecycle_is_a_public_timeline(
    world: World, as_role: dict[str, httpx.Client]
) -> None:
    owner, manager, staff = as_role["owner"], as_role["company_manager"], as_role["company_staff"]
    item = submit(owner, world, kind="suggestion", title="增加儿童游乐设施")
    assert item["state"] == "submitted" and item["submitted_by_me"]
    assert item["submitted_by_role"] == "owner" and item["subject_ref"] is None
    sid = item["suggestion_id"]

    answered = ok(step(manager, world, item, "answer", text="已列入下季度计划"))
    assert answered["state"] == "answered" and not answered["submitted_by_me"]
    due = (today() + timedelta(days=30)).isoformat()
    committed = ok(step(manager, world, item, "commitment", text="安装滑梯一座", due_on=due))
    assert committed["state"] == "committed" and committed["due_on"] == due
    assert committed["overdue"] is False and committed["due_at"]
    rectified = ok(step(staff, world, item, "rectification", text="滑梯已安装"))
    assert rectified["state"] == "rectified" and rectified["due_on"] == due
    confirmed = ok(step(owner, world, item, "confirmation", text="谢谢"))
    assert confirmed["state"] == "confirmed"

    # Everyone in the estate reads the same timeline, each step timed, with its role and text.
    for role in ("tenant", "committee_member", "estate_supervisor", "community_supervisor"):
        seen = ok(as_role[role].get(f"{base(world)}/suggestions/{sid}"))
        assert [s["state"] for s in seen["timeline"]] == [
            "submitted",
            "answered",
            "committed",
            "rectified",
            "confirmed",
        ]
        assert [s["by_role"] for s in seen["timeline"]] == [
            "owner",
            "company_manager",
            "company_manager",
            "company_staff",
            "owner",
        ]
        assert [s["text"] for s in seen["timeline"]] == [
            "晚上有异响",
            "已列入下季度计划",
            "安装滑梯一座",
            "滑梯已安装",
            "谢谢",
        ]
        assert seen["timeline"][2]["due_on"] == due
        times = [s["at"] for s in seen["timeline"]]
        assert all(times) and times == sorted(times)
    # An owner's name is personal data: other residents see the role, not the person; the
    # company's people act in their duties and are named.
    tenant_view = ok(as_role["tenant"].get(f"{base(world)}/suggestions/{sid}"))["timeline"]
    assert tenant_view[0]["by_user_id"] is None and tenant_view[0]["by_name"] is None
    assert tenant_view[1]["by_user_id"] == world.users["company_manager"]
    committee_view = ok(as_role["committee_member"].get(f"{base(world)}/suggestions/{sid}"))
    assert committee_view["timeline"][0]["by_user_id"] == world.users["owner"]
    own_view = ok(owner.get(f"{base(world)}/suggestions/{sid}"))["timeline"]
    assert own_view[0]["by_me"] and own_view[0]["by_user_id"] == world.users["owner"]

    # A confirmed item is final.
    detail = problem_of(step(owner, world, item, "reopening", text="又坏了"), 422)
    assert "confirmed" in detail
    assert "is confirmed" in problem_of(step(manager, world, item, "answer", text="再答"), 422)

    listed = ok(as_role["tenant"].get(f"{base(world)}/suggestions", params={"state": "confirmed"}))
    assert sid in [s["suggestion_id"] for s in listed]
    assert all(s["state"] == "confirmed" for s in listed)
    assert "timeline" not in listed[0]
    kinds = ok(owner.get(f"{base(world)}/suggestions", params={"kind": "inquiry"}))
    assert sid not in [s["suggestion_id"] for s in kinds]


def test_the_submitter_reopens_and_it_goes_back_to_the_company(
    world: World, as_role: dict[str, httpx.Client]
) -> None:
    tenant, manager = as_role["tenant"], as_role["company_manager"]
    item = submit(tenant, world, title="垃圾清运不及时")
    assert item["submitted_by_role"] == "tenant"
    ok(step(manager, world, item, "answer", text="已提醒保洁"))
    # Reopening needs a reason.
    assert "required" in problem_of(step(tenant, world, item, "reopening", text="  "), 400)
    reopened = ok(step(tenant, world, item, "reopening", text="仍然堆积"))
    assert reopened["state"] == "reopened"
    # Back with the company: it may answer again or commit; the submitter may not confirm yet.
    assert "reopened" in problem_of(step(tenant, world, item, "confirmation"), 422)
    due = today().isoformat()
    ok(step(manager, world, item, "commitment", text="每日两次清运", due_on=due))
    ok(step(manager, world, item, "rectification", text="已改为每日两次"))
    again = ok(step(tenant, world, item, "reopening", text="周末没有清运"))
    assert again["state"] == "reopened"
    ok(step(manager, world, item, "answer", text="周末增派人手"))
    final = ok(step(tenant, world, item, "confirmation"))
    assert [s["state"] for s in final["timeline"]] == [
        "submitted",
        "answered",
        "reopened",
        "committed",
        "rectified",
        "reopened",
        "answered",
        "confirmed",
    ]
    assert final["timeline"][-1]["text"] == ""


def test_a_committed_item_past_its_due_date_is_overdue(
    world: World, platform: Platform, as_role: dict[str, httpx.Client]
) -> None:
    owner, manager = as_role["owner"], as_role["company_manager"]
    late = submit(owner, world, title="路灯不亮")
    on_time = submit(owner, world, title="绿化带缺苗")
    due = today().isoformat()
    ok(step(manager, world, late, "commitment", text="更换灯泡", due_on=due))
    ok(step(manager, world, on_time, "commitment", text="补种", due_on=due))
    ok(step(manager, world, on_time, "rectification", text="已补种"))
    assert ok(owner.get(f"{base(world)}/suggestions/{late['suggestion_id']}"))["overdue"] is False
    survey = ok(
        as_role["committee_chair"].post(
            f"{base(world)}/surveys",
            json={
                "title": "季度满意度",
                "questions": [{"text": "总体", "kind": "scale"}],
                "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            },
        )
    )
    clock = platform.data_dir / "clock-offset"
    move_clock(clock, 2 * 24 * 3600)
    try:
        # Access tokens are checked against the moved clock too: sign in again.
        with (
            world.as_token(signin(world.base, world.usernames["owner"])) as owner2,
            world.as_token(signin(world.base, world.usernames["company_manager"])) as manager2,
        ):
            read = ok(owner2.get(f"{base(world)}/suggestions/{late['suggestion_id']}"))
            assert read["overdue"] is True and read["state"] == "committed"
            rectified = ok(owner2.get(f"{base(world)}/suggestions/{on_time['suggestion_id']}"))
            assert rectified["overdue"] is False
            flagged = ok(owner2.get(f"{base(world)}/suggestions", params={"overdue": "true"}))
            ids = [s["suggestion_id"] for s in flagged]
            assert late["suggestion_id"] in ids and on_time["suggestion_id"] not in ids
            assert all(s["overdue"] for s in flagged)
            # Reported done late: no longer overdue, and the timeline shows when.
            done = ok(step(manager2, world, late, "rectification", text="已更换"))
            assert done["overdue"] is False
            # A survey past its closing time is closed, with its results.
            closed = ok(owner2.get(f"{base(world)}/surveys/{survey['survey_id']}"))
            assert closed["state"] == "closed" and closed["results"] is not None
            refused = owner2.put(
                f"{base(world)}/surveys/{survey['survey_id']}/answer",
                json={"answers": [{"question_id": "q1", "value": 5}]},
            )
            assert "closed" in problem_of(refused, 422)
    finally:
        move_clock(clock, 0)


def test_who_may_do_what(world: World, as_role: dict[str, httpx.Client]) -> None:
    owner, manager = as_role["owner"], as_role["company_manager"]
    item = submit(owner, world)
    path = f"{base(world)}/suggestions/{item['suggestion_id']}"
    # Residents do not answer for the company; the company does not confirm for residents.
    assert "suggestion.handle" in problem_of(step(owner, world, item, "answer", text="x"), 403)
    ok(step(manager, world, item, "answer", text="已处理"))
    assert "submitted" in problem_of(step(manager, world, item, "confirmation"), 403)
    # Only the submitter confirms or reopens, even another resident of the estate.
    for role in ("tenant", "committee_chair", "estate_supervisor"):
        problem_of(step(as_role[role], world, item, "confirmation"), 403)
        problem_of(step(as_role[role], world, item, "reopening", text="不满意"), 403)
    # The company does not submit; only supervisors open inquiries.
    for role in ("company_manager", "company_staff"):
        reply = as_role[role].post(
            f"{base(world)}/suggestions", json={"kind": "suggestion", "title": "t", "body": "b"}
        )
        problem_of(reply, 403)
    inquiry = {"kind": "inquiry", "title": "t", "body": "b", "subject_ref": f"entry:{uuid.uuid4()}"}
    for role in ("owner", "tenant", "committee_member"):
        problem_of(as_role[role].post(f"{base(world)}/suggestions", json=inquiry), 403)
    # Another estate's people, and another company, learn nothing: 404.
    for client in (as_role["owner_b"], as_role["other_company"]):
        problem_of(client.get(path), 404)
        problem_of(client.get(f"{base(world)}/suggestions"), 404)
        problem_of(step(client, world, item, "answer", text="x"), 404)
    # The operator administers the platform; the estate's voice is its members'.
    problem_of(as_role["operator"].get(path), 403)
    # And nobody unsigned.
    problem_of(httpx.get(f"{world.base}{path}", timeout=10), 401)
    # The same item in another estate's path is not found.
    other = f"/api/v1/estates/{world.estate_b}/suggestions/{item['suggestion_id']}"
    problem_of(as_role["owner_b"].get(other), 404)


def test_supervisors_open_inquiries_on_ledger_entries_and_disbursements(
    world: World, as_role: dict[str, httpx.Client]
) -> None:
    entry = str(uuid.uuid4())
    for role, ref in (
        ("estate_supervisor", f"entry:{entry}"),
        ("community_supervisor", f"disbursement:{entry.upper()}"),
    ):
        item = submit(as_role[role], world, kind="inquiry", title="这笔支出的依据", subject_ref=ref)
        assert item["kind"] == "inquiry" and item["submitted_by_role"] == role
        assert item["subject_ref"] == ref.split(":")[0] + ":" + entry
        # The company answers; the supervisor confirms the answer is enough.
        ok(step(as_role["company_accountant"], world, item, "answer", text="见凭证与合同"))
        assert ok(step(as_role[role], world, item, "confirmation"))["state"] == "confirmed"
    sup = as_role["estate_supervisor"]
    for ref in ("", "budget:" + entry, "entry:123"):
        reply = sup.post(
            f"{base(world)}/suggestions",
            json={"kind": "inquiry", "title": "t", "body": "b", "subject_ref": ref},
        )
        assert "entry:<uuid> or disbursement:<uuid>" in problem_of(reply, 400)
    reply = sup.post(
        f"{base(world)}/suggestions",
        json={"kind": "complaint", "title": "t", "body": "b", "subject_ref": f"entry:{entry}"},
    )
    assert "only inquiries" in problem_of(reply, 400)


def test_bad_inputs_are_refused_with_a_reason(
    world: World, as_role: dict[str, httpx.Client]
) -> None:
    owner, manager = as_role["owner"], as_role["company_manager"]
    url = f"{base(world)}/suggestions"
    problem_of(owner.post(url, json={"kind": "praise", "title": "t", "body": "b"}), 422)
    problem_of(owner.post(url, json={"kind": "complaint", "title": "t"}), 422)
    problem_of(
        owner.post(url, content=b"{not json", headers={"content-type": "application/json"}), 422
    )
    assert "title is required" in problem_of(
        owner.post(url, json={"kind": "complaint", "title": "  ", "body": "b"}), 400
    )
    assert "control characters" in problem_of(
        owner.post(url, json={"kind": "complaint", "title": "a\u0007b", "body": "b"}), 400
    )
    problem_of(owner.post(url, json={"kind": "complaint", "title": "x" * 201, "body": "b"}), 422)
    lone = b'{"kind": "complaint", "title": "\\ud800", "body": "b"}'
    problem_of(owner.post(url, content=lone, headers={"content-type": "application/json"}), 422)
    problem_of(owner.get(url, params={"state": "lost"}), 422)
    problem_of(owner.get(f"{url}/not-a-uuid"), 422)
    assert "no such" in problem_of(owner.get(f"{url}/{uuid.uuid4()}"), 404)
    problem_of(manager.post(f"{url}/{uuid.uuid4()}/answer", json={"text": "x"}), 404)

    item = submit(owner, world)
    problem_of(step(manager, world, item, "answer"), 422)
    problem_of(step(manager, world, item, "commitment", text="x", due_on="next week"), 422)
    assert "YYYY-MM-DD" in problem_of(
        step(manager, world, item, "commitment", text="x", due_on="2031-02-30"), 400
    )
    yesterday = (today() - timedelta(days=1)).isoformat()
    assert "has passed" in problem_of(
        step(manager, world, item, "commitment", text="x", due_on=yesterday), 400
    )
    assert "can be reported rectified only when it is committed" in problem_of(
        step(manager, world, item, "rectification", text="x"), 422
    )
    # Nothing refused left a step behind.
    assert len(ok(owner.get(f"{url}/{item['suggestion_id']}"))["timeline"]) == 1


def test_photos_are_limited_checked_and_content_addressed(
    world: World, as_role: dict[str, httpx.Client]
) -> None:
    owner, manager = as_role["owner"], as_role["company_manager"]
    item = submit(owner, world, title="墙面渗水")
    photos = f"{base(world)}/suggestions/{item['suggestion_id']}/photos"

    def put(client: httpx.Client, content: bytes, media_type: str) -> httpx.Response:
        return client.post(photos, content=content, headers={"content-type": media_type})

    first = JPEG + uuid.uuid4().bytes
    added = ok(put(owner, first, "image/jpeg"))
    sha = hashlib.sha256(first).hexdigest()
    assert added["photos"] == [
        {
            "sha256": sha,
            "media_type": "image/jpeg",
            "size": len(first),
            "added_at": added["photos"][0]["added_at"],
            "added_by_role": "owner",
        }
    ]
    # The same bytes again change nothing.
    assert len(ok(put(owner, first, "image/jpeg"))["photos"]) == 1
    # Everyone in the estate sees it, as it was sent.
    got = as_role["tenant"].get(f"{photos}/{sha}")
    assert got.status_code == 200 and got.content == first
    assert got.headers["content-type"] == "image/jpeg" and got.headers["etag"] == f'"{sha}"'
    assert (
        as_role["tenant"].get(f"{photos}/{sha}", headers={"if-none-match": f'"{sha}"'}).status_code
        == 304
    )
    problem_of(as_role["owner_b"].get(f"{photos}/{sha}"), 404)
    problem_of(owner.get(f"{photos}/{'0' * 64}"), 404)
    problem_of(owner.get(f"{photos}/XYZ"), 422)

    assert "Content-Type" in problem_of(put(owner, b"%PDF-1.7", "application/pdf"), 415)
    problem_of(put(owner, first, ""), 415)
    assert "declared PNG but its bytes say it is a JPEG" in problem_of(
        put(owner, JPEG + b"x", "image/png"), 400
    )
    assert "none of the accepted image types" in problem_of(
        put(owner, b"GIF89a..", "image/webp"), 400
    )
    assert "empty" in problem_of(put(owner, b"", "image/jpeg"), 400)
    assert "5242880" in problem_of(put(owner, JPEG + bytes(5 * 1024 * 1024), "image/jpeg"), 413)
    # Residents other than the submitter do not add photos; the company may, as evidence.
    problem_of(put(as_role["tenant"], PNG + b"t", "image/png"), 403)
    by_company = ok(put(manager, webp(uuid.uuid4().bytes), "image/webp"))
    assert by_company["photos"][-1]["added_by_role"] == "company_manager"
    for _ in range(4):
        ok(put(owner, PNG + uuid.uuid4().bytes, "image/png"))
    assert "6 photos" in problem_of(put(owner, PNG + uuid.uuid4().bytes, "image/png"), 422)
    # Photos are kept once per estate: another item may show the same bytes.
    other = submit(owner, world)
    reused = f"{base(world)}/suggestions/{other['suggestion_id']}/photos"
    assert (
        ok(owner.post(reused, content=first, headers={"content-type": "image/jpeg"}))["photos"][0][
            "sha256"
        ]
        == sha
    )


def test_retries_with_the_same_key_return_the_first_result(
    world: World, as_role: dict[str, httpx.Client]
) -> None:
    owner, manager = as_role["owner"], as_role["company_manager"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"kind": "suggestion", "title": f"增设快递柜 {uuid.uuid4().hex[:6]}", "body": "b"}
    url = f"{base(world)}/suggestions"
    first = owner.post(url, json=body, headers=key)
    again = owner.post(url, json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    mine = [s for s in ok(owner.get(url)) if s["title"] == body["title"]]
    assert len(mine) == 1
    assert "different request" in problem_of(
        owner.post(url, json={**body, "body": "other"}, headers=key), 409
    )
    # Another person's key is theirs alone.
    tenant = as_role["tenant"].post(url, json=body, headers=key)
    assert (
        tenant.status_code == 201
        and tenant.json()["suggestion_id"] != first.json()["suggestion_id"]
    )
    # A step retried with its key answers as the first time instead of refusing the repeat.
    item = first.json()
    step_key = {"Idempotency-Key": uuid.uuid4().hex}
    answer = f"{url}/{item['suggestion_id']}/answer"
    one = manager.post(answer, json={"text": "好的"}, headers=step_key)
    two = manager.post(answer, json={"text": "好的"}, headers=step_key)
    assert one.status_code == two.status_code == 200 and one.json() == two.json()
    assert len(two.json()["timeline"]) == 2
    problem_of(manager.post(answer, json={"text": "好的"}), 422)
    problem_of(owner.post(url, json=body, headers={"Idempotency-Key": "k" * 201}), 422)


def test_every_state_change_emits_suggestion_updated(
    world: World, platform: Platform, as_role: dict[str, httpx.Client]
) -> None:
    owner, manager = as_role["owner"], as_role["company_manager"]
    item = submit(owner, world)
    due = (today() + timedelta(days=3)).isoformat()
    ok(step(manager, world, item, "commitment", text="修", due_on=due))
    ok(step(manager, world, item, "rectification", text="修好了"))
    ok(step(owner, world, item, "reopening", text="没修好"))
    # A refused step and a photo emit nothing.
    problem_of(step(owner, world, item, "confirmation"), 422)
    ok(
        owner.post(
            f"{base(world)}/suggestions/{item['suggestion_id']}/photos",
            content=JPEG + uuid.uuid4().bytes,
            headers={"content-type": "image/jpeg"},
        )
    )
    subject = f"xinyi.voting.v1.{world.estate_a}.suggestion_updated"

    async def fetch() -> list[tuple[common_pb2.EventEnvelope, events_pb2.SuggestionUpdated]]:
        nc = await nats.connect(platform.nats_url)
        try:
            sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
            found = []
            while True:
                try:
                    msg = await sub.next_msg(timeout=1)
                except NatsTimeout:
                    return found
                envelope = common_pb2.EventEnvelope.FromString(msg.data)
                event = events_pb2.SuggestionUpdated()
                assert envelope.payload.Unpack(event)
                assert msg.headers and msg.headers["Nats-Msg-Id"] == envelope.event_id
                if event.suggestion_id == item["suggestion_id"]:
                    found.append((envelope, event))
        finally:
            await nc.close()

    def four() -> list[tuple[common_pb2.EventEnvelope, events_pb2.SuggestionUpdated]] | None:
        found = asyncio.run(fetch())
        return found if len(found) >= 4 else None

    events = eventually(four, what="four suggestion_updated events", timeout=30)
    assert [e.state for _, e in events] == ["submitted", "committed", "rectified", "reopened"]
    sequences = [env.sequence for env, _ in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == 4
    for envelope, event in events:
        assert envelope.emitter == "voting" and envelope.estate_id == world.estate_a
        assert event.estate_id == world.estate_a and event.kind == "complaint"
        assert event.submitter_user_id == world.users["owner"]
    due_end = datetime.fromisoformat(due).replace(tzinfo=SHANGHAI) + timedelta(days=1)
    assert events[1][1].due_at.ToDatetime(tzinfo=UTC) == due_end
    assert not events[0][1].HasField("due_at")


def test_surveys_one_answer_per_person_results_after_close(
    world: World, as_role: dict[str, httpx.Client]
) -> None:
    chair, owner, tenant = as_role["committee_chair"], as_role["owner"], as_role["tenant"]
    url = f"{base(world)}/surveys"
    closes = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    body = {
        "title": "2025年物业服务满意度",
        "description": "匿名统计，只公布汇总",
        "questions": [
            {"text": "总体满意度", "kind": "scale"},
            {"text": "最需改进的方面", "kind": "choice", "options": ["保洁", "安保", "绿化"]},
        ],
        "closes_at": closes,
    }
    key = {"Idempotency-Key": uuid.uuid4().hex}
    survey = ok(chair.post(url, json=body, headers=key))
    assert ok(chair.post(url, json=body, headers=key))["survey_id"] == survey["survey_id"]
    assert survey["state"] == "open" and survey["results"] is None
    assert survey["published_by_role"] == "committee_chair"
    assert [q["question_id"] for q in survey["questions"]] == ["q1", "q2"]
    one = f"{url}/{survey['survey_id']}"

    def answer(client: httpx.Client, scale: int, choice: int) -> httpx.Response:
        return client.put(
            f"{one}/answer",
            json={
                "answers": [
                    {"question_id": "q1", "value": scale},
                    {"question_id": "q2", "value": choice},
                ]
            },
        )

    assert ok(answer(owner, 2, 0))["answered_by_me"] is True
    assert ok(answer(owner, 5, 1))["respondents"] == 1  # replaced, not added
    seen = ok(tenant.get(one))
    assert seen["answered_by_me"] is False and seen["results"] is None
    ok(answer(tenant, 4, 1))
    # Only residents answer; only the approving body or the company manager publishes.
    for role in ("company_staff", "committee_member", "estate_supervisor"):
        problem_of(answer(as_role[role], 3, 0), 403)
    for role in ("owner", "company_staff", "estate_supervisor"):
        problem_of(as_role[role].post(url, json=body), 403)
    assert "missing: q2" in problem_of(
        owner.put(f"{one}/answer", json={"answers": [{"question_id": "q1", "value": 3}]}), 400
    )
    assert "scale of 1 to 5" in problem_of(answer(owner, 6, 0), 400)
    assert "index from 0 to 2" in problem_of(answer(owner, 3, 3), 400)
    problem_of(owner.put(f"{one}/answer", json={"answers": []}), 422)
    problem_of(chair.post(url, json={**body, "closes_at": "2020-01-01T00:00:00"}), 422)
    assert "future" in problem_of(
        chair.post(url, json={**body, "closes_at": "2020-01-01T00:00:00+08:00"}), 400
    )
    assert "2 to 10 options" in problem_of(
        chair.post(
            url,
            json={**body, "questions": [{"text": "x", "kind": "choice", "options": ["a"]}]},
        ),
        400,
    )
    problem_of(as_role["owner_b"].get(one), 404)
    listed = ok(tenant.get(url))
    assert survey["survey_id"] in [s["survey_id"] for s in listed]

    problem_of(owner.post(f"{one}/close"), 403)
    closed = ok(as_role["company_manager"].post(f"{one}/close"))
    assert closed["state"] == "closed" and closed["closed_at"]
    assert ok(chair.post(f"{one}/close"))["closed_at"] == closed["closed_at"]
    results = {r["question_id"]: r for r in ok(tenant.get(one))["results"]}
    assert results["q1"] == {
        "question_id": "q1",
        "respondents": 2,
        "counts": [0, 0, 0, 1, 1],
        "mean": "9/2",
        "mean_text": "4.50",
    }
    assert results["q2"]["counts"] == [0, 2, 0] and results["q2"]["mean"] is None
    assert "closed" in problem_of(answer(tenant, 1, 0), 422)
