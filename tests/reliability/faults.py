"""What the fault tests share: a platform on servers of its own that records every event a
consumer applies, a small city to work in, a burst of commands sent the way a real client sends
them (retrying by idempotency key until answered), and the checks that every accepted command
took effect exactly once everywhere."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp

from tests.e2e.test_two_instances import (
    CONSUMES,
    OBSERVER,
    _execute,
    _stream_counts,
    count,
    fetch,
    lagging,
)
from tests.identity.world import PASSWORD, credit_code, random_phone
from tests.poll import eventually
from xinyi_dev.embedded import free_port
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock
from xinyi_kit.migrate import SERVICES

OPERATOR_PASSWORD = "operator-faults"
DAY = 24 * 3600
ESTATES = 3
POSTINGS = 24  # income postings per estate in the burst
REQUESTS = 3  # payment requests per estate in the burst
APPROVALS = 2  # payments each approver approves in the burst (asked before it)
VOTERS = 10  # owners of the first estate, each voting once in the burst...
CHANGERS = 3  # ...and the first few changing their vote
WORKERS = 12  # commands in flight
APPROVERS = ("committee_chair", "committee_member")
RETRYABLE = (502, 503, 504)
GIVE_UP_SECONDS = 180.0  # a client's patience with one command, across every retry


@contextmanager
def own_platform(tmp_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[Platform]:
    """A whole platform on PostgreSQL and NATS of its own, with the observer of applications."""
    data_dir = tmp_path / "platform"
    plat = Platform(
        data_dir=data_dir,
        http_port=free_port(),
        bootstrap_password=OPERATOR_PASSWORD,
        extra_env={
            "XINYI_ENV": "test",
            "XINYI_TEST_CLOCK_FILE": str(data_dir / "clock-offset"),
            "XINYI_LOGIN_RATE_PER_MINUTE": "10000",
            "XINYI_DB_POOL_SIZE": "5",
            **(extra_env or {}),
        },
        log_sink=open(tmp_path / "platform.log", "w"),  # noqa: SIM115
    )
    try:
        plat.start_infrastructure()
        plat.migrate()
        asyncio.run(_execute(plat.admin_url, OBSERVER))
        plat.start_processes()
        yield plat
    finally:
        plat.stop()


def ok(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code in (200, 201, 204), f"{reply.request.url}: {reply.text}"
    return dict(reply.json()) if reply.content else {}


@dataclass
class Tally:
    """What the clients saw: commands sent, answers that asked for a retry, and by which code."""

    sent: int = 0
    retried: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def retry(self, why: str) -> None:
        with self.lock:
            self.retried[why] += 1


class Client:
    """One person's client: retries a command after a transport error or a 502/503/504 (waiting
    as Retry-After says) with the same idempotency key, as a real app would."""

    def __init__(self, base: str, token: str, tally: Tally) -> None:
        self.http = httpx.Client(
            base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.tally = tally

    def send(
        self, method: str, path: str, body: object = None, *, key: str | None = None
    ) -> httpx.Response:
        return self.attempt(method, path, body, key=key)[0]

    def attempt(
        self, method: str, path: str, body: object = None, *, key: str | None = None
    ) -> tuple[httpx.Response, int]:
        """The answer, and how many attempts before it were left unanswered."""
        with self.tally.lock:
            self.tally.sent += 1
        headers = {"Idempotency-Key": key} if key else {}
        give_up = time.monotonic() + GIVE_UP_SECONDS
        retries = 0
        while True:
            try:
                reply = self.http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as exc:
                why, wait = type(exc).__name__, 0.5
            else:
                if reply.status_code not in RETRYABLE:
                    return reply, retries
                assert reply.headers["content-type"] == "application/problem+json", reply.text
                why = str(reply.status_code)
                wait = min(float(reply.headers.get("retry-after", "0.5")), 2.0)
            assert time.monotonic() < give_up, f"{method} {path} unanswered: last {why}"
            self.tally.retry(why)
            retries += 1
            time.sleep(wait)

    def close(self) -> None:
        self.http.close()


@dataclass
class City:
    platform: Platform
    tag: str
    estates: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # who -> access token
    totp: dict[str, str] = field(default_factory=dict)  # approver -> secret
    ballot: str = ""
    voters: list[str] = field(default_factory=list)
    pending: dict[str, list[str]] = field(default_factory=dict)  # estate -> requests to approve
    offset: float = 0.0  # the platform clock's offset, only ever forward
    used_step: dict[str, int] = field(default_factory=dict)  # approver -> last TOTP step spent
    clock_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return self.platform.gateway_url

    def api(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base}/api/v1",
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=60,
        )

    def move(self, seconds: float) -> None:
        self.offset = seconds
        move_clock(self.platform.data_dir / "clock-offset", seconds)

    def code(self, who: str) -> str:
        """A code of a step `who` has not spent; moves the clock on to the next step if needed
        (or if the step is about to end). Approvers share steps, so the clock moves seldom."""
        with self.clock_lock:
            now = time.time() + self.offset
            while int(now // 30) <= self.used_step.get(who, -1) or now % 30 > 25:
                self.move(self.offset + 30 - now % 30 + 0.5)
                now = time.time() + self.offset
            self.used_step[who] = int(now // 30)
            return pyotp.TOTP(self.totp[who]).at(now)

    def signin(self, who: str, username: str, password: str = PASSWORD) -> None:
        reply = httpx.post(
            f"{self.base}/api/v1/auth/token",
            json={"username": username, "password": password},
            timeout=30,
        )
        self.tokens[who] = str(ok(reply)["access_token"])


def build_city(platform: Platform) -> City:
    """A company serving three estates, each with its chair and member (with authenticators)
    and a fund to pay from; the first estate's owners have a ballot open."""
    city = City(platform, uuid.uuid4().hex[:6])
    city.signin("operator", "operator", OPERATOR_PASSWORD)
    op = city.api("operator")

    def user(who: str, role: str, scope: dict[str, str], phone: str | None = None) -> str:
        username = f"{who}-{city.tag}"
        made = ok(
            op.post(
                "/users",
                json={
                    "username": username,
                    "display_name": who,
                    "password": PASSWORD,
                    **({"phone": phone} if phone else {}),
                },
            )
        )
        ok(op.post("/role-grants", json={"user_id": made["user_id"], "role": role, **scope}))
        return username

    district = ok(op.post("/districts", json={"name": f"武侯区{city.tag}"}))
    street = ok(op.post("/streets", json={"district_id": district["district_id"], "name": "玉林"}))
    community = ok(
        op.post("/communities", json={"street_id": street["street_id"], "name": "玉林北路"})
    )
    company = ok(
        op.post(
            "/companies",
            json={"name": f"锦诚物业{city.tag}", "credit_code": credit_code(city.tag)},
        )
    )["company_id"]
    phones = [random_phone() for _ in range(VOTERS)]
    roll = "building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number\n" + (
        "".join(
            f"1栋,1-{n + 101},residential,{80 + n}.50,业主{n},person,{phone},\n"
            for n, phone in enumerate(phones)
        )
    )
    for n in range(ESTATES):
        estate = ok(
            op.post(
                "/estates",
                json={"name": f"容错小区{n}{city.tag}", "community_id": community["community_id"]},
            )
        )["estate_id"]
        ok(
            op.put(
                f"/estates/{estate}/company",
                json={"company_id": company, "starts_on": "2020-01-01"},
            )
        )
        city.estates.append(estate)
    first = city.estates[0]
    ok(
        op.post(
            f"/estates/{first}/imports",
            content=roll.encode(),
            headers={"content-type": "text/csv"},
        )
    )
    voter_names = [
        user(f"voter-{n}", "owner", {"estate_id": first}, phones[n]) for n in range(VOTERS)
    ]
    usernames = {
        f"{role}-{n}": user(f"{role}-{n}", role, {"estate_id": estate})
        for n, estate in enumerate(city.estates)
        for role in APPROVERS
    }
    usernames["accountant"] = user("accountant", "company_accountant", {"company_id": company})
    op.close()

    # The ballot is announced now and opens 15 days later: the platform's clock moves there,
    # and everything after happens at that time (tokens too).
    city.signin("committee_chair-0", usernames["committee_chair-0"])
    chair = city.api("committee_chair-0")
    ballots = f"/estates/{first}/ballots"
    eventually(lambda: chair.get(ballots).status_code == 200, what="voting to learn of the estate")
    ballot = ok(
        chair.post(
            ballots,
            json={
                "title": "续聘物业",
                "questions": [{"question_id": "q", "text": "续聘", "matter_class": 4}],
            },
        )
    )["ballot_id"]
    now = datetime.now(UTC)
    ok(
        chair.post(
            f"{ballots}/{ballot}/announce",
            json={
                "voting_opens_at": (now + timedelta(days=15, hours=1)).isoformat(),
                "voting_closes_at": (now + timedelta(days=20)).isoformat(),
            },
        )
    )
    chair.close()
    city.move(15 * DAY + 2 * 3600)
    for who, username in usernames.items():
        city.signin(who, username)
    for n, username in enumerate(voter_names):
        city.signin(f"voter-{n}", username)
        city.voters.append(f"voter-{n}")
    with city.api("committee_chair-0") as chair:
        opened = ok(chair.post(f"{ballots}/{ballot}/open"))
    assert opened["roll_units"] == VOTERS, opened
    city.ballot = ballot
    for n in range(ESTATES):
        for role in APPROVERS:
            who = f"{role}-{n}"
            with city.api(who) as c:
                secret = ok(c.post("/me/totp"))["secret"]
                city.totp[who] = secret
                ok(c.post("/me/totp/confirm", json={"code": city.code(who)}))
    with city.api("accountant") as acc:
        for estate in city.estates:
            ok(
                acc.post(
                    f"/estates/{estate}/ledger/entries",
                    json={"source": "parking", "amount_fen": 5_000_000, "description": "期初"},
                )
            )
            city.pending[estate] = [
                ok(
                    acc.post(
                        f"/estates/{estate}/disbursements",
                        json={
                            "amount_fen": 10_000 + i,
                            "payee": "成都电梯维保公司",
                            "purpose": f"事先申请 {i}",
                            "expense_code": "5005",
                        },
                    )
                )["disbursement_id"]
                for i in range(APPROVALS * len(APPROVERS))
            ]
    return city


