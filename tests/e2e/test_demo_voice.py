"""The demo estate's owners' voice, generated as `make run` does it: on a platform of its own in
the demo environment, whose clock starts two months back and catches up with the real one. Then
checked through the API as the estate's people would see it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Demo
from xinyi_dev import democity, demovoting
from xinyi_dev.platform import Platform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(demo_city: Demo) -> tuple[Platform, str]:
    """The shared demo city (tests/e2e/conftest.py): its first estate's voice is made as
    `make run` makes it, after the onboarding journey on the same clock."""
    return demo_city.platform, demo_city.first_estate


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


def test_the_assemblies_are_one_final_and_one_open_and_the_budget_is_approved(
    demo: tuple[Platform, str], tmp_path: Path
) -> None:
    plat, estate = demo
    base = f"/api/v1/estates/{estate}"
    with _as(plat, "demo-owner") as owner:
        ballots = {b["title"]: b for b in _ok(owner.get(f"{base}/ballots"))}
        final = next(b for b in ballots.values() if b["state"] == "final")
        open_now = next(b for b in ballots.values() if b["state"] == "open")
        assert datetime.fromisoformat(open_now["voting_closes_at"]) > datetime.now(UTC)
        result = _ok(owner.get(f"{base}/ballots/{final['ballot_id']}/result"))["document"]
        mine = _ok(owner.get(f"{base}/ballots/{open_now['ballot_id']}/vote"))["receipts"]
    assert mine == [], "the demo owner has the open assembly to vote in"
    budget_q = next(q for q in result["questions"] if q["question_id"] == "budget")
    assert budget_q["result"]["participation_met"] is True
    assert budget_q["result"]["approved"] is True
    channels = {r["receipt"] for r in budget_q["receipts"]}
    assert len(channels) == budget_q["result"]["participating_headcount"]
    # The published result recounts with the independent script.
    published = tmp_path / "result.json"
    import json

    published.write_text(json.dumps(result, ensure_ascii=False))
    recount = subprocess.run(
        [sys.executable, str(ROOT / "services/voting/recount.py"), str(published)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert recount.returncode == 0, recount.stdout + recount.stderr
    # The ledger acted on the decision: next year's budget is approved.
    year = datetime.now(UTC).year + 1
    with _as(plat, "demo-manager") as manager:
        budget = _ok(manager.get(f"{base}/budgets/{year}"))
    assert budget["state"] == "approved"


def test_voice_has_every_state_a_meeting_held_a_tender_revealed_and_a_petition(
    demo: tuple[Platform, str],
) -> None:
    plat, estate = demo
    base = f"/api/v1/estates/{estate}"
    with _as(plat, "demo-owner") as owner:
        items = _ok(owner.get(f"{base}/suggestions"))
        items = items["suggestions"] if isinstance(items, dict) else items
        states = {s["state"] for s in items}
        assert {"submitted", "answered", "committed", "rectified", "confirmed", "reopened"} <= (
            states
        ), states
        assert any(s.get("overdue") for s in items), "one commitment is past its due date"
        meetings = _ok(owner.get(f"{base}/meetings"))
        meetings = meetings["meetings"] if isinstance(meetings, dict) else meetings
        assert {m["state"] for m in meetings} == {"held", "scheduled"}
        tenders = _ok(owner.get(f"{base}/tenders"))
        tenders = tenders["tenders"] if isinstance(tenders, dict) else tenders
        tender = _ok(owner.get(f"{base}/tenders/{tenders[0]['tender_id']}"))
        assert tender["state"] == "closed" and len(tender["bids"]) == 2
        petitions = _ok(owner.get(f"{base}/petitions"))
        assert [p["state"] for p in petitions] == ["collecting"]
        surveys = _ok(owner.get(f"{base}/surveys"))
        surveys = surveys["surveys"] if isinstance(surveys, dict) else surveys
        assert len(surveys) == 1


def test_a_second_run_changes_nothing(demo: tuple[Platform, str]) -> None:
    plat, estate = demo
    moved: list[float] = []
    again = demovoting.seed_voice(
        plat.gateway_url, plat.operator_password, estate, moved.append, seed=3
    )
    assert again is False
    assert moved[-1] == 0, "the clock is left at the real time"
