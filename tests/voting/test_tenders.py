"""Tenders through the gateway: the committee publishes one, two companies bid (one serving the
estate, one from elsewhere in the city, reaching it through the city-wide routes), the bids stay
sealed until the tender closes and are revealed to the estate after; a ballot is drafted from the
closed tender, and its final decision marks the tender decided with the chosen bid. Who may do
what, bad inputs, idempotent retries and tender_updated on JetStream. The pure rules (money,
rates, staffing, states) are tested without I/O."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout

from tests.identity.world import PASSWORD, World, build, credit_code, ok, random_phone, signin
from tests.poll import eventually
from tests.voting.test_ballots import CSV, Assembly
from tests.voting.test_ballots import build as build_assembly
from xinyi.common.v1 import common_pb2
from xinyi.voting.v1 import events_pb2, tenders_pb2
from xinyi_dev.platform import Platform
from xinyi_kit.auth import Grant, Principal
from xinyi_kit.clock import move_clock
from xinyi_kit.errors import InvalidArgument
from xinyi_voting import tenders

DAY = 24 * 3600


# -- pure rules --------------------------------------------------------------------------------
def test_remuneration_is_a_ratio_or_a_monthly_sum() -> None:
    assert tenders.check_remuneration("1/10", 0) == ("1/10", None)
    assert tenders.check_remuneration(" 0.08 ", 0) == ("2/25", None)
    assert tenders.check_remuneration("", 1_500_000) == ("", 1_500_000)
    for ratio, fen, message in [
        ("1/10", 100, "not both"),
        ("", 0, "propose remuneration"),
        ("1", 0, "less than 1"),
        ("0", 0, "more than 0"),
        ("-1/10", 0, "more than 0"),
        ("a tenth", 0, "fraction like 1/10"),
        ("1/0", 0, "fraction like 1/10"),
        ("", -5, "more than 0"),
        ("", tenders.MAX_MONTHLY_FEN + 1, "at most"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            tenders.check_remuneration(ratio, fen)


def test_fee_rates_are_exact_and_one_per_unit_type() -> None:
    rates = tenders.check_fee_rates(
        [
            tenders_pb2.FeeRate(unit_type="parking", fen_per_m2_month="100"),
            tenders_pb2.FeeRate(unit_type="residential", fen_per_m2_month="212.5"),
        ]
    )
    # In the order of unit types, each rate as an exact number of fen.
    assert rates == [
        {"unit_type": "residential", "fen_per_m2_month": "425/2"},
        {"unit_type": "parking", "fen_per_m2_month": "100"},
    ]
    for bad, message in [
        ([], "at least one"),
        ([tenders_pb2.FeeRate(unit_type="villa", fen_per_m2_month="1")], "unit_type is one of"),
        ([tenders_pb2.FeeRate(unit_type="other", fen_per_m2_month="0")], "more than 0"),
        ([tenders_pb2.FeeRate(unit_type="other", fen_per_m2_month="2.5元")], "not a number"),
        ([tenders_pb2.FeeRate(unit_type="other", fen_per_m2_month="100001")], "at most"),
        (
            [
                tenders_pb2.FeeRate(unit_type="other", fen_per_m2_month="1"),
                tenders_pb2.FeeRate(unit_type="other", fen_per_m2_month="2"),
            ],
            "two rates",
        ),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            tenders.check_fee_rates(bad)


def test_staffing_and_attachments() -> None:
    lines = [
        tenders_pb2.StaffLine(role=" 保洁 ", count=4),
        tenders_pb2.StaffLine(role="秩序维护", count=6),
    ]
    assert tenders.check_staffing(lines, "") == [
        {"role": "保洁", "count": 4},
        {"role": "秩序维护", "count": 6},
    ]
    assert tenders.check_staffing([], "项目经理一名，保洁按面积配置") == []
    with pytest.raises(InvalidArgument, match="staffing or staffing_notes"):
        tenders.check_staffing([], "")
    with pytest.raises(InvalidArgument, match="twice"):
        tenders.check_staffing([*lines, tenders_pb2.StaffLine(role="保洁", count=1)], "")
    with pytest.raises(InvalidArgument, match="count is from 1"):
        tenders.check_staffing([tenders_pb2.StaffLine(role="保洁", count=0)], "")
    sha = "ab" * 32
    assert tenders.check_attachments([sha]) == [sha]
    for bad in (["AB" * 32], ["ab"], [sha, sha], ["cd" * 32] * 11):
        with pytest.raises(InvalidArgument):
            tenders.check_attachments(bad)


def test_an_open_tender_reads_closed_from_its_closing_time_and_reveals_its_bids() -> None:
    closes = datetime(2030, 1, 1, tzinfo=UTC)
    row = tenders.TenderRow(state="open", closes_at=closes, closed_at=None, cancelled_at=None)
    before, after = closes - timedelta(seconds=1), closes
    assert tenders.tender_state(row, before) == "open" and not tenders.bids_revealed(row, before)
    assert tenders.tender_state(row, after) == "closed" and tenders.bids_revealed(row, after)
    assert tenders.closed_at(row, after) == closes and tenders.closed_at(row, before) is None
    # Cancelled while open: sealed for good. Cancelled after closing: already revealed.
    row.state, row.cancelled_at = "cancelled", before
    assert not tenders.bids_revealed(row, after + timedelta(days=30))
    row.cancelled_at = after + timedelta(hours=1)
    assert tenders.bids_revealed(row, after + timedelta(days=30))
    draft = tenders.TenderRow(state="draft", closes_at=closes, closed_at=None, cancelled_at=None)
    assert tenders.tender_state(draft, after) == "draft" and not tenders.bids_revealed(draft, after)


def test_only_company_scoped_managers_bid() -> None:
    def who(*grants: Grant) -> Principal:
        return Principal(user_id=str(uuid.uuid4()), username="u", grants=grants)

    k1, k2, e = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    assert tenders.bidder_companies(who(Grant("company_manager", company_id=k1))) == {k1}
    assert tenders.bidder_companies(
        who(Grant("company_manager", company_id=k1), Grant("company_manager", company_id=k2))
    ) == {k1, k2}
    for role in ("company_staff", "company_accountant"):
        assert not tenders.bidder_companies(who(Grant(role, company_id=k1)))
    assert not tenders.bidder_companies(who(Grant("owner", estate_id=e)))
    assert not tenders.bidder_companies(who(Grant("operator")))


# -- through the gateway -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    return build(platform.gateway_url, operator_token)


def other_manager(world: World) -> str:
    """The username of company B's manager (B serves estate B, not estate A)."""
    return "other-manager-" + world.usernames["owner"].removeprefix("owner-")


