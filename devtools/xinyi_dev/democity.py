"""A deterministic demo city, created through the public API (never by writing tables)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

DISTRICTS = ("武侯区", "锦江区", "青羊区", "金牛区", "成华区")
ESTATE_STEMS = ("锦绣", "翠苑", "华府", "桂园", "芙蓉", "银杏", "望江", "玉林", "紫荆", "南苑")
ESTATE_SUFFIXES = ("小区", "花园", "院落", "家园", "公寓")
STREETS = ("玉林北路", "望江路", "红星路", "浆洗街", "倪家桥路", "科华北路")


@dataclass(frozen=True)
class DemoEstate:
    key: str
    name: str
    address: str


def plan(seed: int = 2019, estates: int = 3) -> list[DemoEstate]:
    """The estates of the city for a seed: the same seed gives the same city."""
    rng = random.Random(seed)
    result = []
    for i in range(estates):
        district = rng.choice(DISTRICTS)
        name = f"{rng.choice(ESTATE_STEMS)}{rng.choice(ESTATE_SUFFIXES)}"
        address = f"成都市{district}{rng.choice(STREETS)}{rng.randint(1, 300)}号"
        result.append(
            DemoEstate(key=f"demo-{seed}-estate-{i}", name=f"{name}{i + 1}期", address=address)
        )
    return result


def seed(
    gateway_url: str, operator_password: str, *, seed: int = 2019, estates: int = 3
) -> list[str]:
    """Creates the city through the gateway; idempotency keys make a second run change nothing."""
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        token = client.post(
            "/api/v1/auth/token", json={"username": "operator", "password": operator_password}
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        created = []
        for estate in plan(seed, estates):
            reply = client.post(
                "/api/v1/estates",
                json={"name": estate.name, "address": estate.address},
                headers={**headers, "Idempotency-Key": estate.key},
            )
            reply.raise_for_status()
            created.append(str(reply.json()["estate_id"]))
        return created
