"""The demo city's estates at each stage of joining the trust model, generated as `make run` does
it: on a platform of its own in the demo environment, whose clock starts the journey's days
before the owners' voice, which then catches up with the real time. Checked through the API as
the operator and the community's supervisor see it."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.conftest import Demo
from xinyi_dev import democity, demojourney, demovoting
from xinyi_dev.demofund import Device, RealClock
from xinyi_dev.platform import Platform

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def demo(demo_city: Demo) -> Demo:
    return demo_city


def _as(plat: Platform, username: str) -> httpx.Client:
    password = plat.operator_password if username == "operator" else democity.DEMO_PASSWORD
    got = httpx.post(
        f"{plat.gateway_url}/api/v1/auth/token",
        json={"username": username, "password": password},
        timeout=30,
    )
    assert got.status_code == 200, got.text
    return httpx.Client(
        base_url=plat.gateway_url,
        headers={"Authorization": f"Bearer {got.json()['access_token']}"},
        timeout=30,
    )


def _ok(reply: httpx.Response) -> Any:
    assert reply.is_success, reply.text
    return reply.json()


def _today() -> date:
    return datetime.now(SHANGHAI).date()


def _journey(stages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The journey's estates by stage (each stage present once: checked by the first test)."""
    return {s["stage"]: s for s in stages if s["estate_name"].startswith(demojourney.PREFIX)}


def test_each_stage_is_there_once_and_the_city_has_not_started(demo: Demo) -> None:
    with _as(demo.platform, "operator") as op:
        stages = _ok(op.get("/api/v1/onboarding/stages"))
    journey = [s for s in stages if s["estate_name"].startswith(demojourney.PREFIX)]
    counted = Counter(s["stage"] for s in journey)
    assert counted == Counter(demojourney.STAGES), counted
    assert {s["stage"] for s in stages if s not in journey} == {"not_started"}
    # Named so a visitor reads the stage, and listed in the journey's order.
    assert [s["estate_name"] for s in journey] == [e.name for e in demojourney.ESTATES]
    assert [s["stage"] for s in journey] == list(demojourney.STAGES)
    # The community's supervisor, a demo account, oversees all of them.
    with _as(demo.platform, demojourney.COMMUNITY) as community:
        theirs = _ok(community.get("/api/v1/onboarding/stages"))
    assert {s["estate_id"] for s in journey} <= {s["estate_id"] for s in theirs}


def test_the_contracts_in_force_signed_for_later_and_being_handed_over(demo: Demo) -> None:
    with _as(demo.platform, "operator") as op:
        journey = _journey(_ok(op.get("/api/v1/onboarding/stages")))

        def contracts(stage: str) -> list[dict[str, Any]]:
            estate = journey[stage]["estate_id"]
            return list(_ok(op.get(f"/api/v1/estates/{estate}/trust-contracts")))

        (active,) = contracts("active")
        (later,) = contracts("contract_signed")
        (ending,) = contracts("changing")
        assert contracts("decided") == []
        changing = journey["changing"]["estate_id"]
        (handover,) = _ok(op.get(f"/api/v1/estates/{changing}/handovers"))

    # In force, signed by both parties with the keys kept in the demo devices folder.
    assert active["state"] == "in_force"
    assert date.fromisoformat(active["terms"]["starts_on"]) <= _today()
    leader = demojourney.ESTATES[demojourney.STAGES.index("active")].username("a")
    keys = {
        who: Device(demo.devices, who, RealClock()).key_id()
        for who in (demojourney.MANAGER, leader)
    }
    assert {s["party"]: s["key_id"] for s in active["signatures"]} == {
        "company": keys[demojourney.MANAGER],
        "approving_body": keys[leader],
    }
    assert journey["active"]["company_id"] == active["company_id"]
    # Signed by both, starting after today: nobody serves the estate yet.
    assert later["state"] == "signed"
    assert {s["party"] for s in later["signatures"]} == {"company", "approving_body"}
    assert date.fromisoformat(later["terms"]["starts_on"]) > _today()
    assert journey["contract_signed"]["company_id"] is None
    # Dismissed by the owners: the company serves on through the notice, the handover is open.
    assert ending["state"] == "in_force"
    assert handover["state"] == "open" and handover["reason"] == "dismissal"
    assert handover["outgoing_contract_id"] == ending["contract_id"]
    assert date.fromisoformat(handover["notice_ends_on"]) > _today()
    assert {i["item"] for i in handover["checklist"] if i["state"] == "done"} == {
        "balances",
        "documents",
    }


def test_the_clock_only_moves_forward_and_the_voice_starts_where_the_journey_ends(
    demo: Demo,
) -> None:
    moves = demo.journey_moves
    assert moves == sorted(moves), "the journey never moves the demo clock back"
    assert demo.voice_moves[0] >= moves[-1], "nor does the voice after it, at first"
    start = -(demovoting.START_DAYS + demojourney.DAYS) * demovoting.DAY
    assert demo.journey_moves[0] == start
    assert demo.journey_moves[-1] == -demovoting.START_DAYS * demovoting.DAY
    assert demo.voice_moves[-1] == 0


def test_a_second_run_changes_nothing(demo: Demo) -> None:
    with _as(demo.platform, "operator") as op:
        before = len(_ok(op.get("/api/v1/onboarding/stages")))
    moved: list[float] = []
    again = demojourney.seed_journey(
        demo.platform.gateway_url,
        demo.platform.operator_password,
        demo.first_estate,
        moved.append,
        devices=demo.devices,
        ends_days_ago=demovoting.START_DAYS,
    )
    assert again is False
    assert moved == [-demovoting.START_DAYS * demovoting.DAY], "left where the voice starts"
    with _as(demo.platform, "operator") as op:
        assert len(_ok(op.get("/api/v1/onboarding/stages"))) == before
