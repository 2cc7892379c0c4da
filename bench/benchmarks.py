"""The benchmarks of issue 13, each a coroutine that prepares what it needs through the world,
measures, checks its counts (a wrong count raises: a fast wrong answer is no figure) and returns
its figures beside the run's baselines and the issue's targets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from bench import baselines
from bench.harness import (
    CpuMeter,
    Figure,
    Load,
    MemorySampler,
    Request,
    at_least,
    at_most,
    figure,
    http_load,
    percentile,
    run_load,
)
from bench.world import BenchError, World, gather_limited
from xinyi.ledger.v1 import fees_pb2, ledger_pb2, ledger_pb2_grpc
from xinyi_dev import democity

DAY = 24 * 3600
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class Baselines:
    """The machine's limits measured once per run, each when a benchmark first needs it."""

    world: World
    values: dict[str, Any] = field(default_factory=dict)

    async def copy(self) -> tuple[str, float]:
        async def make() -> float:
            return await baselines.copy_entries(self._dsn(), self.world.size.copy_entries)

        return "raw COPY entries/s", await self.world.once("baseline:copy", make)

    async def per_tx(self) -> tuple[str, float]:
        async def make() -> float:
            return await baselines.entry_per_transaction(
                self._dsn(), self.world.size.per_tx_entries
            )

        return "raw 1 tx/entry entries/s", await self.world.once("baseline:per_tx", make)

    async def nats(self) -> dict[str, float]:
        async def make() -> dict[str, float]:
            url = self.world.platform.nats_url
            assert url is not None
            return await baselines.nats_publish(url, self.world.size.nats_messages)

        return await self.world.once("baseline:nats", make)

    async def grpc(self) -> Load:
        async def make() -> Load:
            return await asyncio.to_thread(baselines.grpc_round_trip, self.world.size.grpc_calls)

        return await self.world.once("baseline:grpc", make)

    async def fastapi(self) -> dict[str, Load]:
        async def make() -> dict[str, Load]:
            return await asyncio.to_thread(
                baselines.fastapi_endpoint, self.world.size.http_requests
            )

        return await self.world.once("baseline:fastapi", make)

    def _dsn(self) -> str:
        pg = self.world.platform.pg
        if pg is not None:
            return str(pg.url("postgres"))
        return self.world.platform.admin_url

    def figures(self) -> list[Figure]:
        """Every baseline measured in this run, as figures of their own."""
        done = self.world._done
        rows: list[tuple[str, float, str, dict[str, float]]] = []
        if "baseline:copy" in done:
            rows.append(
                ("raw asyncpg COPY, 1,000 entries/tx", done["baseline:copy"], "entries/s", {})
            )
        if "baseline:per_tx" in done:
            rows.append(
                ("raw asyncpg, 1 transaction per entry", done["baseline:per_tx"], "entries/s", {})
            )
        if "baseline:nats" in done:
            n = done["baseline:nats"]
            rows.append(
                (
                    "NATS JetStream publish, each acked",
                    n["each_per_second"],
                    "msg/s",
                    {"p99_ms": n["each_p99_ms"]},
                )
            )
            rows.append(("NATS JetStream publish, 256 in flight", n["pipelined"], "msg/s", {}))
        if "baseline:grpc" in done:
            g = done["baseline:grpc"]
            rows.append(
                (
                    "bare grpc.aio round trip, 32 concurrent",
                    g.per_second,
                    "calls/s",
                    {"p50_ms": g.p50_ms, "p99_ms": g.p99_ms},
                )
            )
        if "baseline:fastapi" in done:
            w, one = done["baseline:fastapi"]["wide"], done["baseline:fastapi"]["single"]
            rows.append(
                (
                    "bare FastAPI endpoint, 64 connections",
                    w.per_second,
                    "req/s",
                    {"p99_ms": w.p99_ms},
                )
            )
            rows.append(("bare FastAPI endpoint, 1 connection, p95", one.p95_ms, "ms", {}))
        return [
            Figure("baseline", name, value, unit, detail=extra) for name, value, unit, extra in rows
        ]


Bench = Callable[[World, Baselines], Awaitable[list[Figure]]]


