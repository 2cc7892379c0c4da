"""Two processes of every service and two gateways on one PostgreSQL and one NATS: a burst of
writes across estates, spread over both instances of each service, is applied exactly once by
every consumer and in each estate's order, and every mail goes out once.

An observer trigger (installed by this test, not part of the platform) logs every row written to
each consumer's `inbox_applied` with a global sequence number. A consumer applies an estate's
events of one source while holding that estate's cursor row, so the log's order for one
(consumer, source, estate) is the order in which they were applied, whichever instance did it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from tests.poll import eventually
from tests.sinks import MailSink
from xinyi_dev.embedded import free_port
from xinyi_dev.platform import Platform
from xinyi_kit.bus import stream_name
from xinyi_kit.clock import move_clock
from xinyi_kit.migrate import SERVICES

pytestmark = [pytest.mark.own_servers, pytest.mark.timeout(150)]

OPERATOR_PASSWORD = "operator-two-instances"
PASSWORD = "correct horse battery"
ESTATES = 3
POSTINGS = 30  # income entries per estate (ledger -> disclosure)
REQUESTS = 6  # payment requests per estate (ledger -> notifications: the chair and the member)
SUGGESTIONS = 3  # per estate: the chair submits, the company answers (voting -> notifications)
OWNERS = 3  # people made owners per estate (identity -> every other service)
WORKERS = 16  # calls in flight during the burst
APPROVERS = ("committee_chair", "committee_member")
# Who consumes whom, as each service's main.py says.
CONSUMES = {
    "identity": ("voting",),
    "ledger": ("identity", "voting"),
    "voting": ("identity",),
    "disclosure": ("identity", "ledger", "voting"),
    "notifications": ("identity", "ledger", "voting", "disclosure"),
}

OBSERVER = [
    "CREATE SCHEMA observer",
    "CREATE TABLE observer.applied (id bigserial PRIMARY KEY, consumer text NOT NULL, "
    "source text NOT NULL, estate_id uuid NOT NULL, seq bigint NOT NULL)",
    """
    CREATE FUNCTION observer.record() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog AS $$
    BEGIN
        INSERT INTO observer.applied (consumer, source, estate_id, seq)
        VALUES (TG_TABLE_SCHEMA, NEW.source, NEW.estate_id, NEW.seq);
        RETURN NULL;
    END
    $$
    """,
    *(
        f"CREATE TRIGGER observed AFTER INSERT ON {service}.inbox_applied "
        "FOR EACH ROW EXECUTE FUNCTION observer.record()"
        for service in SERVICES
    ),
]


async def _execute(url: str, statements: list[str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _fetch(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def fetch(platform: Platform, query: str) -> list[asyncpg.Record]:
    """Rows read as the database's superuser (past row-level security), for the checks."""
    return asyncio.run(_fetch(platform.admin_url, query))


def count(platform: Platform, query: str) -> int:
    return int(fetch(platform, query)[0][0])


async def _stream_counts(url: str) -> dict[str, int]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        return {e: int((await js.stream_info(stream_name(e))).state.messages) for e in SERVICES}
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory, mail: MailSink) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("two-instances")
    plat = Platform(
        data_dir=data_dir,
        http_port=free_port(),
        bootstrap_password=OPERATOR_PASSWORD,
        replicas=2,
        extra_env={
            "XINYI_ENV": "test",
            "XINYI_TEST_CLOCK_FILE": str(data_dir / "clock-offset"),
            "XINYI_LOGIN_RATE_PER_MINUTE": "10000",
            "XINYI_SMTP_HOST": "127.0.0.1",
            "XINYI_SMTP_PORT": str(mail.port),
            "XINYI_RETRY_BASE_SECONDS": "0.5",
            "XINYI_DB_POOL_SIZE": "5",
        },
        log_sink=open(data_dir / "platform.log", "w"),  # noqa: SIM115
    )
    try:
        started = time.monotonic()
        plat.start_infrastructure()
        plat.migrate()
        asyncio.run(_execute(plat.admin_url, OBSERVER))
        plat.start_processes()
        print(f"\nten services and two gateways started in {time.monotonic() - started:.1f}s")
        yield plat
    finally:
        plat.stop()


