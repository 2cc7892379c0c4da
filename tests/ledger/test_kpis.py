"""KPIs as the pilot reports them, from data: satisfaction surveys answered and closed (by their
publisher, or by their closing time passing) and disputes opened and resolved give the month's
satisfaction and open disputes against the baseline recorded on joining; a street's figures are
its communities' estates together, its communities named as identity named them, read by the
operator and, for their own community's part, by the street's community supervisors."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from tests.identity.world import PASSWORD, World, ok, random_phone, signin
from tests.poll import eventually
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock

SHANGHAI = ZoneInfo("Asia/Shanghai")


def month_of(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def hundredths(value: Fraction) -> str:
    """Two decimals, half up, signed: the KPIs' figures computed here on their own."""
    n = int((value * 100 + Fraction(1, 2)) // 1)
    sign, n = ("-", -n) if n < 0 else ("", n)
    return f"{sign}{n // 100}.{n % 100:02d}"


def resident(world: World, estate: str, role: str = "tenant") -> str:
    """A new person with a role in the estate; returns their access token."""
    name = f"{role}-{uuid.uuid4().hex[:8]}"
    with world.client("operator") as op:
        user = ok(
            op.post(
                "/api/v1/users",
                json={
                    "username": name,
                    "display_name": name,
                    "phone": random_phone(),
                    "password": PASSWORD,
                },
            )
        )
        ok(
            op.post(
                "/api/v1/role-grants",
                json={"user_id": user["user_id"], "role": role, "estate_id": estate},
            )
        )
    return signin(world.base, name)


def answer(c: httpx.Client, url: str, values: dict[str, int]) -> dict[str, Any]:
    return ok(
        c.put(
            f"{url}/answer",
            json={"answers": [{"question_id": q, "value": v} for q, v in values.items()]},
        )
    )


async def survey_events(platform: Platform, estate: str) -> dict[str, Any]:
    """The survey_closed events in voting's outbox, by survey id."""
    from xinyi.common.v1 import common_pb2
    from xinyi.voting.v1 import events_pb2

    conn = await asyncpg.connect(platform.admin_url)
    try:
        await conn.execute("SET xinyi.scope = 'system'")
        rows = await conn.fetch(
            "SELECT envelope FROM voting.outbox WHERE estate_id = $1 "
            "AND event_type = 'xinyi.voting.v1.SurveyClosed' ORDER BY seq",
            uuid.UUID(estate),
        )
    finally:
        await conn.close()
    out = {}
    for row in rows:
        event = events_pb2.SurveyClosed()
        common_pb2.EventEnvelope.FromString(bytes(row["envelope"])).payload.Unpack(event)
        out[event.survey_id] = event
    return out


async def test_satisfaction_and_disputes_are_monthly_series_against_the_baseline(
    world: World, platform: Platform
) -> None:
    base = f"/api/v1/estates/{world.estate_a}"
    with world.client("community_supervisor") as community:
        ok(
            community.post(
                f"{base}/onboarding",
                json={
                    "working_group": [{"name": "李主任", "affiliation": "社区居委会"}],
                    "situation": {"arrangement": "lump_sum"},
                    "baseline": {
                        "payment_rate_permille": 420,
                        "open_disputes": 4,
                        "satisfaction_permille": 305,
                    },
                },
            )
        )
    tenants = [resident(world, world.estate_a) for _ in range(4)]
    people = [world.tokens["owner"], world.tokens["tenant"], *tenants]

    # A survey whose satisfaction question is the second, marked so; the first is another scale.
    with world.client("committee_chair") as chair:
        first = ok(
            chair.post(
                f"{base}/surveys",
                json={
                    "title": "2025 年第二季度物业服务满意度",
                    "questions": [
                        {"text": "物业费标准是否合理", "kind": "scale"},
                        {"text": "总体满意度", "kind": "scale", "satisfaction": True},
                        {"text": "最需改进", "kind": "choice", "options": ["保洁", "安保"]},
                    ],
                    "closes_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
                },
            )
        )
    assert [q["satisfaction"] for q in first["questions"]] == [False, True, False]
    url = f"{base}/surveys/{first['survey_id']}"
    overall = [5, 4, 3, 2, 5, 1]
    for token, value in zip(people, overall, strict=True):
        with world.as_token(token) as person:
            # q1 is answered 5 by everyone: were it counted, satisfaction would be 100%.
            answer(person, url, {"q1": 5, "q2": value, "q3": 0})
    with world.client("committee_chair") as chair:
        closed = ok(chair.post(f"{url}/close"))
    assert closed["state"] == "closed" and closed["respondents"] == len(overall)

    # Two disputes: one answered, one still open.
    with world.client("owner") as owner:
        items = [
            ok(
                owner.post(
                    f"{base}/suggestions",
                    json={"kind": "complaint", "title": f"{t} {uuid.uuid4().hex[:6]}", "body": t},
                )
            )
            for t in ("楼道灯坏了", "垃圾清运不及时")
        ]
    with world.client("company_manager") as manager:
        ok(
            manager.post(
                f"{base}/suggestions/{items[0]['suggestion_id']}/answer",
                json={"text": "已更换灯泡"},
            )
        )

    # A second survey, unmarked (its first scale question is the satisfaction question), is
    # closed by its closing time passing: nobody closes it.
    with world.client("company_manager") as manager:
        second = ok(
            manager.post(
                f"{base}/surveys",
                json={
                    "title": "保洁服务满意度",
                    "questions": [
                        {"text": "保洁是否到位", "kind": "choice", "options": ["是", "否"]},
                        {"text": "总体", "kind": "scale"},
                    ],
                    "closes_at": (datetime.now(UTC) + timedelta(minutes=4)).isoformat(),
                },
            )
        )
    assert [q["satisfaction"] for q in second["questions"]] == [False, True]
    url2 = f"{base}/surveys/{second['survey_id']}"
    later = [4, 4, 2]
    for token, value in zip(people, later, strict=False):
        with world.as_token(token) as person:
            answer(person, url2, {"q1": 1, "q2": value})

    clock = platform.data_dir / "clock-offset"
    move_clock(clock, 5 * 60)
    try:
        events = await survey_events(platform, world.estate_a)
        for _ in range(100):
            if second["survey_id"] in events:
                break
            await asyncio.sleep(0.2)
            events = await survey_events(platform, world.estate_a)
        assert second["survey_id"] in events, "the survey past its closing time did not close"
        with world.client("owner") as owner:
            by_time = ok(owner.get(url2))
            assert by_time["closed_at"] == second["closes_at"]

            # Computed here from the answers: satisfied are 4s and 5s of the marked question.
            satisfied: dict[str, list[int]] = {}
            for closed_at, values in ((closed["closed_at"], overall), (second["closes_at"], later)):
                tally = satisfied.setdefault(month_of(when(closed_at)), [0, 0])
                tally[0] += sum(1 for v in values if v >= 4)
                tally[1] += len(values)
            month = month_of(when(items[0]["submitted_at"]))

            def caught_up() -> dict[str, Any] | None:
                k = ok(owner.get(f"{base}/kpis", params={"months": 2}))
                answered = sum(p["satisfaction_answers"] for p in k["months"])
                return k if answered == len(overall) + len(later) else None

            kpis = eventually(caught_up, what="the closed surveys reaching disclosure")
    finally:
        move_clock(clock, 0)

    # The events carry the marked question's answers.
    one, two = events[first["survey_id"]], events[second["survey_id"]]
    assert (one.question_id, one.question_text, list(one.counts)) == (
        "q2",
        "总体满意度",
        [1, 1, 1, 1, 2],
    )
    assert (one.respondents, one.satisfied, one.satisfaction_permille) == (6, 3, 500)
    assert (two.question_id, list(two.counts), two.satisfied) == ("q2", [0, 1, 0, 2, 0], 2)
    assert two.satisfaction_permille == 667  # 2/3, half up

    assert kpis["baseline"]["satisfaction"] == "30.50"
    assert kpis["baseline"]["open_disputes"] == 4
    points = {p["month"]: p for p in kpis["months"]}
    for m, (happy, answered) in satisfied.items():
        share = Fraction(happy * 100, answered)
        assert points[m]["satisfaction"] == hundredths(share)
        assert points[m]["satisfaction_answers"] == answered
        assert points[m]["satisfaction_points"] == hundredths(share - Fraction(305, 10))
    assert sum(p["surveys"] for p in kpis["months"]) == 2
    now = points[month]
    assert (now["disputes_opened"], now["disputes_resolved"], now["disputes_open"]) == (2, 1, 1)
    # One dispute open against four when the estate joined: 75% fewer.
    assert now["disputes_open_change"] == "-75.00"

    # Replayed from the emitters' logs, the series is the same.
    with world.client("operator") as op:
        ok(op.post(f"{base}/disclosure/rebuild"))
    with world.client("owner") as owner:
        again = ok(
            owner.get(f"{base}/kpis", params={"months": 2, "through": kpis["months"][-1]["month"]})
        )
    assert again["months"] == kpis["months"]


def test_a_streets_kpis_are_its_communities_estates_together_named(world: World) -> None:
    with world.client("operator") as op:
        listed = ok(op.get("/api/v1/communities"))["communities"]
    mine = next(c for c in listed if c["community_id"] == world.community_a)
    street = mine["street_id"]
    theirs = next(
        c for c in listed if c["street_id"] == street and c["community_id"] != world.community_a
    )
    assert (mine["name"], theirs["name"]) == ("玉林北路社区", "玉林南路社区")

    # This month's fees in both estates (A in community A, B in the street's other community).
    period = month_of(datetime.now(UTC))
    expected: dict[str, list[int]] = {}
    for estate, client in (
        (world.estate_a, world.client("company_manager")),
        (world.estate_b, world.as_token(world.other_company_token)),
    ):
        base = f"/api/v1/estates/{estate}"
        with client as manager:
            ok(
                manager.put(
                    f"{base}/fees/rates",
                    json={
                        "rates": [
                            {"unit_type": t, "fen_per_m2_month": r, "effective_from": "2020-01"}
                            for t, r in (("residential", "250"), ("commercial", "400"))
                        ]
                    },
                )
            )
            units = len(ok(manager.get(f"{base}/units"))["units"])
            arrears = f"{base}/fees/arrears"
            eventually(
                lambda a=arrears, n=units, m=manager: ok(m.get(a))["units_total"] == n,
                what="the ledger learning the units",
            )
            fees = ok(manager.post(f"{base}/fees/assessments", json={"period": period}))["fees"]
            # The first unit pays in full, the second a third; the rest nothing.
            paying = [fees[0]["amount_fen"], fees[1]["amount_fen"] // 3]
            for fee, fen in zip(fees, paying, strict=False):
                ok(
                    manager.post(
                        f"{base}/payments", json={"unit_id": fee["unit_id"], "amount_fen": fen}
                    )
                )
        expected[estate] = [
            sum(f["amount_fen"] for f in fees),
            sum(paying),
            len(fees),
            1,
        ]

    def rate(part: int, whole: int) -> str:
        return hundredths(Fraction(part * 100, whole))

    def street_kpis(c: httpx.Client) -> dict[str, Any]:
        return ok(c.get(f"/api/v1/streets/{street}/kpis", params={"months": 1, "through": period}))

    with world.client("operator") as op:
        got = eventually(
            lambda: (
                (k := street_kpis(op))["months"][0]["collected_fen"]
                == sum(e[1] for e in expected.values())
                and k
            ),
            what="both estates' fees reaching disclosure",
        )
        city = ok(op.get("/api/v1/kpis", params={"months": 1, "through": period}))
        assert op.get(f"/api/v1/streets/{uuid.uuid4()}/kpis").status_code == 404
    assessed = sum(e[0] for e in expected.values())
    collected = sum(e[1] for e in expected.values())
    assert got["scope"] == {
        "street_id": street,
        "name": "玉林街道",
        "district_name": mine["district_name"],
    }
    assert got["estates"] == 2
    (month,) = got["months"]
    assert (month["assessed_fen"], month["collected_fen"]) == (assessed, collected)
    assert month["payment_rate_amount"] == rate(collected, assessed)
    assert month["payment_rate_units"] == rate(2, sum(e[2] for e in expected.values()))
    parts = {p["scope"]["community_id"]: p for p in got["communities"]}
    assert [p["scope"]["name"] for p in got["communities"]] == ["玉林北路社区", "玉林南路社区"]
    for community, estate in (
        (world.community_a, world.estate_a),
        (theirs["community_id"], world.estate_b),
    ):
        (m,) = parts[community]["months"]
        a, c, n, paid = expected[estate]
        assert parts[community]["estates"] == 1
        assert (m["assessed_fen"], m["collected_fen"]) == (a, c)
        assert (m["payment_rate_amount"], m["payment_rate_units"]) == (rate(c, a), rate(paid, n))
        assert parts[community]["scope"]["street_name"] == "玉林街道"
    in_city = {p["scope"]["community_id"]: p for p in city["communities"]}
    assert in_city[world.community_a]["scope"]["name"] == "玉林北路社区"
    assert in_city[world.community_a]["months"] == parts[world.community_a]["months"]

    # The community's supervisor: the community by name, and the street's totals with only
    # their own community's part.
    with world.client("community_supervisor") as supervisor:
        own = ok(
            supervisor.get(
                f"/api/v1/communities/{world.community_a}/kpis",
                params={"months": 1, "through": period},
            )
        )
        assert own["scope"] == {
            "community_id": world.community_a,
            "name": "玉林北路社区",
            "street_id": street,
            "street_name": "玉林街道",
            "district_name": mine["district_name"],
        }
        assert own["months"] == parts[world.community_a]["months"]
        seen = street_kpis(supervisor)
        assert seen["months"] == got["months"] and seen["estates"] == 2
        assert [p["scope"]["community_id"] for p in seen["communities"]] == [world.community_a]
        assert supervisor.get("/api/v1/kpis").status_code == 403

    # Nobody else: an owner, or the supervisor of a community on another street.
    with world.client("owner") as owner:
        assert owner.get(f"/api/v1/streets/{street}/kpis").status_code == 403
    with world.client("operator") as op:
        other_street = ok(
            op.post(
                "/api/v1/streets",
                json={
                    "district_id": mine["district_id"],
                    "name": f"芳草街道{uuid.uuid4().hex[:4]}",
                },
            )
        )
        elsewhere = ok(
            op.post(
                "/api/v1/communities",
                json={"street_id": other_street["street_id"], "name": "芳草社区"},
            )
        )
        name = f"supervisor-{uuid.uuid4().hex[:8]}"
        user = ok(
            op.post(
                "/api/v1/users",
                json={"username": name, "display_name": name, "password": PASSWORD},
            )
        )
        ok(
            op.post(
                "/api/v1/role-grants",
                json={
                    "user_id": user["user_id"],
                    "role": "community_supervisor",
                    "community_id": elsewhere["community_id"],
                },
            )
        )
    with world.as_token(signin(world.base, name)) as stranger:
        assert stranger.get(f"/api/v1/streets/{street}/kpis").status_code == 403
        assert stranger.get(f"/api/v1/communities/{world.community_a}/kpis").status_code == 403
        # Their own community has no estate yet: nothing, by name.
        empty = eventually(
            lambda: (
                (k := ok(stranger.get(f"/api/v1/communities/{elsewhere['community_id']}/kpis")))[
                    "scope"
                ].get("name")
                and k
            ),
            what="the new community reaching disclosure",
        )
        assert (empty["scope"]["name"], empty["estates"]) == ("芳草社区", 0)
