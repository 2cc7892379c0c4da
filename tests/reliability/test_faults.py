"""The platform under faults, each test on servers of its own: a service killed with SIGKILL,
NATS restarted and PostgreSQL stopped, each in the middle of a burst of postings, payment
requests, approvals and votes sent through the gateway the way a real client sends them
(retrying by idempotency key); and a hung service behind the gateway. Every accepted command
takes effect exactly once, in the owning service and in every read model, and nothing accepted
is lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.test_two_instances import count
from tests.poll import eventually
from tests.reliability.faults import (
    Accepted,
    City,
    Client,
    Figures,
    Tally,
    build_city,
    burst,
    check_exactly_once,
    own_platform,
    settle,
    total_commands,
)
from xinyi.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from xinyi_dev.platform import Platform
from xinyi_kit.migrate import SERVICES
from xinyi_kit.rpc import check_health
from xinyi_kit.service import LIVENESS

pytestmark = [pytest.mark.own_servers, pytest.mark.timeout(300)]


class Faults:
    """Runs the fault at set points of the burst, in a thread of its own."""

    def __init__(self, steps: list[tuple[float, Callable[[], None]]]) -> None:
        self.steps = steps
        self.done = 0
        self.injected = 0
        self.error: BaseException | None = None
        self._moved = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def progress(self, done: int) -> None:
        with self._moved:
            self.done = done
            self._moved.notify_all()

    def _reached(self, share: float) -> bool:
        return self.done >= share * total_commands()

    def _run(self) -> None:
        try:
            for share, fault in self.steps:
                with self._moved:
                    self._moved.wait_for(partial(self._reached, share))
                fault()
                self.injected += 1
        except BaseException as exc:  # reported by the test
            self.error = exc

    def __enter__(self) -> Faults:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(120)
        assert not self._thread.is_alive(), "the fault thread did not finish"
        if self.error is not None:
            raise self.error


def run(
    city: City, faults: Faults, then: Callable[[Accepted, Tally], None] | None = None
) -> Figures:
    """The burst with its faults, then (`then`) more commands, then the checks."""
    tally = Tally()
    started = time.monotonic()
    with faults:
        accepted = burst(city, tally, faults.progress)
    took = time.monotonic() - started
    if then is not None:
        then(accepted, tally)
    settle(city.platform)
    figures = check_exactly_once(city, accepted, tally)
    print(
        f"\n{faults.injected} faults injected; {figures.sent} commands sent, "
        f"{figures.accepted} accepted, lost {figures.lost}, applied twice "
        f"{figures.applied_twice}; retries {dict(tally.retried)}; burst {took:.1f}s; "
        f"{figures.applications} event applications checked"
    )
    assert figures.lost == figures.applied_twice == 0
    assert faults.injected == len(faults.steps)
    return figures


def kill_and_restart(platform: Platform, service: str) -> Callable[[], None]:
    def fault() -> None:
        assert platform.stop_process(service, signal.SIGKILL) == -signal.SIGKILL
        platform.start_service(service)

    return fault


def test_a_service_killed_mid_burst_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with own_platform(tmp_path) as platform:
        city = build_city(platform)
        settle(platform)
        faults = Faults(
            [
                (0.25, kill_and_restart(platform, "ledger")),
                (0.6, kill_and_restart(platform, "voting")),
            ]
        )
        figures = run(city, faults)
        assert figures.sent > figures.accepted - 1


def test_nats_restarted_mid_burst_outboxes_drain_and_consumers_catch_up_in_order(
    tmp_path: Path,
) -> None:
    with own_platform(tmp_path) as platform:
        city = build_city(platform)
        settle(platform)
        nats = platform.nats
        assert nats is not None
        held: list[int] = []

        def restart_nats() -> None:
            nats.stop()
            # Commands go on meanwhile: their events wait in the outboxes.
            time.sleep(3)
            held.append(unpublished(platform))
            nats.start()

        figures = run(city, Faults([(0.3, restart_nats)]))
        print(f"events held in the outboxes while NATS was down: {held[0]}")
        # Afterwards every outbox is drained (settled in `run`), every stream holds each event
        # once and every consumer applied each estate's events 1..n (checked in `run`).
        assert unpublished(platform) == 0
        assert figures.applications > 0


def unpublished(platform: Platform) -> int:
    return sum(
        count(platform, f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL")
        for s in SERVICES
    )


def test_postgres_stopped_mid_burst_services_say_not_ready_refuse_retryably_and_recover(
    tmp_path: Path,
) -> None:
    with own_platform(tmp_path) as platform:
        city = build_city(platform)
        settle(platform)
        pg = platform.pg
        assert pg is not None
        pids = {name: proc.popen.pid for name, proc in platform.procs.items() if proc.popen}
        seen: dict[str, Any] = {}
        estate = city.estates[1]
        refused: dict[str, Any] = {
            "source": "parking",
            "amount_fen": 101_999,
            "description": "停车费 停库时",
        }
        key = str(uuid.uuid4())

        def stop_postgres() -> None:
            pg.stop()
            base = platform.gateway_url
            health = eventually(
                lambda: (
                    (h := httpx.get(f"{base}/healthz", timeout=30)).status_code == 503
                    and all(s["state"] == "NOT_SERVING" for s in h.json()["services"].values())
                    and h
                ),
                timeout=60,
                what="every service to say it is not ready",
            )
            seen["health"] = health.json()  # type: ignore[attr-defined]
            with city.api("accountant") as acc:
                reply = acc.post(
                    f"/estates/{estate}/ledger/entries",
                    json=refused,
                    headers={"Idempotency-Key": key},
                )
            seen["write"] = (reply.status_code, dict(reply.headers), reply.json())
            seen["grpc"] = asyncio.run(post_directly(platform, city.tokens["accountant"], estate))
            # Not ready is not dead: liveness probes (and so restarts) leave the services be,
            # and the gateway itself, which needs no database, stays ready.
            seen["liveness"] = asyncio.run(liveness(platform.address("ledger")))
            seen["gateway"] = httpx.get(f"{base}/readyz", timeout=30).status_code
            pg.start()
            eventually(
                lambda: httpx.get(f"{base}/healthz", timeout=30).status_code == 200,
                timeout=90,
                what="every service to be ready again",
            )

        def retry_the_refused(accepted: Accepted, tally: Tally) -> None:
            # The client retries the refused posting with its key: applied once, now.
            client = Client(city.base, city.tokens["accountant"], tally)
            try:
                entry = client.send("POST", f"/estates/{estate}/ledger/entries", refused, key=key)
            finally:
                client.close()
            assert entry.status_code == 201, entry.text
            accepted.incomes[estate].append(refused["amount_fen"])
            accepted.entry_ids[estate].add(entry.json()["entry_id"])

        figures = run(city, Faults([(0.3, stop_postgres)]), retry_the_refused)
        status, headers, problem = seen["write"]
        assert status == 503, problem
        assert headers["content-type"] == "application/problem+json"
        assert int(headers["retry-after"]) >= 1
        assert "database" in problem["detail"] and "try again" in problem["detail"], problem
        assert seen["grpc"] == grpc.StatusCode.UNAVAILABLE
        assert seen["liveness"] == "SERVING"
        assert seen["gateway"] == 200
        # The same processes serve again: none restarted itself or was restarted.
        assert {n: p.popen.pid for n, p in platform.procs.items() if p.popen} == pids
        assert all(p.popen.poll() is None for p in platform.procs.values() if p.popen)
        assert figures.lost == 0


async def liveness(address: str) -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        return await check_health(channel, service=LIVENESS)


async def post_directly(platform: Platform, token: str, estate: str) -> grpc.StatusCode:
    """The ledger's own answer to a posting while its database is down."""
    async with grpc.aio.insecure_channel(platform.address("ledger")) as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        try:
            await stub.PostIncome(
                ledger_pb2.PostIncomeRequest(
                    estate_id=estate, source="parking", amount_fen=1, description="直连"
                ),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=30,
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


HUNG_REQUESTS = 1_000
WARM_UP = 200  # requests before the first measure: pools, caches and the allocator warm
IN_FLIGHT = 100
# What may grow across the 1,000 requests. A leak per request (a call never cancelled, its task,
# its socket, its buffers of some kilobytes) would show as hundreds of tasks or descriptors and
# tens of megabytes; these bounds leave room for the allocator's and the server's own noise.
TIMED_OUT = "a service did not answer in time; try again shortly"
UNAVAILABLE = "a service is unavailable; try again shortly"
# gRPC's own thread pool grows with load and shrinks when idle (seen: 14 -> 43 and 43 -> 16
# across the same 1,000 requests), so threads get a bound that a thread per request would
# still break many times over.
MAX_GROWTH = {"tasks": 10, "fds": 10, "sockets": 10, "threads": 64, "rss_kib": 16 * 1024}


def test_a_hung_service_gets_504_quickly_and_leaves_nothing_behind_in_the_gateway(
    tmp_path: Path,
) -> None:
    # The gateway's deadline on each call: one second, so 1,000 calls take seconds, not minutes.
    with own_platform(tmp_path, {"XINYI_CALL_TIMEOUT_SECONDS": "1"}) as platform:
        base = platform.gateway_url
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            json={"username": "operator", "password": platform.operator_password},
            timeout=30,
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        estate = httpx.post(
            f"{base}/api/v1/estates", json={"name": "挂起测试小区"}, headers=auth, timeout=30
        ).json()["estate_id"]
        ballots = f"{base}/api/v1/estates/{estate}/ballots"
        eventually(
            lambda: httpx.get(ballots, headers=auth, timeout=30).status_code == 200,
            what="voting to learn of the estate",
        )
        gateway = platform.procs["gateway"].popen
        voting = platform.procs["voting"].popen
        assert gateway is not None and voting is not None
        os.kill(voting.pid, signal.SIGSTOP)
        try:
            warm = asyncio.run(hammer(ballots, auth, WARM_UP))
            before = settled(base, gateway.pid, None)
            answers = asyncio.run(hammer(ballots, auth, HUNG_REQUESTS))
            after = settled(base, gateway.pid, before)
        finally:
            os.kill(voting.pid, signal.SIGCONT)
        seen = Counter(warm + answers)
        print(f"\nanswers while voting hung: {dict(seen)}")
        print(f"gateway before {before}\ngateway after  {after}")
        # Each call ends at the gateway's deadline (504). A call may instead end when the
        # channel's keepalive finds the connection dead (after some 50 s of silence): 503, which
        # is as retryable; what never comes is a hang, a 500 or the transport's own words.
        assert set(seen) <= {(504, TIMED_OUT), (503, UNAVAILABLE)}, seen
        assert seen[(504, TIMED_OUT)] > 0
        for name, bound in MAX_GROWTH.items():
            assert after[name] - before[name] <= bound, (name, before, after)
        # Voting, going on, answers again through the same gateway.
        eventually(
            lambda: httpx.get(ballots, headers=auth, timeout=30).status_code == 200,
            timeout=60,
            what="voting to answer again",
        )


async def hammer(url: str, headers: dict[str, str], n: int) -> list[tuple[int, str]]:
    """`n` requests, `IN_FLIGHT` at a time; each answer's status and problem detail. The client's
    own timeout (30 s) is a bound on "quickly" far above the gateway's one-second deadline."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(headers=headers, timeout=30, limits=limits) as client:

        async def one() -> tuple[int, str]:
            async with slots:
                for attempt in range(3):
                    try:
                        reply = await client.get(url)
                        break
                    except httpx.RemoteProtocolError:
                        # The server closed an idle kept-alive connection just as the client
                        # sent on it (HTTP/1.1's known race); a client sends a GET again.
                        if attempt == 2:
                            raise
            assert reply.headers["content-type"] == "application/problem+json", reply.text
            assert reply.status_code != 503 or int(reply.headers["retry-after"]) >= 1
            return reply.status_code, str(reply.json()["detail"])

        return list(await asyncio.gather(*(one() for _ in range(n))))


def measure(base: str, pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    fds = os.listdir(f"/proc/{pid}/fd")
    sockets = 0
    for fd in fds:
        with contextlib.suppress(OSError):
            sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    scraped = httpx.get(f"{base}/metrics", timeout=30).text
    tasks = next(
        float(line.split()[-1])
        for line in scraped.splitlines()
        if line.startswith("xinyi_gateway_asyncio_tasks ")
    )
    return {
        # The scrape itself is one task of the count.
        "tasks": int(tasks),
        "fds": len(fds),
        "sockets": sockets,
        "threads": int(fields["Threads"]),
        "rss_kib": int(fields["VmRSS"].split()[0]),
    }


def settled(base: str, pid: int, before: dict[str, int] | None) -> dict[str, int]:
    """The gateway's figures once its clients' connections have closed: measured until they
    stop falling (or, after the run, are within bounds of `before`)."""
    last = measure(base, pid)

    def steady() -> dict[str, int] | None:
        nonlocal last
        now = measure(base, pid)
        if before is not None:
            within = all(now[k] - before[k] <= bound for k, bound in MAX_GROWTH.items())
            last = now
            return now if within else None
        done = now["sockets"] >= last["sockets"] and now["tasks"] >= last["tasks"]
        last = now
        return now if done else None

    try:
        return eventually(steady, timeout=20, interval=0.5, what="the gateway to settle")
    except AssertionError:
        return last
