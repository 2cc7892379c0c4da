"""The demo city generator against the real platform: the planned estates, units and owners arrive
through the REST API, a second run creates nothing, and the demo owner can sign in."""

from __future__ import annotations

from typing import Any

import httpx

from xinyi_dev import democity
from xinyi_dev.platform import Platform


def _units(api: httpx.Client, estate_id: str) -> list[dict[str, Any]]:
    units: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        reply = api.get(f"/api/v1/estates/{estate_id}/units", params=params)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        units += page["units"]
        cursor = page.get("next_cursor")
        if not cursor:
            return sorted(units, key=lambda u: str(u["unit_id"]))


def test_the_demo_city_is_seeded_through_the_api_once(
    platform: Platform, api: httpx.Client
) -> None:
    city = democity.plan(7, "small")
    ids = democity.seed(platform.gateway_url, platform.operator_password, seed=7, size="small")
    assert len(ids) == len(city.estates) == 3
    assert len(set(ids)) == 3

    companies = {c.key: c.credit_code for c in city.companies}
    credit_codes = {
        c["company_id"]: c["credit_code"] for c in api.get("/api/v1/companies").json()["companies"]
    }
    before = {}
    for estate, estate_id in zip(city.estates, ids, strict=True):
        shown = api.get(f"/api/v1/estates/{estate_id}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["name"] == estate.name
        assert shown.json()["address"] == estate.address
        assert shown.json()["unit_count"] == len(estate.units)
        assert shown.json()["approving_body"]["kind"] == estate.approving_body.kind
        assert credit_codes[shown.json()["company_id"]] == companies[estate.company_key]
        units = _units(api, estate_id)
        assert len(units) == len(estate.units), estate.name
        planned = {
            (u.building, u.number): (u.unit_type, int(u.exclusive_area * 100), len(u.owners))
            for u in estate.units
        }
        assert {
            (u["building"], u["number"]): (
                u["unit_type"],
                u["exclusive_area_centi_m2"],
                len(u["owner_ids"]),
            )
            for u in units
        } == planned
        before[estate_id] = units
    communities = api.get("/api/v1/communities")
    assert communities.status_code == 200, communities.text

    # A second run (as on every `make run` without the marker) finds everything already there.
    again = democity.seed(platform.gateway_url, platform.operator_password, seed=7, size="small")
    assert again == ids
    assert {estate_id: _units(api, estate_id) for estate_id in ids} == before
    assert api.get("/api/v1/communities").json() == communities.json()

    # The demo owner signs in with the documented password and owns in the first estate.
    signed_in = httpx.post(
        f"{platform.gateway_url}/api/v1/auth/token",
        json={"username": "demo-owner", "password": democity.DEMO_PASSWORD},
        timeout=10,
    )
    assert signed_in.status_code == 200, signed_in.text
    me = httpx.get(
        f"{platform.gateway_url}/api/v1/me",
        headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"},
        timeout=10,
    )
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "demo-owner"
    owner_grants = [r for r in me.json()["roles"] if r["role"] == "owner"]
    # Granted once, although seeded twice.
    assert [r["estate_id"] for r in owner_grants] == [ids[0]]