@pytest.fixture
def people(world: World) -> Iterator[dict[str, httpx.Client]]:
    """Everyone signed in afresh (a module's tokens would expire on a slow machine)."""
    clients = {
        role: world.as_token(signin(world.base, world.usernames[role])) for role in world.usernames
    }
    clients["owner_b"] = world.as_token(world.owner_b_token)
    clients["other_company"] = world.as_token(signin(world.base, other_manager(world)))
    yield clients
    for client in clients.values():
        client.close()


def base(world: World) -> str:
    return f"/api/v1/estates/{world.estate_a}/tenders"


def terms(closes_at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "title": f"选聘物业服务企业 {uuid.uuid4().hex[:6]}",
        "service_standard": "成都市住宅物业服务等级二级标准",
        "scope": "共有部分的保洁、绿化、秩序维护、设施设备维护",
        "term_months": 36,
        "closes_at": closes_at.isoformat(),
        **extra,
    }


def bid_body(**extra: Any) -> dict[str, Any]:
    return {
        "remuneration_ratio": "1/10",
        "fee_rates": [{"unit_type": "residential", "fen_per_m2_month": "250"}],
        "staffing": [{"role": "项目经理", "count": 1}, {"role": "保洁", "count": 4}],
        "references": "服务过三个信托制小区",
        **extra,
    }


def problem_of(reply: httpx.Response, status: int) -> str:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    return str(reply.json()["detail"])