# -- ledger ---------------------------------------------------------------------------------------
async def _postings(world: World, estates: list[str], count: int, concurrency: int) -> Load:
    token = await world.accountant()
    async with world.ledger_channel() as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        replies: list[str] = []

        async def call(n: int) -> None:
            entry = await stub.PostIncome(
                ledger_pb2.PostIncomeRequest(
                    estate_id=estates[n % len(estates)],
                    source="parking",
                    amount_fen=100 + n,
                    description="bench",
                ),
                metadata=metadata,
                timeout=60,
            )
            replies.append(entry.entry_id)

        load = await run_load(call, count, concurrency)
    if load.errors or len(set(replies)) != count:
        raise BenchError(f"{count} postings: {load.errors} failed, {len(set(replies))} entries")
    return load


async def ledger(world: World, base: Baselines) -> list[Figure]:
    """Single PostIncome calls through gRPC at 32 concurrent clients, across the estates and
    within one (its chain serialises), beside one transaction per entry; then the batched case."""
    size = world.size
    estates = await world.bare_estates(size.posting_estates)
    per_tx = await base.per_tx()
    grpc = await base.grpc()
    await world.settle()
    meter = CpuMeter.of(world.platform)
    before = meter.read()
    across = await _postings(world, estates, size.postings, 32)
    cpu = CpuMeter.per_operation(before, meter.read(), across.count)
    within = await _postings(world, estates[:1], size.postings_within, 32)
    name = f"PostIncome, 32 clients, {len(estates)} estates"
    figures = [
        figure("ledger", name, across.per_second, "postings/s", baseline=per_tx,
               target=at_least(1000, "≥ 1,000/s"), p50_ms=across.p50_ms, count=across.count,
               cpu_ms_per_posting=cpu),
        figure("ledger", f"{name}, p99", across.p99_ms, "ms",
               baseline=("bare gRPC p99 ms", grpc.p99_ms), target=at_most(50, "< 50 ms")),
        figure("ledger", "PostIncome, 32 clients, one estate", within.per_second, "postings/s",
               baseline=per_tx, target=at_least(300, "≥ 300/s"), p50_ms=within.p50_ms,
               p99_ms=within.p99_ms, count=within.count),
    ]  # fmt: skip
    return figures + await ledger_batched(world, base, estates)