@dataclass
class Accepted:
    """The commands the platform accepted (answered 2xx, perhaps after retries)."""

    incomes: dict[str, list[int]] = field(default_factory=dict)  # estate -> amounts
    entry_ids: dict[str, set[str]] = field(default_factory=dict)
    requests: dict[str, list[str]] = field(default_factory=dict)  # estate -> purposes
    approvals: dict[str, str] = field(default_factory=dict)  # disbursement -> approver's username
    votes: Counter[str] = field(default_factory=Counter)  # voter -> votes accepted
    lock: threading.Lock = field(default_factory=threading.Lock)


def burst(city: City, tally: Tally, progress: Callable[[int], None]) -> Accepted:
    """Postings, payment requests, approvals and votes, shuffled over `WORKERS` threads; calls
    `progress` with how many commands are done after each one."""
    accepted = Accepted()
    clients: dict[str, Client] = {
        who: Client(city.base, token, tally) for who, token in city.tokens.items()
    }
    done = [0]

    def finished() -> None:
        with accepted.lock:
            done[0] += 1
            n = done[0]
        progress(n)

    def income(n: int, i: int) -> None:
        estate, fen = city.estates[n], 100_000 + 1_000 * n + i
        reply = clients["accountant"].send(
            "POST",
            f"/estates/{estate}/ledger/entries",
            {"source": "parking", "amount_fen": fen, "description": f"停车费 {i}"},
            key=str(uuid.uuid4()),
        )
        entry = ok(reply)
        with accepted.lock:
            accepted.incomes.setdefault(estate, []).append(fen)
            accepted.entry_ids.setdefault(estate, set()).add(entry["entry_id"])
        finished()

    def request(n: int, i: int) -> None:
        estate, purpose = city.estates[n], f"突发申请 {n}-{i}"
        ok(
            clients["accountant"].send(
                "POST",
                f"/estates/{estate}/disbursements",
                {
                    "amount_fen": 2_000 + i,
                    "payee": "成都电梯维保公司",
                    "purpose": purpose,
                    "expense_code": "5005",
                },
                key=str(uuid.uuid4()),
            )
        )
        with accepted.lock:
            accepted.requests.setdefault(estate, []).append(purpose)
        finished()

    def approve(n: int, role: str) -> None:
        """One approver's payments, one after another. An approval has no idempotency key: the
        second factor is what makes it once. Where an attempt's fate is unknown, the retry's
        answer tells: approved already (it went through), or the code spent (identity took it
        but the ledger did not finish: the person types the next code)."""
        who = f"{role}-{n}"
        estate = city.estates[n]
        mine = city.pending[estate][APPROVALS * APPROVERS.index(role) :][:APPROVALS]
        for disbursement in mine:
            path = f"/estates/{estate}/disbursements/{disbursement}/approvals"
            unsure = False
            while True:
                reply, retries = clients[who].attempt("POST", path, {"totp": city.code(who)})
                unsure = unsure or retries > 0
                if reply.status_code == 200:
                    break
                if (
                    unsure
                    and reply.status_code == 422
                    and ("already" in reply.text or "is approved" in reply.text)
                ):
                    break
                if unsure and reply.status_code == 403 and "totp_invalid" in reply.text:
                    continue
                raise AssertionError(f"approval refused: {reply.status_code} {reply.text}")
            with accepted.lock:
                accepted.approvals[disbursement] = who
            finished()

    def vote(n: int) -> None:
        who = city.voters[n]
        path = f"/estates/{city.estates[0]}/ballots/{city.ballot}/vote"
        for answer in ("yes", "no")[: 2 if n < CHANGERS else 1]:
            ok(
                clients[who].send(
                    "PUT",
                    path,
                    {"choices": [{"question_id": "q", "answer": answer}]},
                    key=str(uuid.uuid4()),
                )
            )
            with accepted.lock:
                accepted.votes[who] += 1
            finished()

    calls: list[Callable[[], None]] = [
        *(lambda n=n, i=i: income(n, i) for n in range(ESTATES) for i in range(POSTINGS)),
        *(lambda n=n, i=i: request(n, i) for n in range(ESTATES) for i in range(REQUESTS)),
        *(lambda n=n, r=r: approve(n, r) for n in range(ESTATES) for r in APPROVERS),
        *(lambda n=n: vote(n) for n in range(VOTERS)),
    ]
    random.Random(12).shuffle(calls)
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            for future in [pool.submit(call) for call in calls]:
                future.result()
    finally:
        for c in clients.values():
            c.close()
    return accepted