def open_tender(chair: httpx.Client, world: World, closes_at: datetime) -> dict[str, Any]:
    draft = ok(chair.post(base(world), json=terms(closes_at)))
    return ok(chair.post(f"{base(world)}/{draft['tender_id']}/publish"))


def fetch_events(
    platform: Platform, estate_id: str, tender_id: str
) -> list[events_pb2.TenderUpdated]:
    subject = f"xinyi.voting.v1.{estate_id}.tender_updated"

    async def fetch() -> list[events_pb2.TenderUpdated]:
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
                event = events_pb2.TenderUpdated()
                assert envelope.payload.Unpack(event)
                assert envelope.emitter == "voting" and envelope.estate_id == estate_id
                if event.tender_id == tender_id:
                    found.append(event)
        finally:
            await nc.close()

    return asyncio.run(fetch())


def test_bids_are_sealed_until_the_tender_closes_then_revealed_and_put_to_a_ballot(
    world: World, platform: Platform, people: dict[str, httpx.Client]
) -> None:
    chair, owner = people["committee_chair"], people["owner"]
    mine, other = people["company_manager"], people["other_company"]
    closes = datetime.now(UTC) + timedelta(days=2)
    draft = ok(chair.post(base(world), json=terms(closes)))
    assert draft["state"] == "draft" and draft["created_by_role"] == "committee_chair"
    assert draft["bid_count"] == 0 and draft["bids"] == [] and draft["published_at"] is None
    tid = draft["tender_id"]
    one = f"{base(world)}/{tid}"
    # A draft is the approving body's: the estate sees it once published, bidders too.
    problem_of(owner.get(one), 404)
    assert tid not in [t["tender_id"] for t in ok(owner.get(base(world)))]
    assert tid in [t["tender_id"] for t in ok(people["committee_member"].get(base(world)))]
    problem_of(other.get(f"/api/v1/tenders/{tid}"), 404)
    problem_of(other.post(f"/api/v1/tenders/{tid}/bids", json=bid_body()), 404)
    # A draft's terms change; a published tender's do not.
    changed = ok(chair.put(one, json=terms(closes, title="选聘物业（修订）", term_months=24)))
    assert (changed["title"], changed["term_months"]) == ("选聘物业（修订）", 24)
    published = ok(chair.post(f"{one}/publish"))
    assert published["state"] == "open" and published["published_at"]
    assert ok(chair.post(f"{one}/publish"))["published_at"] == published["published_at"]
    assert "only a draft" in problem_of(chair.put(one, json=terms(closes)), 422)

    # Both companies find it city-wide: B serves another estate and is no member of this one.
    for client in (mine, other):
        listed = {t["tender_id"]: t for t in ok(client.get("/api/v1/tenders"))}
        assert listed[tid]["estate_id"] == world.estate_a
        assert listed[tid]["estate_name"].startswith("甲小区")
        assert listed[tid]["state"] == "open" and listed[tid]["bids"] == []
    problem_of(other.get(one), 404)

    first = other.post(f"/api/v1/tenders/{tid}/bids", json=bid_body(remuneration_ratio="1/12"))
    assert first.status_code == 201, first.text
    b_bid = first.json()
    assert b_bid["company_id"] == world.company_b and b_bid["company_name"].startswith("蓉城物业")
    assert (b_bid["revision"], b_bid["mine"], b_bid["remuneration_ratio"]) == (1, True, "1/12")
    a_bid = ok(mine.post(f"/api/v1/tenders/{tid}/bids", json=bid_body()))
    assert a_bid["company_id"] == world.company_a
    a_bid_id = a_bid["bid_id"]
    # Replaceable until close: the same bid, a new revision.
    replaced = mine.post(
        f"/api/v1/tenders/{tid}/bids",
        json=bid_body(
            remuneration_ratio=None,
            remuneration_monthly_fen=1_800_000,
            fee_rates=[
                {"unit_type": "residential", "fen_per_m2_month": "235.5"},
                {"unit_type": "commercial", "fen_per_m2_month": "400"},
            ],
            staffing=[],
            staffing_notes="按面积配置保洁，24小时门岗",
            attachment_sha256s=["ab" * 32],
        ),
    )
    assert replaced.status_code == 200, replaced.text
    a_bid = replaced.json()
    assert (a_bid["bid_id"], a_bid["revision"]) == (a_bid_id, 2)
    assert a_bid["remuneration_ratio"] is None and a_bid["remuneration_monthly_fen"] == 1_800_000
    assert a_bid["fee_rates"][0] == {"unit_type": "residential", "fen_per_m2_month": "471/2"}

    # Sealed: each company sees its own bid only; the estate, committee included, sees none.
    for client, own in ((mine, a_bid), (other, b_bid)):
        seen = ok(client.get(f"/api/v1/tenders/{tid}"))
        assert [b["bid_id"] for b in seen["bids"]] == [own["bid_id"]] and seen["bid_count"] == 2
    seen = ok(mine.get(one))
    assert [b["bid_id"] for b in seen["bids"]] == [a_bid["bid_id"]]
    for role in ("owner", "committee_chair", "estate_supervisor", "company_staff"):
        seen = ok(people[role].get(one))
        assert seen["bids"] == [] and seen["bid_count"] == 2 and seen["state"] == "open"
    assert "once it has closed" in problem_of(chair.post(f"{one}/ballot"), 422)
    assert "not before" in problem_of(chair.post(f"{one}/close"), 422)

    clock = platform.data_dir / "clock-offset"
    move_clock(clock, 3 * DAY)
    try:
        chair2 = world.as_token(signin(world.base, world.usernames["committee_chair"]))
        owner2 = world.as_token(signin(world.base, world.usernames["owner"]))
        mine2 = world.as_token(signin(world.base, world.usernames["company_manager"]))
        other2 = world.as_token(signin(world.base, other_manager(world)))
        with chair2, owner2, mine2, other2:
            # Past closes_at it reads as closed, and every bid is out to the whole estate.
            revealed = ok(owner2.get(one))
            assert revealed["state"] == "closed" and revealed["closed_at"] == revealed["closes_at"]
            by_company = {b["company_id"]: b for b in revealed["bids"]}
            assert set(by_company) == {world.company_a, world.company_b}
            assert by_company[world.company_b]["remuneration_ratio"] == "1/12"
            assert by_company[world.company_a]["staffing_notes"] == "按面积配置保洁，24小时门岗"
            assert not any(b["mine"] for b in revealed["bids"])
            assert [
                t["state"]
                for t in ok(owner2.get(base(world), params={"state": "closed"}))
                if t["tender_id"] == tid
            ] == ["closed"]
            late = other2.post(f"/api/v1/tenders/{tid}/bids", json=bid_body())
            assert "bids were accepted until" in problem_of(late, 422)
            # A bidder from outside follows the result, but sees only its own bid.
            outside = ok(other2.get(f"/api/v1/tenders/{tid}"))
            assert outside["state"] == "closed" and len(outside["bids"]) == 1
            assert tid not in [t["tender_id"] for t in ok(other2.get("/api/v1/tenders"))]

            closed = ok(chair2.post(f"{one}/close"))
            assert closed["state"] == "closed" and closed["closed_at"] == closed["closes_at"]
            key = {"Idempotency-Key": uuid.uuid4().hex}
            problem_of(owner2.post(f"{one}/ballot", headers=key), 403)
            drafted = chair2.post(f"{one}/ballot", headers=key)
            assert drafted.status_code == 201, drafted.text
            ballot = drafted.json()
            assert ballot["state"] == "draft" and ballot["title"] == "选聘物业（修订）"
            (question,) = ballot["questions"]
            assert (question["kind"], question["matter_class"], question["seats"]) == (
                "candidates",
                4,
                1,
            )
            assert question["subject"] == {"kind": "company", "id": tid}
            assert {c["candidate_id"]: c["name"] for c in question["candidates"]} == {
                b["bid_id"]: b["company_name"] for b in revealed["bids"]
            }
            # The retry returns the first ballot; a second ballot while it is live is refused.
            again = ok(chair2.post(f"{one}/ballot", headers=key))
            assert again["ballot_id"] == ballot["ballot_id"]
            assert "cancel it to draft another" in problem_of(chair2.post(f"{one}/ballot"), 422)
            assert ok(chair2.get(one))["ballot_id"] == ballot["ballot_id"]
            listed = ok(chair2.get(f"/api/v1/estates/{world.estate_a}/ballots"))
            assert ballot["ballot_id"] in [b["ballot_id"] for b in listed]
            # Cancelling the tender waits for its ballot; once that is cancelled, a new one may be
            # drafted, or the tender cancelled.
            assert "cancel the ballot first" in problem_of(
                chair2.post(f"{one}/cancel", json={"reason": "重新招标"}), 422
            )
            ok(
                chair2.post(
                    f"/api/v1/estates/{world.estate_a}/ballots/{ballot['ballot_id']}/cancel",
                    json={"reason": "候选说明有误"},
                )
            )
            redrafted = ok(chair2.post(f"{one}/ballot", json={"title": "选聘物业服务企业表决"}))
            assert redrafted["ballot_id"] != ballot["ballot_id"]
            assert redrafted["title"] == "选聘物业服务企业表决"
    finally:
        move_clock(clock, 0)

    def two() -> list[events_pb2.TenderUpdated] | None:
        found = fetch_events(platform, world.estate_a, tid)
        return found if len(found) >= 2 else None

    events = eventually(two, what="tender_updated events", timeout=30)
    assert [e.state for e in events] == ["open", "closed"]
    assert all(e.term_months == 24 and not e.chosen_bid_id for e in events)