async def ledger_batched(world: World, base: Baselines, estates: list[str]) -> list[Figure]:
    """BatchPostIncome across the estates, 8 clients with batches of 100, beside the raw COPY
    of the same rows; at least 0.2 × COPY. Every posting must come back an entry."""
    copy = await base.copy()
    count, batch = world.size.batch_entries, 100
    token = await world.accountant()
    entries: set[str] = set()
    async with world.ledger_channel() as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)

        async def call(n: int) -> None:
            first = n * batch
            reply = await stub.BatchPostIncome(
                ledger_pb2.BatchPostIncomeRequest(
                    postings=[
                        ledger_pb2.PostIncomeRequest(
                            estate_id=estates[i % len(estates)],
                            source="parking",
                            amount_fen=100 + i,
                            description="bench batch",
                        )
                        for i in range(first, min(first + batch, count))
                    ]
                ),
                metadata=metadata,
                timeout=300,
            )
            for result in reply.results:
                if result.WhichOneof("outcome") != "entry":
                    raise BenchError(f"a batched posting was refused: {result.error.message}")
                entries.add(result.entry.entry_id)

        await world.settle()
        meter = CpuMeter.of(world.platform)
        before = meter.read()
        load = await run_load(call, -(-count // batch), 8)
        cpu = CpuMeter.per_operation(before, meter.read(), count)
    if load.errors or len(entries) != count:
        raise BenchError(
            f"{count} batched postings: {load.errors} calls failed, {len(entries)} entries"
        )
    per_second = count / load.seconds
    return [
        figure("ledger", f"BatchPostIncome, 8 clients × {batch}, {len(estates)} estates",
               per_second, "entries/s", baseline=copy,
               target=at_least(0.2 * copy[1], "≥ 0.2 × COPY"), calls_p99_ms=load.p99_ms,
               count=count, cpu_ms_per_entry=cpu),
    ]  # fmt: skip


# -- month-end ------------------------------------------------------------------------------------
async def month_end(world: World, base: Baselines) -> list[Figure]:
    """The generator's city (through the API), then this month's fee assessment of every estate
    through the ledger's gRPC API, 4 estates at a time; every unit must be assessed."""
    ids, city, seeded = await world.city()
    op = await world.operator()
    companies = set()
    for estate_id in ids:
        shown = await world.call("GET", f"/api/v1/estates/{estate_id}", op)
        companies.add(shown["company_id"])

    async def make_accountant() -> str:
        username = ""
        for n, company in enumerate(sorted(companies)):
            scope = {"company_id": company}
            if n == 0:
                username = await world.person("city-accountant", "company_accountant", scope)
            else:
                await world.grant(username, "company_accountant", scope)
        return username

    accountant = await world.once("city-accountant", make_accountant)
    world._tokens.pop(accountant, None)  # a token with every grant
    # A token lives 15 minutes and a city's month-end takes longer: each call takes the
    # current one (`sign_in` signs in again when the one it holds is 10 minutes old).
    for estate_id, plan in zip(ids, city.estates, strict=True):
        await world.ledger_knows_units(await world.sign_in(accountant), estate_id, len(plan.units))
        await world.set_rates(estate_id)
    period = datetime.now(SHANGHAI).strftime("%Y-%m")

    async def assess(estate_id: str) -> fees_pb2.Assessment:
        return await world.assess(await world.sign_in(accountant), estate_id, period)

    started = time.perf_counter()
    done = await gather_limited([lambda e=e: assess(e) for e in ids], 4)  # type: ignore[misc]
    seconds = time.perf_counter() - started
    assessed = sum(d.units_assessed for d in done)
    if assessed != city.unit_count:
        raise BenchError(f"assessed {assessed} of {city.unit_count} units")
    copy = await base.copy()
    return [
        figure("month-end", f"city seeded through the API ({len(ids)} estates)",
               city.unit_count / seeded, "units/s", seconds=seeded, units=city.unit_count),
        figure("month-end", f"fee assessment, {city.unit_count:,} units in {len(ids)} estates",
               assessed / seconds, "units/s", baseline=copy,
               target=at_least(100_000 / 60, "≥ 1,667/s (100,000 in 60 s)"),
               seconds=seconds, units=assessed, estates=len(ids)),
    ]  # fmt: skip


# -- onboarding -----------------------------------------------------------------------------------
async def onboarding(world: World, base: Baselines) -> list[Figure]:
    """A CSV import of an estate through the gateway; a bank statement of the fund's account
    through the ledger's gRPC API, every line matched to the entry posted for it."""
    size = world.size
    _, plan, seconds, done = await world.imported_estate("onboarding", size.import_units, 0)
    if done["changes"]["units_added"] != len(plan.units):
        raise BenchError(f"import: {done['changes']} for {len(plan.units)} units")
    copy = await base.copy()
    figures = [
        figure("onboarding", f"CSV import of a {len(plan.units):,}-unit estate",
               len(plan.units) / seconds, "units/s", baseline=copy, seconds=seconds),
    ]  # fmt: skip
    return figures + await statement(world, base)


GENERIC_HEADER = (
    "booking_date,value_date,amount,currency,counterparty_name,counterparty_account,reference,"
    "bank_reference,narrative,balance,account"
)


async def statement(world: World, base: Baselines) -> list[Figure]:
    lines = world.size.statement_lines
    token, estate_id, content = await prepared_statement(world, lines)
    started = time.perf_counter()
    done = await world.import_statement(token, estate_id, content)
    seconds = time.perf_counter() - started
    if (done.lines_new, done.lines_matched) != (lines, lines):
        raise BenchError(f"statement of {lines} lines: {done}")
    return [
        figure("onboarding", f"bank statement of {lines:,} lines imported and matched",
               lines / seconds, "lines/s", baseline=await base.copy(), seconds=seconds),
    ]  # fmt: skip


async def prepared_statement(
    world: World, lines: int, name: str = "statement"
) -> tuple[str, str, bytes]:
    """(a fresh accountant's token, an estate, a generic CSV statement of `lines` lines): each
    line of an amount of its own, for an income posted to the estate for it, so each is matched."""
    estate_id = await world.bare_estate(name)
    token = await world.accountant()
    today = datetime.now(SHANGHAI).date()
    first = today.replace(day=1)
    days = [(first + timedelta(days=n % today.day)).isoformat() for n in range(lines)]
    amounts = [(10_000 + n, days[n]) for n in range(lines)]  # each amount once: one fit per line
    await world.post_incomes(token, estate_id, amounts)
    token = await world.accountant(fresh=True)  # the import may take minutes
    rows, balance = [GENERIC_HEADER], 1_000_000
    for n, (fen, day) in sorted(enumerate(amounts), key=lambda x: (x[1][1], x[0])):
        balance += fen
        rows.append(
            f"{day},{day},{fen / 100:.2f},CNY,业主{n},62220210011{n:08d},FEE-{n},"
            f"BENCH{n:010d},物业费 {n},{balance / 100:.2f},51050142620800001234"
        )
    return token, estate_id, ("\n".join(rows) + "\n").encode()


# -- disclosure -----------------------------------------------------------------------------------
async def disclosure(world: World, base: Baselines) -> list[Figure]:
    """The monthly report of an estate with a year of entries through the gateway (warm, one
    request at a time), and the lag from a posting's reply to the report showing it."""
    size = world.size
    estate_id, plan, _, _ = await world.imported_estate(
        "report", size.report_units, size.import_units
    )
    token = await world.accountant()
    await world.ledger_knows_units(token, estate_id, len(plan.units))
    await world.set_rates(estate_id)
    today = datetime.now(SHANGHAI).date()
    months = [_month_back(today.replace(day=1), n) for n in range(11, -1, -1)]
    for month in months:  # tokens live 15 minutes: a city-sized year takes longer
        await world.assess(await world.accountant(), estate_id, month.strftime("%Y-%m"))
    incomes = []
    for n in range(size.report_entries):
        month = months[n % 12]
        day = month.replace(day=1 + n // 12 % 28)
        if day <= today:
            incomes.append((5_000 + n, day.isoformat()))
    await world.post_incomes(await world.accountant(), estate_id, incomes)
    token = await world.accountant(fresh=True)
    period = today.strftime("%Y-%m")
    path = f"/api/v1/estates/{estate_id}/reports/monthly/{period}"
    headers = {"Authorization": f"Bearer {token}"}
    expected = sum(fen for fen, day in incomes if day.startswith(period))

    async def income() -> int:
        """The month's income of the source posted here (fees assessed are income too)."""
        report = await world.call("GET", path, token)
        return sum(int(g["amount_fen"]) for g in report["income"] if g["source"] == "other")

    await world.until(lambda: _equals(income, expected), what="the report of the year", within=600)
    await http_load(world.base, lambda _: Request("GET", path, headers), 5, 1)  # warm up
    warm = await http_load(
        world.base, lambda _: Request("GET", path, headers), size.report_requests, 1
    )
    if warm.errors:
        raise BenchError(f"monthly report: {warm.errors} failed")
    reached, shown = await _lags(world, token, estate_id, income, expected)
    single = (await base.fastapi())["single"].p95_ms
    nats = await base.nats()
    return [
        figure("disclosure", f"monthly report, {len(plan.units):,} units, a year of entries, p95",
               warm.p95_ms, "ms", baseline=("bare FastAPI p95 ms", single),
               target=at_most(100, "< 100 ms"), p50_ms=warm.p50_ms, entries=len(incomes)),
        figure("disclosure", "event lag, posting to report, p99", percentile(sorted(reached), 99),
               "ms", baseline=("NATS acked publish p99 ms", nats["each_p99_ms"]),
               target=at_most(1000, "< 1 s"), samples=len(reached),
               median_ms=percentile(sorted(reached), 50),
               until_shown_p99_ms=percentile(sorted(shown), 99)),
    ]  # fmt: skip


async def _equals(read: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await read() == expected


async def _lags(
    world: World, token: str, estate_id: str, income: Callable[[], Awaitable[int]], total: int
) -> tuple[list[float], list[float]]:
    """Posts one income at a time and reads the report until it shows it. Per posting, ms from
    its reply to the start of the first report request that showed it (the event's way into
    the read model, to within one report request), and to that request's end."""
    reached, shown = [], []
    for n in range(world.size.lag_samples):
        fen = 900_000 + n
        await world.post_incomes(token, estate_id, [(fen, "")], concurrency=1)
        posted = time.perf_counter()
        total += fen
        while True:
            asked = time.perf_counter()
            if await income() == total:
                break
            if asked - posted > 60:
                raise BenchError("a posting did not reach the report within 60 s")
        reached.append((asked - posted) * 1000)
        shown.append((time.perf_counter() - posted) * 1000)
    return reached, shown


def _month_back(first: Any, n: int) -> Any:
    year, month = divmod(first.year * 12 + first.month - 1 - n, 12)
    return first.replace(year=year, month=month + 1)


# -- gateway --------------------------------------------------------------------------------------
async def gateway(world: World, base: Baselines) -> list[Figure]:
    """Authenticated reads (an estate, one gRPC hop behind the gateway) at 64 connections,
    beside the bare FastAPI endpoint driven by the same load generator."""
    estate_id = (await world.bare_estates(world.size.posting_estates))[0]
    token = await world.accountant()
    headers = {"Authorization": f"Bearer {token}"}

    def read(_: int) -> Request:
        return Request("GET", f"/api/v1/estates/{estate_id}", headers)

    count = world.size.http_requests
    await http_load(world.base, read, min(count, 500), 64)  # warm up
    await world.settle()
    meter = CpuMeter.of(world.platform)
    before = meter.read()
    load = await http_load(world.base, read, count, 64)
    cpu = CpuMeter.per_operation(before, meter.read(), count)
    if load.errors:
        raise BenchError(f"gateway reads: {load.errors} of {count} failed")
    bare = (await base.fastapi())["wide"]
    return [
        figure("gateway", "authenticated reads, 64 connections", load.per_second, "req/s",
               baseline=("bare FastAPI req/s", bare.per_second), p50_ms=load.p50_ms,
               cpu_ms_per_read=cpu),
        figure("gateway", "authenticated reads, 64 connections, p99", load.p99_ms, "ms",
               baseline=("bare FastAPI p99 ms", bare.p99_ms)),
    ]  # fmt: skip


# -- voting ---------------------------------------------------------------------------------------
# Accounts made or signed in at once: each is a password hash, and identity hashes one per core
# at a time; more in flight only wait in its queue, against the gateway's 5 s deadline (a 504 on
# a loaded machine).
PASSWORD_HASHES = 2


async def voting(world: World, base: Baselines) -> list[Figure]:
    """The onboarding estate's owners vote through the gateway at 64 connections (a tenth of
    them a second time at once); every voter must be counted exactly once. Then the count."""
    size = world.size
    estate_id, plan, _, _ = await world.imported_estate("onboarding", size.import_units, 0)
    holders = _voters(plan, size.voters)
    scope = {"estate_id": estate_id}
    chair = await world.person("chair", "committee_chair", scope)
    names = await gather_limited(
        [lambda n=n, h=h: world.person(f"owner-{n}", "owner", scope, h.phone)  # type: ignore[misc]
         for n, h in enumerate(holders)], PASSWORD_HASHES,
    )  # fmt: skip
    now = datetime.now(UTC)
    path = f"/api/v1/estates/{estate_id}/ballots"
    token = await world.sign_in(chair)
    ballot = await world.call("POST", path, token, json={
        "title": "基准表决", "questions": [{"question_id": "q", "text": "续聘", "matter_class": 4}],
    })  # fmt: skip
    b = ballot["ballot_id"]
    await world.call("POST", f"{path}/{b}/announce", token, json={
        "voting_opens_at": (now + timedelta(days=15, hours=1)).isoformat(),
        "voting_closes_at": (now + timedelta(days=20)).isoformat(),
    })  # fmt: skip
    try:
        world.move_clock(15 * DAY + 2 * 3600)
        opened = await world.call("POST", f"{path}/{b}/open", await world.sign_in(chair))
        if opened["roll_units"] != len(plan.units):
            raise BenchError(f"roll of {opened['roll_units']} units, {len(plan.units)} planned")
        signing_in = [lambda u=u: world.sign_in(u) for u in names]
        tokens = await gather_limited(signing_in, PASSWORD_HASHES)
        again = tokens[: max(1, len(tokens) // 10)]
        casts = tokens + again
        statuses: list[int] = []

        def cast(n: int) -> Request:
            answer = "yes" if n % 3 else "no"
            return Request(
                "PUT",
                f"{path}/{b}/vote",
                {"Authorization": f"Bearer {casts[n]}"},
                {"choices": [{"question_id": "q", "answer": answer}]},
            )

        # A vote is idempotent (the same choice again supersedes the receipt with an equal
        # one), so a 504 (the gateway's 5 s deadline passed) is sent again, as a client would.
        await world.settle()
        meter = CpuMeter.of(world.platform)
        before = meter.read()
        load = await http_load(world.base, cast, len(casts), 64, statuses=statuses, retry=(504,))
        cpu = CpuMeter.per_operation(before, meter.read(), len(casts))
        shown = await world.call("GET", f"{path}/{b}", await world.sign_in(chair))
        counted = int(shown["receipts_counted"])
        lost, double = max(0, len(holders) - counted), max(0, counted - len(holders))
        if load.errors or lost or double:
            raise BenchError(
                f"{len(holders)} voters: {load.errors} refused, {counted} counted "
                f"(statuses {sorted(set(statuses))})"
            )
        world.move_clock(20 * DAY + 3600)
        chair_token = await world.sign_in(chair)
        started = time.perf_counter()
        closed = await world.call("POST", f"{path}/{b}/close", chair_token)
        tally = time.perf_counter() - started
        result = await world.call("GET", f"{path}/{b}/result", chair_token)
    finally:
        world.move_clock(0)
    receipts = result["document"]["questions"][0]["receipts"]
    if closed["receipts_counted"] != len(holders) or len(receipts) != len(holders):
        raise BenchError(f"the count: {closed['receipts_counted']} receipts, {len(receipts)} shown")
    bare = (await base.fastapi())["wide"]
    return [
        figure("voting", f"{len(holders):,} owners casting, 64 connections", load.per_second,
               "votes/s", baseline=("bare FastAPI req/s", bare.per_second),
               target=at_least(500, "≥ 500/s"), p99_ms=load.p99_ms, casts=len(casts),
               counted=counted, lost=lost, double_counted=double,
               retried_504=statuses.count(504), cpu_ms_per_vote=cpu),
        figure("voting", f"tally of a {len(plan.units):,}-unit ballot ({counted:,} receipts)",
               len(plan.units) / tally, "units/s",
               target=at_least(100_000 / 2, "≥ 50,000/s (100,000 in 2 s)"), seconds=tally),
    ]  # fmt: skip


def _voters(plan: democity.EstatePlan, count: int) -> list[democity.OwnerPlan]:
    """One person per holder (co-owners of a unit vote together, an owner of two units once)."""
    seen: set[tuple[str, ...]] = set()
    voters = []
    for unit in plan.units:
        key = tuple(o.phone or o.name for o in unit.owners)
        if key in seen or unit.owners[0].kind != "person":
            continue
        seen.add(key)
        voters.append(unit.owners[0])
        if len(voters) == count:
            break
    return voters


# -- the steady mix -------------------------------------------------------------------------------
STEADY_POSTERS = 4  # gRPC clients posting income across the estates
STEADY_READERS = 4  # HTTP connections reading an estate
SIGN_IN_EVERY = 1.0  # seconds between two sign-ins (a password hash each)
STEADY_REPORTED = 200  # entries of the month the mix's report shows


async def steady(world: World, base: Baselines) -> list[Figure]:
    """A long run of the same mix throughout: postings across the estates, estate reads and an
    estate's monthly report through the gateway, and sign-ins, at a fixed concurrency for
    `steady_seconds` after a warm-up. The resident set size of every process is sampled every
    0.5 s of it; what a process holds at the end must be what it held at the start (at most
    5 % more from the first tenth of the samples to the last)."""
    size = world.size
    estates = await world.bare_estates(size.posting_estates)
    # The report's estate takes no postings in the mix: its report stays the same size, so what
    # a process holds at the end is not a larger report's buffers (disclosure's and the
    # gateway's high-water marks grew with it, over 1,000 entries by the end at city size).
    reported = await world.bare_estate("steady-report")
    token = await world.accountant()
    report = f"/api/v1/estates/{reported}/reports/monthly/{datetime.now(SHANGHAI):%Y-%m}"
    incomes = [(100 + n, "") for n in range(STEADY_REPORTED)]
    await world.post_incomes(token, reported, incomes)

    async def income() -> int:
        document = await world.call("GET", report, token)
        return sum(int(g["amount_fen"]) for g in document["income"] if g["source"] == "other")

    expected = sum(fen for fen, _ in incomes)
    await world.until(lambda: _equals(income, expected), what="the steady mix's report")
    done: dict[str, int] = {"postings": 0, "estate reads": 0, "reports": 0, "sign-ins": 0}
    failed: dict[str, str] = {}
    stop = asyncio.Event()

    async def repeat(kind: str, once: Callable[[int], Awaitable[None]]) -> None:
        n = 0
        while not stop.is_set():
            try:
                await once(n)
            except Exception as exc:  # reported below: the run goes on
                failed.setdefault(kind, f"{type(exc).__name__}: {exc}")
            else:
                done[kind] += 1
            n += 1

    async with world.ledger_channel() as channel, aiohttp.ClientSession(world.base) as http:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)

        async def post(n: int) -> None:
            await stub.PostIncome(
                ledger_pb2.PostIncomeRequest(
                    estate_id=estates[n % len(estates)], source="parking", amount_fen=100 + n,
                    description="steady mix",
                ),
                metadata=(("authorization", f"Bearer {await world.accountant()}"),), timeout=60,
            )  # fmt: skip

        def reading(path: str) -> Callable[[int], Awaitable[None]]:
            async def read(_: int) -> None:
                headers = {"Authorization": f"Bearer {await world.accountant()}"}
                async with http.get(path, headers=headers) as reply:
                    await reply.read()
                    if reply.status != 200:
                        raise BenchError(f"GET {path}: HTTP {reply.status}")

            return read

        async def sign_in(_: int) -> None:
            await world.accountant(fresh=True)
            await asyncio.sleep(SIGN_IN_EVERY)

        loops = [
            *(repeat("postings", post) for _ in range(STEADY_POSTERS)),
            *(repeat("estate reads", reading(f"/api/v1/estates/{estates[1]}"))
              for _ in range(STEADY_READERS)),
            repeat("reports", reading(report)),
            repeat("sign-ins", sign_in),
        ]  # fmt: skip
        warm_up = 1.0 if size.name == "smoke" else min(30.0, size.steady_seconds / 4)
        running = [asyncio.ensure_future(loop) for loop in loops]
        try:
            await asyncio.sleep(warm_up)
            counted_from = dict(done)
            # Growth only: the run's own sampler reads the kernel's peaks.
            sampler = MemorySampler(_service_pids(world), kernel=False)
            sampler.start()
            started = time.perf_counter()
            await asyncio.sleep(size.steady_seconds)
            seconds = time.perf_counter() - started
            sampler.stop()
        finally:
            stop.set()
            await asyncio.gather(*running)
    if failed:
        raise BenchError(f"the steady mix: {failed}")
    counts = {kind: done[kind] - counted_from[kind] for kind in done}
    figures = [
        figure("steady", f"mixed operations over {size.steady_seconds:,} s",
               sum(counts.values()) / seconds, "ops/s", warm_up_s=warm_up, operations=counts),
    ]  # fmt: skip
    for name, r in sorted(sampler.report().items()):
        figures.append(
            figure("steady", f"{name} RSS growth, first to last tenth", r["growth_percent"], "%",
                   target=at_most(5, "≤ 5 %"), first_mib=r["first_tenth_mib"],
                   last_mib=r["last_tenth_mib"], peak_mib=r["peak_mib"], samples=r["samples"])
        )  # fmt: skip
    return figures


def _service_pids(world: World) -> dict[str, int]:
    procs = world.platform.procs.items()
    return {name: p.popen.pid for name, p in procs if p.popen is not None}


# -- memory ---------------------------------------------------------------------------------------
def memory_figures(sampler: MemorySampler) -> list[Figure]:
    """Peak RSS per process over the whole run: at most 200 MiB a service, 250 MiB the gateway.
    (Whether memory grows is the steady mix's question: a run of phases, each making what the
    next one uses, grows by design.)"""
    figures = []
    for name, r in sorted(sampler.report().items()):
        limit = 250 if name.startswith("gateway") else 200
        figures.append(
            figure("memory", f"{name} peak RSS", r["peak_mib"], "MiB",
                   target=at_most(limit, f"≤ {limit} MiB"), samples=r["samples"],
                   peak_from=r["peak_from"], peak_mib_by_phase=r["peak_mib_by_phase"])
        )  # fmt: skip
    return figures


BENCHMARKS: dict[str, Bench] = {
    "ledger": ledger,
    "month-end": month_end,
    "onboarding": onboarding,
    "disclosure": disclosure,
    "gateway": gateway,
    "voting": voting,
    "steady": steady,
}
