"""The permission matrix walked through the gateway: for each role and endpoint, allowed calls get
past the checks and every other is refused (403, or 404 where existence itself is private)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.identity.world import ROLES, World

EVERYONE = set(ROLES)
APPROVERS = {"committee_member", "committee_chair"}
SUPERVISORS = {"estate_supervisor", "community_supervisor"}
COMPANY = {"company_manager", "company_accountant", "company_staff"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # {A} is estate A
    allowed: set[str]
    body: Callable[[World], Any] | None = None
    content: bytes | None = None
    estate_scoped: bool = True

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


CALLS = [
    Call("GET", "/api/v1/estates/{A}", EVERYONE),
    Call("GET", "/api/v1/estates/{A}/units", EVERYONE),
    Call("GET", "/api/v1/estates/{A}/owners", EVERYONE),
    Call("GET", "/api/v1/estates/{A}/ledger/accounts", EVERYONE),
    Call("GET", "/api/v1/estates/{A}/overview", EVERYONE),
    Call("GET", "/api/v1/estates/{A}/ballots", EVERYONE),
    Call(
        "GET",
        "/api/v1/estates/{A}/ownership-roll",
        APPROVERS | SUPERVISORS | COMPANY | {"operator"},
    ),
    Call(
        "GET", "/api/v1/estates/{A}/role-grants", APPROVERS | SUPERVISORS | COMPANY | {"operator"}
    ),
    Call("GET", "/api/v1/estates/{A}/audit", APPROVERS | SUPERVISORS | {"operator"}),
    Call(
        "PUT",
        "/api/v1/estates/{A}/company",
        {"operator"},
        body=lambda w: {"company_id": w.company_a, "starts_on": "2090-01-01"},
    ),
    Call(
        "PUT",
        "/api/v1/estates/{A}/approving-body",
        {"operator", "community_supervisor"},
        body=lambda w: {"kind": "self_governance_group", "name": "自治小组"},
    ),
    Call(
        "POST",
        "/api/v1/estates/{A}/imports?dry_run=true",
        {"operator", "company_manager"},
        content=b"building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind\n"
        b"9\xe6\xa0\x8b,9-901,residential,80.00,\xe8\xb5\xb5\xe5\x85\xad,person\n",
    ),
    Call(
        "POST",
        "/api/v1/role-grants",
        {"operator", "company_manager"},
        body=lambda w: {"user_id": w.users["tenant"], "role": "tenant", "estate_id": w.estate_a},
    ),
    Call(
        "POST",
        "/api/v1/estates",
        {"operator"},
        body=lambda w: {"name": "新小区"},
        estate_scoped=False,
    ),
    Call(
        "POST",
        "/api/v1/districts",
        {"operator"},
        body=lambda w: {"name": f"区{uuid.uuid4().hex[:8]}"},
        estate_scoped=False,
    ),
    Call(
        "POST",
        "/api/v1/companies",
        {"operator"},
        body=lambda w: {"name": "某物业", "credit_code": f"91{uuid.uuid4().int % 10**16:016d}"},
        estate_scoped=False,
    ),
    Call(
        "POST",
        "/api/v1/users",
        {"operator"},
        body=lambda w: {"username": f"u-{uuid.uuid4().hex[:8]}", "password": "long enough pw"},
        estate_scoped=False,
    ),
    Call("GET", "/api/v1/estates", EVERYONE, estate_scoped=False),
    Call("GET", "/api/v1/communities", EVERYONE, estate_scoped=False),
    Call("GET", "/api/v1/companies", EVERYONE, estate_scoped=False),
    Call("POST", "/api/v1/auth/signing-keys/rotate", set(), estate_scoped=False),
]


def send(client: Any, call: Call, world: World) -> Any:
    path = call.path.replace("{A}", world.estate_a)
    kwargs: dict[str, Any] = {}
    if call.body is not None:
        kwargs["json"] = call.body(world)
    if call.content is not None:
        kwargs["content"] = call.content
        kwargs["headers"] = {"content-type": "text/csv"}
    return client.request(call.method, path, **kwargs)


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_each_role_is_allowed_or_refused(world: World, call: Call) -> None:
    failures = []
    for role in ROLES:
        # Rotating the signing key is the operator's, tested with the tokens; here only refusals.
        if role == "operator" and "rotate" in call.path:
            continue
        with world.client(role) as client:
            reply = send(client, call, world)
        if role in call.allowed:
            if reply.status_code in (401, 403, 404) or reply.status_code >= 500:
                failures.append(f"{role}: expected to pass, got {reply.status_code} {reply.text}")
        else:
            expected = {403, 404} if call.estate_scoped else {403}
            if reply.status_code not in expected:
                failures.append(f"{role}: expected {expected}, got {reply.status_code}")
            elif reply.headers["content-type"].startswith("application/problem+json") is False:
                failures.append(f"{role}: refusal is not problem+json")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("call", [c for c in CALLS if c.estate_scoped], ids=str)
def test_outsiders_do_not_learn_the_estate_exists(world: World, call: Call) -> None:
    # An owner of estate B, and the manager of a company that does not serve A.
    for token in (world.owner_b_token, world.other_company_token):
        with world.as_token(token) as client:
            reply = send(client, call, world)
        assert reply.status_code == 404, (call, reply.status_code, reply.text)
        assert reply.json()["detail"] == "no such estate"


def test_owners_see_other_owners_only_without_personal_data(world: World) -> None:
    with world.client("owner") as owner:
        owners = owner.get(f"/api/v1/estates/{world.estate_a}/owners").json()["owners"]
    persons = [o for o in owners if o["kind"] == "person"]
    mine = [o for o in persons if o["name"] == "王芳"]
    assert len(mine) == 1 and mine[0]["phone"]  # their own record, linked by phone
    others = [o for o in persons if o is not mine[0]]
    assert others and all(o["name"] is None and o["phone"] is None for o in others)
    developer = [o for o in owners if o["kind"] == "developer"]
    assert developer[0]["name"] == "锦华置业有限公司"  # organisations are not personal data
    with world.client("committee_member") as committee:
        listed = committee.get(f"/api/v1/estates/{world.estate_a}/owners").json()["owners"]
    assert {o["name"] for o in listed if o["kind"] == "person"} == {"王芳", "李强", "李娜"}
    with world.client("company_staff") as staff:
        listed = staff.get(f"/api/v1/estates/{world.estate_a}/owners").json()["owners"]
    assert all(o["phone"] is None for o in listed)


def test_operator_does_not_read_personal_data(world: World) -> None:
    with world.client("operator") as op:
        listed = op.get(f"/api/v1/estates/{world.estate_a}/owners").json()["owners"]
    assert all(o["phone"] is None and o["id_number"] is None for o in listed)


def test_company_reaches_only_the_estates_it_serves(world: World) -> None:
    with world.client("company_accountant") as accountant:
        estates = accountant.get("/api/v1/estates").json()["estates"]
    assert [e["estate_id"] for e in estates] == [world.estate_a]
    with world.client("community_supervisor") as supervisor:
        estates = supervisor.get("/api/v1/estates").json()["estates"]
    assert world.estate_a in {e["estate_id"] for e in estates}
    assert world.estate_b not in {e["estate_id"] for e in estates}


def test_an_estate_reads_with_its_company_and_units(world: World) -> None:
    with world.client("company_accountant") as accountant:
        estate = accountant.get(f"/api/v1/estates/{world.estate_a}").json()
    assert (estate["estate_id"], estate["company_id"]) == (world.estate_a, world.company_a)
    assert estate["unit_count"] > 0
    with world.client("operator") as op:
        listed = {e["estate_id"]: e for e in op.get("/api/v1/estates").json()["estates"]}
    # The listing reads each estate's company and units as its own page does.
    assert listed[world.estate_a] == estate
    assert listed[world.estate_b]["company_id"] == world.company_b
    with world.client("company_accountant") as accountant:
        missing = accountant.get(f"/api/v1/estates/{uuid.uuid4()}")
    assert missing.status_code in (403, 404)