def test_who_may_tender_and_bid(
    world: World, platform: Platform, people: dict[str, httpx.Client]
) -> None:
    chair = people["committee_chair"]
    closes = datetime.now(UTC) + timedelta(days=5)
    tender = open_tender(chair, world, closes)
    tid = tender["tender_id"]
    bids = f"/api/v1/tenders/{tid}/bids"
    # Only a company's manager bids: not its accountant or staff, not residents or the committee.
    for role in (
        "owner",
        "tenant",
        "committee_chair",
        "estate_supervisor",
        "company_accountant",
        "company_staff",
    ):
        assert "tender.bid" in problem_of(people[role].post(bids, json=bid_body()), 403)
        problem_of(people[role].get("/api/v1/tenders"), 403)
    with world.as_token(signin(world.base, "operator", platform.operator_password)) as op:
        problem_of(op.post(bids, json=bid_body()), 403)
    # A manager bids for the company it manages, not another one.
    assert "do not manage" in problem_of(
        people["company_manager"].post(bids, json=bid_body(company_id=world.company_b)), 403
    )
    ok(people["company_manager"].post(bids, json=bid_body(company_id=world.company_a)))
    # Only the approving body drafts, publishes, closes or cancels tenders.
    for role in ("owner", "company_manager", "estate_supervisor", "community_supervisor"):
        problem_of(people[role].post(base(world), json=terms(closes)), 403)
        problem_of(people[role].post(f"{base(world)}/{tid}/cancel", json={"reason": "x"}), 403)
    # Another estate's people, and a company not serving the estate, learn nothing of it here.
    for client in (people["owner_b"], people["other_company"]):
        problem_of(client.get(f"{base(world)}/{tid}"), 404)
        problem_of(client.get(base(world)), 404)
        problem_of(client.post(f"{base(world)}/{tid}/close"), 404)
    other_estate = f"/api/v1/estates/{world.estate_b}/tenders/{tid}"
    problem_of(people["owner_b"].get(other_estate), 404)
    # Everyone in the estate reads it.
    for role in ("tenant", "community_supervisor", "company_staff"):
        assert ok(people[role].get(f"{base(world)}/{tid}"))["state"] == "open"
    problem_of(httpx.get(f"{world.base}/api/v1/tenders", timeout=10), 401)
    problem_of(httpx.get(f"{world.base}{base(world)}/{tid}", timeout=10), 401)