def ok(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code in (200, 201, 204), f"{reply.request.url}: {reply.text}"
    return dict(reply.json()) if reply.content else {}


class Callers:
    """Signed-in people, whose calls take turns between the gateways."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.tokens: dict[str, str] = {}
        self._turn = itertools.count()

    def signin(self, who: str, username: str, password: str = PASSWORD) -> None:
        reply = httpx.post(
            f"{self.urls[0]}/api/v1/auth/token",
            json={"username": username, "password": password},
            timeout=30,
        )
        self.tokens[who] = str(ok(reply)["access_token"])

    def call(self, who: str, method: str, path: str, body: object = None) -> dict[str, Any]:
        url = self.urls[next(self._turn) % len(self.urls)]
        reply = httpx.request(
            method,
            f"{url}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )
        return ok(reply)


@dataclass
class City:
    tag: str
    company: str = ""
    estates: list[str] = field(default_factory=list)
    emails: dict[str, str] = field(default_factory=dict)  # committee person -> address


def build_city(people: Callers) -> City:
    """A company serving a few estates, each with its chair and member, who want mail."""
    city = City(tag=uuid.uuid4().hex[:6])
    district = people.call("operator", "POST", "/districts", {"name": f"武侯区{city.tag}"})
    street = people.call(
        "operator", "POST", "/streets", {"district_id": district["district_id"], "name": "玉林"}
    )
    community = people.call(
        "operator", "POST", "/communities", {"street_id": street["street_id"], "name": "玉林北路"}
    )
    city.company = people.call(
        "operator",
        "POST",
        "/companies",
        {"name": f"锦诚物业{city.tag}", "credit_code": f"91{uuid.uuid4().int % 10**16:016d}"},
    )["company_id"]

    def person(who: str, role: str, scope: dict[str, str]) -> None:
        user = people.call(
            "operator",
            "POST",
            "/users",
            {"username": f"{who}-{city.tag}", "display_name": who, "password": PASSWORD},
        )
        people.call(
            "operator", "POST", "/role-grants", {"user_id": user["user_id"], "role": role, **scope}
        )
        people.signin(who, f"{who}-{city.tag}")

    for n in range(ESTATES):
        estate = people.call(
            "operator",
            "POST",
            "/estates",
            {"name": f"双实例小区{n}{city.tag}", "community_id": community["community_id"]},
        )["estate_id"]
        people.call(
            "operator",
            "PUT",
            f"/estates/{estate}/company",
            {"company_id": city.company, "starts_on": "2020-01-01"},
        )
        city.estates.append(estate)
        for role in APPROVERS:
            who = f"{role}-{n}"
            person(who, role, {"estate_id": estate})
            city.emails[who] = f"{who}-{city.tag}@example.cn"
            # The chair hears of answered suggestions in the evening's digest.
            digest = [
                {"kind": "suggestion_answered", "channels": ["inbox", "email"], "digest": True}
            ]
            kinds = digest if role == "committee_chair" else []
            people.call(who, "PUT", "/me/preferences", {"email": city.emails[who], "kinds": kinds})
    # Signed in once the company serves the estates: their tokens name them.
    person("accountant", "company_accountant", {"company_id": city.company})
    person("manager", "company_manager", {"company_id": city.company})
    # A fund to pay from: a payment request needs income in the books.
    for estate in city.estates:
        people.call(
            "accountant",
            "POST",
            f"/estates/{estate}/ledger/entries",
            {"kind": "income", "source": "parking", "amount_fen": 5_000_000},
        )
    return city


def burst_calls(people: Callers, city: City) -> list[Callable[[], object]]:
    """Writes of every kind across the estates, shuffled."""

    def income(n: int, i: int) -> object:
        return people.call(
            "accountant",
            "POST",
            f"/estates/{city.estates[n]}/ledger/entries",
            {"kind": "income", "source": "parking", "amount_fen": 100_000 + i},
        )

    def request(n: int, i: int) -> object:
        return people.call(
            "accountant",
            "POST",
            f"/estates/{city.estates[n]}/disbursements",
            {
                "amount_fen": 1_000 + i,
                "payee": "成都电梯维保公司",
                "purpose": f"电梯维保 {n}-{i}",
                "expense_code": "5005",
            },
        )

    def suggestion(n: int, i: int) -> object:
        base = f"/estates/{city.estates[n]}/suggestions"
        item = people.call(
            f"committee_chair-{n}",
            "POST",
            base,
            {"kind": "suggestion", "title": f"增加座椅 {n}-{i}", "body": "小区花园"},
        )
        return people.call(
            "manager", "POST", f"{base}/{item['suggestion_id']}/answer", {"text": "好"}
        )

    def owner(n: int, i: int) -> object:
        user = people.call(
            "operator",
            "POST",
            "/users",
            {"username": f"owner-{n}-{i}-{city.tag}", "display_name": "业主", "password": PASSWORD},
        )
        return people.call(
            "operator",
            "POST",
            "/role-grants",
            {"user_id": user["user_id"], "role": "owner", "estate_id": city.estates[n]},
        )

    kinds = ((income, POSTINGS), (request, REQUESTS), (suggestion, SUGGESTIONS), (owner, OWNERS))
    calls: list[Callable[[], object]] = [
        lambda make=make, n=n, i=i: make(n, i)
        for n in range(ESTATES)
        for make, times in kinds
        for i in range(times)
    ]
    random.Random(7).shuffle(calls)
    return calls


def lagging(platform: Platform) -> list[str]:
    """Consumers behind their source for some estate, and emitters with unpublished events."""
    behind = []
    for consumer, sources in CONSUMES.items():
        for source in sources:
            rows = fetch(
                platform,
                f"SELECT o.estate_id, o.last_seq, coalesce(c.last_seq, 0) AS applied "
                f"FROM {source}.outbox_sequence o LEFT JOIN {consumer}.inbox_cursor c "
                f"ON c.estate_id = o.estate_id AND c.source = '{source}' "
                f"WHERE coalesce(c.last_seq, 0) <> o.last_seq",
            )
            behind += [f"{consumer}<-{source} {r['estate_id']}: {r['applied']}" for r in rows]
    for emitter in SERVICES:
        if n := count(
            platform, f"SELECT count(*) FROM {emitter}.outbox WHERE published_at IS NULL"
        ):
            behind.append(f"{emitter}: {n} unpublished")
    return behind


def metrics(platform: Platform, process: str) -> dict[str, float]:
    """One process's Prometheus samples, keyed by name and labels."""
    port = platform.ports[f"{process}-metrics"]
    samples = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def per_instance(platform: Platform, service: str, pick: Callable[[str], bool]) -> list[float]:
    """A sum of one service's samples, for each of its instances."""
    return [
        sum(v for k, v in metrics(platform, name).items() if pick(k))
        for name in platform.instances(service)
    ]


def check_event_logs(platform: Platform) -> None:
    """Each emitter numbers an estate's events 1..n without gaps; each reached JetStream once."""
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
        relayed = per_instance(
            platform, emitter, lambda k: k.startswith("xinyi_outbox_published_total")
        )
        print(f"{emitter}: {events} events, relayed by instance {relayed}")


def check_consumers(platform: Platform, city: City) -> int:
    """Every consumer applied each estate's events of each source once, in order: 1, 2, ... n.
    Returns how many applications were checked."""
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
    for estate in city.estates:
        assert count(platform, f"SELECT count(*) FROM ledger.outbox WHERE estate_id = '{estate}'")
    # Both instances of the busiest consumers took part, and between them applied each event once.
    for service in ("disclosure", "notifications"):
        durable = f"{service}--ledger"

        def outcome(name: str, durable: str = durable) -> Callable[[str], bool]:
            label = f'xinyi_consumer_events_total{{consumer="{durable}",outcome="{name}"}}'
            return lambda k: k == label

        done = per_instance(platform, service, outcome("applied"))
        rows = count(
            platform, f"SELECT count(*) FROM {service}.inbox_applied WHERE source = 'ledger'"
        )
        assert sum(done) == rows, (durable, done, rows)
        assert all(n > 0 for n in done), f"one instance of {service} did all the work: {done}"
        early = per_instance(platform, service, outcome("early"))
        print(f"{durable}: applied {done} by instance; held back until their turn {early}")
    return checked


def check_read_models(platform: Platform, city: City) -> None:
    """One row per fact in the read models, one delivery per person, channel and matter."""
    for estate in city.estates:
        where = f"WHERE estate_id = '{estate}'"
        assert count(platform, f"SELECT count(*) FROM disclosure.entries {where}") == POSTINGS + 1
        assert count(platform, f"SELECT count(*) FROM disclosure.disbursements {where}") == REQUESTS
        assert (
            count(platform, f"SELECT count(*) FROM disclosure.suggestions {where}") == SUGGESTIONS
        )
    twice = fetch(
        platform,
        "SELECT estate_id, source_key, recipient, channel, count(*) FROM notifications.deliveries "
        "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1",
    )
    assert twice == [], f"deliveries made twice: {twice}"
    twice = fetch(
        platform,
        "SELECT source_key, user_id, count(*) FROM notifications.inbox "
        "GROUP BY 1, 2 HAVING count(*) > 1",
    )
    assert twice == [], f"inbox messages written twice: {twice}"


def check_mail(platform: Platform, city: City, mail: MailSink) -> None:
    """Each approval request mailed once to the chair and the member; the answered suggestions
    in one digest per chair, a day later."""
    approvals = ESTATES * REQUESTS * len(APPROVERS)

    def ours() -> list[Any]:
        return [m for m in mail.messages if m["To"] in city.emails.values()]

    eventually(lambda: len(ours()) >= approvals, timeout=20, what="the approvers' mail")
    move_clock(platform.data_dir / "clock-offset", 26 * 3600)
    waiting = "SELECT count(*) FROM notifications.deliveries WHERE state IN ('pending', 'digest')"
    eventually(lambda: count(platform, waiting) == 0, timeout=20, what="every delivery to go")
    time.sleep(1.0)  # a mail sent twice would have arrived by now
    mails = ours()
    delivery_ids = [str(m["X-Xinyi-Delivery"]) for m in mails]
    assert len(delivery_ids) == len(set(delivery_ids)), "a delivery was mailed twice"
    digests = [m for m in mails if "汇总" in str(m["Subject"])]
    chairs = [city.emails[f"committee_chair-{n}"] for n in range(ESTATES)]
    assert sorted(m["To"] for m in digests) == sorted(chairs), "one digest per chair"
    assert all(f"今日 {SUGGESTIONS} 条" in str(m["Subject"]) for m in digests)
    assert len(mails) == approvals + len(digests)
    email = "FROM notifications.deliveries WHERE channel = 'email'"
    assert count(platform, f"SELECT count(*) {email} AND kind = 'approval_requested'") == approvals
    assert count(platform, f"SELECT count(*) {email} AND state <> 'sent'") == 0


def test_two_instances_apply_every_event_once_in_each_estates_order(
    twin: Platform, mail: MailSink
) -> None:
    people = Callers(twin.gateway_urls)
    people.signin("operator", "operator", OPERATOR_PASSWORD)
    city = build_city(people)
    eventually(lambda: not lagging(twin), timeout=30, what="every consumer to apply the setup")

    calls = burst_calls(people, city)
    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()
    burst = time.monotonic() - started
    eventually(lambda: not lagging(twin), timeout=45, what="every consumer to apply the burst")
    settled = time.monotonic() - started
    print(f"burst: {len(calls)} calls in {burst:.1f}s; all applied everywhere at {settled:.1f}s")
    posted = per_instance(
        twin,
        "ledger",
        lambda k: k.startswith("xinyi_grpc_server_handled_total") and "PostIncome" in k,
    )
    assert all(n > 0 for n in posted), f"one ledger instance took every posting: {posted}"

    check_event_logs(twin)
    checked = check_consumers(twin, city)
    print(f"{checked} applications checked: each event once, each estate in order")
    check_read_models(twin, city)
    check_mail(twin, city, mail)
    assert "Traceback" not in (twin.data_dir / "platform.log").read_text()