def total_commands() -> int:
    return ESTATES * (POSTINGS + REQUESTS + APPROVALS * len(APPROVERS)) + VOTERS + CHANGERS


# -- checks ----------------------------------------------------------------------------------
def check_events(platform: Platform) -> int:
    """Every emitter's event log is 1..n per estate and reached its stream once; every consumer
    applied each estate's events once, in order. Returns the applications checked."""
    for emitter in SERVICES:
        gaps = fetch(
            platform,
            f"SELECT o.estate_id, count(*) AS n, min(o.seq) AS lo, max(o.seq) AS hi, s.last_seq "
            f"FROM {emitter}.outbox o JOIN {emitter}.outbox_sequence s USING (estate_id) "
            f"GROUP BY o.estate_id, s.last_seq "
            f"HAVING count(*) <> max(o.seq) OR min(o.seq) <> 1 OR max(o.seq) <> s.last_seq",
        )
        assert gaps == [], f"{emitter}'s event log has gaps: {gaps}"
    stored = asyncio.run(_stream_counts(platform.nats_url or ""))
    for emitter in SERVICES:
        events = count(platform, f"SELECT count(*) FROM {emitter}.outbox")
        assert stored[emitter] == events, f"{emitter}: {stored[emitter]} messages, {events} events"
    observed = fetch(
        platform,
        "SELECT consumer, source, estate_id, array_agg(seq ORDER BY id) AS seqs "
        "FROM observer.applied GROUP BY consumer, source, estate_id",
    )
    applied = {(r["consumer"], r["source"], str(r["estate_id"])): list(r["seqs"]) for r in observed}
    checked = 0
    for consumer, sources in CONSUMES.items():
        for source in sources:
            for row in fetch(platform, f"SELECT estate_id, last_seq FROM {source}.outbox_sequence"):
                seqs = applied.pop((consumer, source, str(row["estate_id"])), [])
                assert seqs == list(range(1, row["last_seq"] + 1)), (
                    f"{consumer} applied {source}'s events of {row['estate_id']} as {seqs}"
                )
                checked += len(seqs)
    assert applied == {}, f"applied events nobody emitted: {list(applied)}"
    return checked