def test_bad_inputs_are_refused_with_a_reason(
    world: World, people: dict[str, httpx.Client]
) -> None:
    chair, manager = people["committee_chair"], people["company_manager"]
    soon = datetime.now(UTC) + timedelta(days=3)
    url = base(world)
    assert "future" in problem_of(
        chair.post(url, json=terms(datetime.now(UTC) - timedelta(hours=1))), 400
    )
    assert "366 days" in problem_of(chair.post(url, json=terms(soon + timedelta(days=400))), 400)
    problem_of(chair.post(url, json={**terms(soon), "closes_at": "2031-01-01T00:00:00"}), 422)
    problem_of(chair.post(url, json=terms(soon, term_months=0)), 422)
    assert "out of range" in problem_of(
        chair.post(url, json={**terms(soon), "closes_at": "0001-01-01T00:00:00+14:00"}), 400
    )
    assert "title is required" in problem_of(chair.post(url, json=terms(soon, title="  ")), 400)
    assert "control characters" in problem_of(chair.post(url, json=terms(soon, scope="a\x07")), 400)
    problem_of(chair.post(url, content=b"{", headers={"content-type": "application/json"}), 422)
    problem_of(chair.get(url, params={"state": "lost"}), 422)
    problem_of(chair.get(f"{url}/not-a-uuid"), 422)
    assert "no such tender" in problem_of(chair.get(f"{url}/{uuid.uuid4()}"), 404)
    assert "no such tender" in problem_of(manager.get(f"/api/v1/tenders/{uuid.uuid4()}"), 404)
    problem_of(manager.post(f"/api/v1/tenders/{uuid.uuid4()}/bids", json=bid_body()), 404)

    tid = open_tender(chair, world, soon)["tender_id"]
    bids = f"/api/v1/tenders/{tid}/bids"
    for body, message in [
        (bid_body(remuneration_monthly_fen=100), "not both"),
        (bid_body(remuneration_ratio=None), "propose remuneration"),
        (bid_body(remuneration_ratio="3/2"), "less than 1"),
        (bid_body(fee_rates=[{"unit_type": "residential", "fen_per_m2_month": "2.5元"}]), "rate"),
        (
            bid_body(
                fee_rates=[
                    {"unit_type": "residential", "fen_per_m2_month": "250"},
                    {"unit_type": "residential", "fen_per_m2_month": "260"},
                ]
            ),
            "two rates",
        ),
        (bid_body(staffing=[]), "staffing or staffing_notes"),
        (bid_body(staffing=[{"role": "保洁", "count": 1}, {"role": "保洁", "count": 2}]), "twice"),
    ]:
        assert message in problem_of(manager.post(bids, json=body), 400)
    for body in (
        bid_body(fee_rates=[]),
        bid_body(fee_rates=[{"unit_type": "villa", "fen_per_m2_month": "1"}]),
        bid_body(fee_rates=[{"unit_type": "residential", "fen_per_m2_month": 250}]),
        bid_body(attachment_sha256s=["not-a-hash"]),
        bid_body(remuneration_monthly_fen=0),
        bid_body(company_id="acme"),
        bid_body(staffing=[{"role": "保洁", "count": 0}]),
    ):
        problem_of(manager.post(bids, json=body), 422)
    problem_of(
        manager.post(
            f"/api/v1/tenders/{tid}/bids",
            content=b"[]",
            headers={"content-type": "application/json"},
        ),
        422,
    )
    problem_of(manager.get("/api/v1/tenders", params={"state": "closed"}), 422)
    # Nothing refused left a bid behind.
    assert ok(chair.get(f"{url}/{tid}"))["bid_count"] == 0
    assert "reason is required" in problem_of(
        chair.post(f"{url}/{tid}/cancel", json={"reason": " "}), 400
    )
    problem_of(chair.post(f"{url}/{tid}/cancel", json={}), 422)


