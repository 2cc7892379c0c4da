"""The benchmarks' world on a running platform: the operator's session, the people and estates
each benchmark needs, all made through the public API (the city by the demo city generator),
each made once per run and shared."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx

from bench.harness import CpuMeter, Size
from xinyi.ledger.v1 import (
    fees_pb2,
    fees_pb2_grpc,
    ledger_pb2,
    ledger_pb2_grpc,
    statements_pb2,
    statements_pb2_grpc,
)
from xinyi_dev import democity
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock

PASSWORD = "bench-password-2026"
T = TypeVar("T")


class BenchError(RuntimeError):
    """The platform refused a step of a benchmark's preparation, or a count came out wrong."""


def units_pool(size: Size) -> list[democity.UnitPlan]:
    """Units and owners of the generator's city, for estates larger than any one of its own
    (the 10,000-unit import): every unit of the city in plan order, buildings named apart. Its
    seed is the next one, so none of its people are the month-end city's."""
    city = democity.plan(size.seed + 1, "city" if size.name == "city" else "medium")
    units = []
    for n, estate in enumerate(city.estates[1:], start=1):  # the first holds the demo people
        units += [dataclasses.replace(u, building=f"{n + 1}区{u.building}") for u in estate.units]
    return units


class World:
    """One run's shared preparation. `tag` keeps its usernames apart from anything else on a
    platform shared with other work (the test suite's)."""

    def __init__(self, platform: Platform, size: Size) -> None:
        self.platform = platform
        self.size = size
        self.tag = uuid.uuid4().hex[:6]
        self.base = platform.gateway_url
        self.http = httpx.AsyncClient(base_url=self.base, timeout=300)
        self._done: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tokens: dict[str, tuple[float, str]] = {}
        self._pool: list[democity.UnitPlan] | None = None
        self.user_ids: dict[str, str] = {}
        clock = platform.extra_env.get("XINYI_TEST_CLOCK_FILE")
        self.clock_file = Path(clock) if clock else None

    async def close(self) -> None:
        await self.http.aclose()

    async def once(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        """The result of `make`, made the first time any benchmark asks for `key`."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._done:
                self._done[key] = await make()
            result: T = self._done[key]
            return result

    # -- calls ----------------------------------------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        reply = await self.http.request(
            method,
            path,
            json=json,
            content=content,
            params=params,
            headers={**(headers or {}), "Authorization": f"Bearer {token}"},
        )
        if not reply.is_success:
            raise BenchError(f"{method} {path}: HTTP {reply.status_code}: {reply.text[:400]}")
        return reply.json() if reply.content else None

    async def sign_in(self, username: str, password: str = PASSWORD, *, fresh: bool = False) -> str:
        """An access token (they live 15 minutes; one is reused for at most 10, and `fresh`
        takes a new one for a stretch of work that may last up to 15)."""
        cached = None if fresh else self._tokens.get(username)
        if cached and time.monotonic() - cached[0] < 600:
            return cached[1]
        for attempt in range(5):
            reply = await self.http.post(
                "/api/v1/auth/token", json={"username": username, "password": password}
            )
            if reply.is_success:
                token = str(reply.json()["access_token"])
                self._tokens[username] = (time.monotonic(), token)
                return token
            if reply.status_code < 500 or attempt == 4:
                raise BenchError(f"sign in as {username}: HTTP {reply.status_code}: {reply.text}")
            await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    async def operator(self) -> str:
        return await self.sign_in("operator", self.platform.operator_password)

    def forget_tokens(self) -> None:
        """After the clock moved: tokens are of the old time."""
        self._tokens.clear()

    async def person(self, name: str, role: str, scope: dict[str, str], phone: str = "") -> str:
        """A user with one grant (an owner's grant links the user to the owner of that phone);
        returns the username."""
        op = await self.operator()
        username = f"bench-{self.tag}-{name}"
        body = {"username": username, "display_name": name, "password": PASSWORD}
        if phone:
            body["phone"] = phone
        user = await self.call("POST", "/api/v1/users", op, json=body)
        self.user_ids[username] = str(user["user_id"])
        await self.grant(username, role, scope)
        return username

    async def grant(self, username: str, role: str, scope: dict[str, str]) -> None:
        body = {"user_id": self.user_ids[username], "role": role, **scope}
        await self.call("POST", "/api/v1/role-grants", await self.operator(), json=body)

    def move_clock(self, seconds: float) -> None:
        if self.clock_file is None:
            raise BenchError("the platform's clock cannot be moved (no XINYI_TEST_CLOCK_FILE)")
        move_clock(self.clock_file, seconds)
        self.forget_tokens()

    # -- the ledger over gRPC -------------------------------------------------------------------
    def ledger_channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(
            self.platform.address("ledger"), options=[("grpc.max_metadata_size", 256 * 1024)]
        )

    async def post_incomes(
        self, token: str, estate_id: str, amounts: list[tuple[int, str]], concurrency: int = 8
    ) -> None:
        """Posts (amount in fen, booked on) incomes to one estate through the ledger's gRPC."""
        async with self.ledger_channel() as channel:
            stub = ledger_pb2_grpc.LedgerServiceStub(channel)
            metadata = (("authorization", f"Bearer {token}"),)
            queue = list(amounts)

            async def worker() -> None:
                while queue:
                    fen, day = queue.pop()
                    await stub.PostIncome(
                        ledger_pb2.PostIncomeRequest(
                            estate_id=estate_id,
                            source="other",
                            amount_fen=fen,
                            description="基准收入",
                            booked_on=day,
                        ),
                        metadata=metadata,
                        timeout=120,
                    )

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def assess(self, token: str, estate_id: str, period: str) -> fees_pb2.Assessment:
        """A month's fee assessment through the ledger's gRPC API: a large estate's takes longer
        than the gateway's deadline for a call (5 s) on a busy machine."""
        async with self.ledger_channel() as channel:
            reply: fees_pb2.Assessment = await fees_pb2_grpc.FeesServiceStub(channel).AssessFees(
                fees_pb2.AssessFeesRequest(estate_id=estate_id, period=period),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=900,
            )
            return reply

    async def import_statement(
        self, token: str, estate_id: str, content: bytes
    ) -> statements_pb2.StatementImport:
        """A bank statement of the fund's account through the ledger's gRPC API (the gateway
        gives an import 120 s, less than a city-sized one takes)."""
        async with self.ledger_channel() as channel:
            stub = statements_pb2_grpc.StatementServiceStub(channel)
            reply: statements_pb2.StatementImport = await stub.ImportStatement(
                statements_pb2.ImportStatementRequest(
                    estate_id=estate_id, account="fund", filename="bench.csv", content=content
                ),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=1800,
            )
            return reply

    # -- what benchmarks share ------------------------------------------------------------------
    async def company(self) -> str:
        async def make() -> str:
            body = {"name": f"基准物业{self.tag}", "credit_code": _credit_code(self.tag)}
            made = await self.call("POST", "/api/v1/companies", await self.operator(), json=body)
            return str(made["company_id"])

        return await self.once("company", make)

    async def accountant(self, *, fresh: bool = False) -> str:
        """The bench company's accountant: posts in every bare estate."""

        async def make() -> str:
            return await self.person(
                "accountant", "company_accountant", {"company_id": await self.company()}
            )

        username = await self.once("accountant", make)
        return await self.sign_in(username, fresh=fresh)

    async def bare_estates(self, count: int) -> list[str]:
        """`count` estates of the bench company with no units: the posting benchmarks' (a
        posting does not depend on units)."""

        async def make() -> list[str]:
            return [await self.bare_estate(f"posting-{n}") for n in range(count)]

        return await self.once(f"bare:{count}", make)

    async def bare_estate(self, name: str) -> str:
        op = await self.operator()
        estate = await self.call(
            "POST", "/api/v1/estates", op, json={"name": f"基准小区{self.tag}{name}"}
        )
        estate_id = str(estate["estate_id"])
        await self.call(
            "PUT",
            f"/api/v1/estates/{estate_id}/company",
            op,
            json={"company_id": await self.company(), "starts_on": "2020-01-01"},
        )
        # An access token carries its estates: the accountant's next one must name this one.
        self._tokens.pop(self._done.get("accountant", ""), None)
        await self.until(  # the books open from identity's event
            lambda: self.call("GET", f"/api/v1/estates/{estate_id}/ledger/accounts", op),
            what=f"the books of {name}",
        )
        return estate_id

    async def city(self) -> tuple[list[str], democity.CityPlan, float]:
        """The generator's city through the API (as `make run` seeds it), its plan, and the
        seconds the seeding took."""

        async def make() -> tuple[list[str], democity.CityPlan, float]:
            started = time.perf_counter()
            ids = await asyncio.to_thread(
                democity.seed,
                self.base,
                self.platform.operator_password,
                seed=self.size.seed,
                size=self.size.city,
            )
            seconds = time.perf_counter() - started
            return ids, democity.plan(self.size.seed, self.size.city), seconds

        return await self.once("city", make)

    def pool(self) -> list[democity.UnitPlan]:
        if self._pool is None:
            self._pool = units_pool(self.size)
        return self._pool

    async def imported_estate(
        self, name: str, units: int, offset: int
    ) -> tuple[str, democity.EstatePlan, float, dict[str, Any]]:
        """A new estate of the bench company whose units and owners are `units` units of the
        generator's city from `offset` on, imported as a CSV; its plan, the import's seconds and
        its answer."""

        async def make() -> tuple[str, democity.EstatePlan, float, dict[str, Any]]:
            estate_id = await self.bare_estate(name)
            chosen = self.pool()[offset : offset + units]
            if len(chosen) < units:
                raise BenchError(f"the generator's city has fewer than {offset + units} units")
            plan = democity.EstatePlan(
                key=name,
                name=name,
                address="",
                community_key="",
                company_key="",
                company_starts_on=date(2020, 1, 1),
                approving_body=democity.ApprovingBodyPlan("committee", "", date(2020, 1, 1)),
                units=tuple(chosen),
            )
            started = time.perf_counter()
            done = await self.call(
                "POST",
                f"/api/v1/estates/{estate_id}/imports",
                await self.operator(),
                content=democity.render_csv(plan),
                headers={"Content-Type": "text/csv; charset=utf-8"},
            )
            return estate_id, plan, time.perf_counter() - started, done

        return await self.once(f"import:{name}", make)

    async def ledger_knows_units(self, token: str, estate_id: str, units: int) -> None:
        async def check() -> bool:
            got = await self.call("GET", f"/api/v1/estates/{estate_id}/fees/arrears", token)
            return int(got["units_total"]) == units

        await self.until(check, what=f"the ledger learning {units} units", within=600)

    async def set_rates(self, estate_id: str) -> None:
        rates = [
            {"unit_type": t, "fen_per_m2_month": r, "effective_from": "2020-01"}
            for t, r in (("residential", "250"), ("commercial", "480"), ("parking", "100/3"))
        ] + [{"unit_type": "other", "fen_per_m2_month": "150", "effective_from": "2020-01"}]
        path = f"/api/v1/estates/{estate_id}/fees/rates"
        await self.call("PUT", path, await self.operator(), json={"rates": rates})

    async def settle(self, *, idle: float = 0.05, within: float | None = None) -> float:
        """Waits until the platform is quiet: its processes, NATS and PostgreSQL together used
        under `idle` of a core over a second (what came before, an import's events say, still
        being applied would count against the next figure's time and CPU). Gives up after
        `within` seconds (a few at the smoke size, where tests share the platform) and goes on;
        returns the seconds waited."""
        within = within if within is not None else (3.0 if self.size.name == "smoke" else 120.0)
        meter = CpuMeter.of(self.platform)
        started = time.monotonic()
        last = meter.read()
        while time.monotonic() - started < within:
            await asyncio.sleep(1.0)
            now = meter.read()
            busy = sum(max(0.0, v - last.get(k, 0.0)) for k, v in now.items())
            last = now
            if busy < idle:
                break
        return time.monotonic() - started

    @staticmethod
    async def until(check: Callable[[], Awaitable[Any]], *, what: str, within: float = 120) -> Any:
        deadline = time.monotonic() + within
        last: object = None
        while time.monotonic() < deadline:
            try:
                got = await check()
                if got:
                    return got
            except BenchError as exc:
                last = exc
            await asyncio.sleep(0.1)
        raise BenchError(f"{what}: not within {within:.0f} s ({last})")


async def gather_limited(calls: Iterable[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Runs the calls with at most `limit` at once; results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


def _credit_code(tag: str) -> str:
    """A valid 统一社会信用代码 unique to the run."""
    digits = f"{int(tag, 16) % 10**8:08d}"
    return democity._credit_code("510107", digits)