def all_entries(c: httpx.Client, estate: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = ok(
            c.get(
                f"/estates/{estate}/ledger/entries",
                params={"limit": 500, **({"cursor": cursor} if cursor else {})},
            )
        )
        entries += page["entries"]
        cursor = page["next_cursor"]
        if not cursor:
            return entries


@dataclass
class Figures:
    sent: int
    accepted: int
    lost: int
    applied_twice: int
    applications: int


def check_exactly_once(city: City, accepted: Accepted, tally: Tally) -> Figures:
    """Every accepted command took effect once in the service that owns it and in every read
    model built from it; nothing else took effect. Returns the run's figures."""
    lost = twice = 0
    with city.api("accountant") as acc:
        for n, estate in enumerate(city.estates):
            entries = all_entries(acc, estate)
            assert sorted(e["chain_index"] for e in entries) == list(range(1, len(entries) + 1))
            verdict = ok(acc.get(f"/estates/{estate}/ledger/verify"))
            assert verdict["ok"] is True and verdict["entries_checked"] == len(entries), verdict
            posted = Counter(
                _income_of(e)
                for e in entries
                if e["kind"] == "income" and e["description"].startswith("停车费")
            )
            wanted = Counter(accepted.incomes.get(estate, []))
            lost += sum((wanted - posted).values())
            twice += sum((posted - wanted).values())
            assert posted == wanted, f"estate {n}: posted {posted}, accepted {wanted}"
            assert accepted.entry_ids[estate] <= {e["entry_id"] for e in entries}
            # The trial balance: every account's balance sums to zero, the bank holds the
            # income (no payment was made).
            fund = ok(acc.get(f"/estates/{estate}/fund"))
            assert sum(b["balance_fen"] for b in fund["balances"]) == 0, fund["balances"]
            assert fund["fund_bank_fen"] == 5_000_000 + sum(wanted.elements())

            listed = acc.get(f"/estates/{estate}/disbursements")
            assert listed.status_code == 200, listed.text
            disbursements: list[dict[str, Any]] = listed.json()
            made = Counter(d["purpose"] for d in disbursements if d["purpose"].startswith("突发"))
            asked = Counter(accepted.requests.get(estate, []))
            lost += sum((asked - made).values())
            twice += sum((made - asked).values())
            assert made == asked, f"estate {n}: requests {made}, accepted {asked}"
            for d in disbursements:
                if d["disbursement_id"] in city.pending[estate]:
                    approvers = [a["username"] for a in d["approvals"]]
                    who = accepted.approvals[d["disbursement_id"]]
                    assert approvers == [f"{who}-{city.tag}"], (d, who)
                    assert d["state"] == "approved"

            # Disclosure's report of the month shows exactly the accepted income; notifications
            # asked both approvers once for each request.
            period = entries[0]["period"]

            def reported(estate: str = estate, period: str = period, n: int = n) -> Counter[int]:
                with city.api(f"committee_chair-{n}") as chair:
                    got = ok(chair.get(f"/estates/{estate}/reports/monthly/{period}"))
                return Counter(
                    e["amount_fen"]
                    for group in got["income"]
                    for e in group["entries"]
                    if e["amount_fen"] != 5_000_000
                )

            def shown(wanted: Counter[int] = wanted, reported: Any = reported) -> bool:
                return bool(reported() == wanted)

            eventually(shown, timeout=60, what="disclosure's report")
            inbox = count(
                city.platform,
                f"SELECT count(*) FROM notifications.inbox WHERE estate_id = '{estate}' "
                "AND kind = 'approval_requested'",
            )
            requests = len(city.pending[estate]) + len(made)
            assert inbox == len(APPROVERS) * requests, (inbox, requests)
    # Votes: each owner's last vote counted, each vote a receipt once.
    with city.api("committee_chair-0") as chair:
        ballot = ok(chair.get(f"/estates/{city.estates[0]}/ballots/{city.ballot}"))
    assert ballot["receipts_counted"] == VOTERS
    for who in city.voters:
        with city.api(who) as c:
            receipts = ok(c.get(f"/estates/{city.estates[0]}/ballots/{city.ballot}/vote"))[
                "receipts"
            ]
        states = Counter(r["state"] for r in receipts)
        wanted_votes = accepted.votes[who]
        lost += max(0, wanted_votes - len(receipts))
        twice += max(0, len(receipts) - wanted_votes)
        assert states == Counter({"counted": 1, "superseded": wanted_votes - 1}), (who, receipts)
    twice_inbox = fetch(
        city.platform,
        "SELECT source_key, user_id, count(*) FROM notifications.inbox "
        "GROUP BY 1, 2 HAVING count(*) > 1",
    )
    assert twice_inbox == [], f"inbox messages written twice: {twice_inbox}"
    # Reading the reports raised disclosure's flags, whose events notifications applies.
    settle(city.platform)
    applications = check_events(city.platform)
    total = (
        sum(len(v) for v in accepted.incomes.values())
        + sum(len(v) for v in accepted.requests.values())
        + len(accepted.approvals)
        + sum(accepted.votes.values())
    )
    return Figures(tally.sent, total, lost, twice, applications)


def _income_of(entry: dict[str, Any]) -> int:
    """An income entry's amount: its debit to the bank."""
    return int(max(line["amount_fen"] for line in entry["lines"]))


def settle(platform: Platform) -> None:
    """Waits until every outbox is published and every consumer has applied every event."""
    behind: list[str] = []

    def caught_up() -> bool:
        behind[:] = lagging(platform)
        return not behind

    try:
        eventually(caught_up, timeout=90, what="every consumer to catch up")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; behind: {behind[:10]}") from None