def test_retries_with_the_same_key_return_the_first_result(
    world: World, people: dict[str, httpx.Client]
) -> None:
    chair, manager = people["committee_chair"], people["company_manager"]
    body = terms(datetime.now(UTC) + timedelta(days=3))
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = chair.post(base(world), json=body, headers=key)
    again = chair.post(base(world), json=body, headers=key)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert len([t for t in ok(chair.get(base(world))) if t["title"] == body["title"]]) == 1
    assert "different request" in problem_of(
        chair.post(base(world), json={**body, "term_months": 12}, headers=key), 409
    )
    tid = first.json()["tender_id"]
    ok(chair.post(f"{base(world)}/{tid}/publish"))
    bid_key = {"Idempotency-Key": uuid.uuid4().hex}
    one = manager.post(f"/api/v1/tenders/{tid}/bids", json=bid_body(), headers=bid_key)
    two = manager.post(f"/api/v1/tenders/{tid}/bids", json=bid_body(), headers=bid_key)
    assert one.status_code == 201 and two.status_code == 201, two.text
    assert one.json() == two.json() and two.json()["revision"] == 1
    assert "different request" in problem_of(
        manager.post(
            f"/api/v1/tenders/{tid}/bids", json=bid_body(remuneration_ratio="1/9"), headers=bid_key
        ),
        409,
    )
    assert ok(chair.get(f"{base(world)}/{tid}"))["bid_count"] == 1


def test_a_tender_cancelled_while_open_keeps_its_bids_sealed(
    world: World, people: dict[str, httpx.Client]
) -> None:
    chair = people["committee_chair"]
    tid = open_tender(chair, world, datetime.now(UTC) + timedelta(days=3))["tender_id"]
    ok(people["other_company"].post(f"/api/v1/tenders/{tid}/bids", json=bid_body()))
    cancelled = ok(chair.post(f"{base(world)}/{tid}/cancel", json={"reason": "业主大会决定续聘"}))
    assert cancelled["state"] == "cancelled" and cancelled["cancelled_reason"] == "业主大会决定续聘"
    assert cancelled["bids"] == [] and cancelled["bid_count"] == 1
    late = people["company_manager"].post(f"/api/v1/tenders/{tid}/bids", json=bid_body())
    assert "cancelled" in problem_of(late, 422)
    assert "no longer" in problem_of(
        chair.post(f"{base(world)}/{tid}/cancel", json={"reason": "x"}), 422
    )
    assert "only an open one" in problem_of(chair.post(f"{base(world)}/{tid}/close"), 422)
    assert "puts nothing" in problem_of(chair.post(f"{base(world)}/{tid}/ballot"), 422)
    # The bidder still sees its own bid; the tender no longer lists as open.
    outside = ok(people["other_company"].get(f"/api/v1/tenders/{tid}"))
    assert outside["state"] == "cancelled" and len(outside["bids"]) == 1
    listed = ok(people["owner"].get(base(world), params={"state": "cancelled"}))
    assert tid in [t["tender_id"] for t in listed]


# -- the assembly chooses ----------------------------------------------------------------------
@pytest.fixture
def assembly(platform: Platform, operator_token: str) -> Iterator[Assembly]:
    world = build_assembly(platform, operator_token, CSV)
    try:
        yield world
    finally:
        move_clock(world.clock_file, 0)


def second_company(platform: Platform, world: Assembly) -> str:
    """Another company of the city, serving no estate, with a manager: its username."""
    tag = uuid.uuid4().hex[:6]
    token = signin(world.base, "operator", platform.operator_password)
    with httpx.Client(
        base_url=world.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as op:
        company = ok(
            op.post(
                "/api/v1/companies",
                json={"name": f"嘉诚物业{tag}", "credit_code": credit_code(tag + "bid")},
            )
        )
        username = f"bidder-{tag}"
        user = ok(
            op.post(
                "/api/v1/users",
                json={"username": username, "phone": random_phone(), "password": PASSWORD},
            )
        )
        ok(
            op.post(
                "/api/v1/role-grants",
                json={
                    "user_id": user["user_id"],
                    "role": "company_manager",
                    "company_id": company["company_id"],
                },
            )
        )
    world.usernames["bidder"] = username
    return str(company["company_id"])


def test_the_assemblys_final_ballot_decides_the_tender(
    platform: Platform, assembly: Assembly
) -> None:
    world = assembly
    newcomer = second_company(platform, world)
    tenders_path = f"/api/v1/estates/{world.estate_id}/tenders"
    start = datetime.now(UTC)
    with world.client("chair") as chair:
        draft = ok(chair.post(tenders_path, json=terms(start + timedelta(days=1))))
        tid = draft["tender_id"]
        ok(chair.post(f"{tenders_path}/{tid}/publish"))
    with world.client("manager") as manager:
        incumbent = ok(manager.post(f"/api/v1/tenders/{tid}/bids", json=bid_body()))
    with world.client("bidder") as bidder:
        chosen = ok(
            bidder.post(
                f"/api/v1/tenders/{tid}/bids",
                json=bid_body(remuneration_ratio="2/25", references="新入场企业"),
            )
        )
        assert chosen["company_id"] == newcomer

    world.at(2 * DAY)
    now = start + timedelta(days=2)
    with world.client("chair") as chair:
        ballot = ok(chair.post(f"{tenders_path}/{tid}/ballot"))
        b = ballot["ballot_id"]
        ok(
            chair.post(
                world.path(f"/{b}/announce"),
                json={
                    "voting_opens_at": (now + timedelta(days=15, hours=1)).isoformat(),
                    "voting_closes_at": (now + timedelta(days=22)).isoformat(),
                    "objection_days": 1,
                },
            )
        )
    world.at(2 * DAY + 15 * DAY + 2 * 3600)
    with world.client("chair") as chair:
        assert ok(chair.post(world.path(f"/{b}/open")))["state"] == "open"
    # A, B and C+D (350 of 400 m², 3 of 4 persons) all choose the newcomer's bid.
    for who in ("a", "b", "c"):
        with world.client(who) as owner:
            ok(
                owner.put(
                    world.path(f"/{b}/vote"),
                    json={
                        "choices": [{"question_id": "company", "candidate_ids": [chosen["bid_id"]]}]
                    },
                )
            )
    world.at(2 * DAY + 22 * DAY + 3600)
    with world.client("chair") as chair:
        ok(chair.post(world.path(f"/{b}/close")))
        result = ok(chair.get(world.path(f"/{b}/result")))["document"]
        assert result["questions"][0]["result"]["chosen"] == [chosen["bid_id"]]
        # Until the result is final, the tender waits.
        assert ok(chair.get(f"{tenders_path}/{tid}"))["state"] == "closed"
    world.at(2 * DAY + 24 * DAY)
    with world.client("chair") as chair:
        assert ok(chair.post(world.path(f"/{b}/finalize")))["state"] == "final"
    with world.client("a") as owner:
        decided = ok(owner.get(f"{tenders_path}/{tid}"))
    assert decided["state"] == "decided" and decided["decided_at"]
    assert decided["chosen_bid_id"] == chosen["bid_id"]
    assert (decided["chosen_company_id"], decided["ballot_id"]) == (newcomer, b)
    assert decided["chosen_company_name"] == chosen["company_name"]
    assert {x["bid_id"] for x in decided["bids"]} == {chosen["bid_id"], incumbent["bid_id"]}
    with world.client("bidder") as bidder:
        outside = ok(bidder.get(f"/api/v1/tenders/{tid}"))
        assert outside["state"] == "decided" and outside["chosen_bid_id"] == chosen["bid_id"]
    with world.client("chair") as chair:
        assert "decided" in problem_of(
            chair.post(f"{tenders_path}/{tid}/cancel", json={"reason": "x"}), 422
        )

    def decided_event() -> list[events_pb2.TenderUpdated] | None:
        found = fetch_events(platform, world.estate_id, tid)
        return found if found and found[-1].state == "decided" else None

    events = eventually(decided_event, what="tender_updated: decided", timeout=30)
    assert [e.state for e in events] == ["open", "closed", "decided"]
    assert (events[-1].chosen_bid_id, events[-1].chosen_company_id) == (chosen["bid_id"], newcomer)
    assert events[-1].ballot_id == b
