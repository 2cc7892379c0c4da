"""Income postings in groups, through the ledger's gRPC API: concurrent postings (one estate and
several) keep each chain linear and apply each idempotency key once, also when a key comes twice
in one group; a refused posting leaves its neighbours posted; BatchPostIncome answers posting by
posting; the group's functions keep row-level security per estate."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg
import grpc
import httpx
import pytest

from tests.identity.world import credit_code, ok
from xinyi.common.v1 import common_pb2
from xinyi.ledger.v1 import events_pb2, ledger_pb2, ledger_pb2_grpc
from xinyi_dev.platform import Platform, _with_user
from xinyi_ledger.journal import SHANGHAI
from xinyi_ledger.posting import _day_start

PASSWORD = "group-commit-pw-1"


@dataclass
class Books:
    token: str
    estates: list[str]


@pytest.fixture(scope="module")
def books(platform: Platform, operator_token: str) -> Books:
    """Three estates served by one company, whose accountant posts to all of them."""
    tag = uuid.uuid4().hex[:8]
    with httpx.Client(
        base_url=platform.gateway_url,
        headers={"Authorization": f"Bearer {operator_token}"},
        timeout=30,
    ) as op:
        company = ok(
            op.post(
                "/api/v1/companies",
                json={"name": f"成组物业{tag}", "credit_code": credit_code(tag)},
            )
        )["company_id"]
        estates = []
        for n in range(3):
            estate = ok(op.post("/api/v1/estates", json={"name": f"成组小区{tag}-{n}"}))
            ok(
                op.put(
                    f"/api/v1/estates/{estate['estate_id']}/company",
                    json={"company_id": company, "starts_on": "2020-01-01"},
                )
            )
            estates.append(estate["estate_id"])
        user = ok(op.post("/api/v1/users", json={"username": f"gc-{tag}", "password": PASSWORD}))
        ok(
            op.post(
                "/api/v1/role-grants",
                json={
                    "user_id": user["user_id"],
                    "role": "company_accountant",
                    "company_id": company,
                },
            )
        )
        for estate_id in estates:  # the books open from identity's event
            deadline = time.monotonic() + 30
            while not op.get(f"/api/v1/estates/{estate_id}/ledger/accounts").json():
                assert time.monotonic() < deadline, "the books did not open"
                time.sleep(0.1)
    token = ok(
        httpx.post(
            f"{platform.gateway_url}/api/v1/auth/token",
            json={"username": f"gc-{tag}", "password": PASSWORD},
            timeout=30,
        )
    )["access_token"]
    return Books(token, estates)


@pytest.fixture
async def ledger(platform: Platform) -> AsyncIterator[ledger_pb2_grpc.LedgerServiceStub]:
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{platform.ports['ledger']}", options=[("grpc.max_metadata_size", 64 * 1024)]
    ) as channel:
        yield ledger_pb2_grpc.LedgerServiceStub(channel)


def auth(books: Books) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {books.token}"),)


def posting(
    estate_id: str, amount: int, key: str = "", **extra: object
) -> ledger_pb2.PostIncomeRequest:
    return ledger_pb2.PostIncomeRequest(
        estate_id=estate_id,
        source="parking",
        amount_fen=amount,
        idempotency_key=key,
        **extra,  # type: ignore[arg-type]
    )


async def chain_of(
    ledger: ledger_pb2_grpc.LedgerServiceStub, books: Books, estate_id: str
) -> list[ledger_pb2.Entry]:
    entries: list[ledger_pb2.Entry] = []
    token = ""
    while True:
        page = await ledger.ListEntries(
            ledger_pb2.ListEntriesRequest(estate_id=estate_id, page_size=500, page_token=token),
            metadata=auth(books),
            timeout=30,
        )
        entries += page.entries
        token = page.next_page_token
        if not token:
            return sorted(entries, key=lambda e: e.chain_index)


async def assert_linear(
    ledger: ledger_pb2_grpc.LedgerServiceStub, books: Books, estate_id: str
) -> list[ledger_pb2.Entry]:
    entries = await chain_of(ledger, books, estate_id)
    assert [e.chain_index for e in entries] == list(range(1, len(entries) + 1))
    verdict = await ledger.VerifyLedger(
        ledger_pb2.VerifyLedgerRequest(estate_id=estate_id), metadata=auth(books), timeout=30
    )
    assert verdict.ok, verdict.first_problem
    assert verdict.entries_checked == len(entries)
    return entries


async def test_concurrent_postings_in_one_and_several_estates_chain_once_per_key(
    ledger: ledger_pb2_grpc.LedgerServiceStub, books: Books
) -> None:
    before = {e: len(await chain_of(ledger, books, e)) for e in books.estates}
    # 40 keys, each sent three times at once (a client retrying while the first is in flight),
    # half of them in the first estate, the rest spread over the others; and 20 without a key.
    keyed = [
        (books.estates[0] if n % 2 else books.estates[1 + n % 4 // 2], f"k{n}-{uuid.uuid4()}")
        for n in range(40)
    ]
    calls = [
        posting(estate, 1_000 + n, key) for _ in range(3) for n, (estate, key) in enumerate(keyed)
    ] + [posting(books.estates[n % 3], 5_000 + n) for n in range(20)]
    slots = asyncio.Semaphore(24)

    async def call(request: ledger_pb2.PostIncomeRequest) -> ledger_pb2.Entry:
        async with slots:
            reply: ledger_pb2.Entry = await ledger.PostIncome(
                request, metadata=auth(books), timeout=60
            )
            return reply

    replies = await asyncio.gather(*(call(r) for r in calls))

    by_key: dict[str, set[str]] = {}
    for request, reply in zip(calls, replies, strict=True):
        assert reply.estate_id == request.estate_id
        if request.idempotency_key:
            by_key.setdefault(request.idempotency_key, set()).add(reply.entry_id)
    assert all(len(ids) == 1 for ids in by_key.values()), "a key posted more than once"
    posted = Counter(r.estate_id for r in calls if not r.idempotency_key)
    posted.update(estate for estate, _ in keyed)
    for estate_id in books.estates:
        entries = await assert_linear(ledger, books, estate_id)
        assert len(entries) == before[estate_id] + posted[estate_id]
    # What each caller got is what the chain holds.
    stored = {
        e.entry_id: e for estate in books.estates for e in await chain_of(ledger, books, estate)
    }
    for reply in replies:
        assert stored[reply.entry_id].chain_hash == reply.chain_hash
        assert stored[reply.entry_id].canonical_json == reply.canonical_json


async def test_a_batch_answers_posting_by_posting(
    ledger: ledger_pb2_grpc.LedgerServiceStub, books: Books
) -> None:
    a, b, c = books.estates
    used = f"used-{uuid.uuid4()}"
    first = await ledger.PostIncome(posting(a, 777, used), metadata=auth(books), timeout=30)
    twice = f"twice-{uuid.uuid4()}"
    clash = f"clash-{uuid.uuid4()}"
    items = [
        ledger_pb2.IncomeItem(description="3月1日", amount_fen=300, occurred_on="2026-03-01"),
        ledger_pb2.IncomeItem(description="3月2日", amount_fen=200, occurred_on="2026-03-02"),
    ]
    batch = [
        posting(a, 101),
        posting(b, 500, items=items, description="停车费"),
        posting(a, 777, used),  # a retry of a posting made before: its first entry
        posting(a, 999, used),  # the same key for another posting: refused alone
        posting(c, 103, twice),
        posting(c, 103, twice),  # a retry within the batch: posted once
        posting(b, 104, clash),
        posting(b, 105, clash),  # the same key, another body, within the batch: refused
        posting(c, 106, voucher_sha256=["ab" * 32]),
    ]
    reply = await ledger.BatchPostIncome(
        ledger_pb2.BatchPostIncomeRequest(postings=batch), metadata=auth(books), timeout=60
    )
    results = list(reply.results)
    assert len(results) == len(batch)
    outcome = [r.WhichOneof("outcome") for r in results]
    assert outcome == [
        "entry",
        "entry",
        "entry",
        "error",
        "entry",
        "entry",
        "entry",
        "error",
        "entry",
    ]
    assert results[2].entry.entry_id == first.entry_id
    assert (
        results[3].error.code == "ALREADY_EXISTS" and "idempotency key" in results[3].error.message
    )
    assert results[4].entry.entry_id == results[5].entry.entry_id
    assert results[7].error.code == "ALREADY_EXISTS"
    posted = results[1].entry
    assert [(i.description, i.amount_fen) for i in posted.items] == [
        ("3月1日", 300),
        ("3月2日", 200),
    ]
    assert not posted.lump_sum and results[0].entry.lump_sum
    assert [(ln.account_code, ln.amount_fen) for ln in posted.lines] == [
        ("1001", 500),
        ("4002", -500),
    ]
    assert list(results[8].entry.voucher_sha256) == ["ab" * 32]
    # Each estate's new entries follow one another in its chain, in the batch's order.
    for estate_id in (a, b, c):
        entries = await assert_linear(ledger, books, estate_id)
        mine = [
            r.entry.entry_id
            for r, p in zip(results, batch, strict=True)
            if p.estate_id == estate_id and r.HasField("entry")
        ]
        fresh = [e for e in dict.fromkeys(mine) if e != first.entry_id]
        assert [e.entry_id for e in entries[-len(fresh) :]] == fresh
    # A retry of the whole batch posts nothing new and answers the same.
    again = await ledger.BatchPostIncome(
        ledger_pb2.BatchPostIncomeRequest(postings=[batch[4], batch[6]]),
        metadata=auth(books),
        timeout=60,
    )
    assert [r.entry.entry_id for r in again.results] == [
        results[4].entry.entry_id,
        results[6].entry.entry_id,
    ]
    # A single PostIncome with a batch item's key finds the batch's entry: one record.
    single = await ledger.PostIncome(batch[4], metadata=auth(books), timeout=30)
    assert single.entry_id == results[4].entry.entry_id


async def test_a_late_posting_in_a_group_goes_into_the_open_month(
    ledger: ledger_pb2_grpc.LedgerServiceStub, books: Books
) -> None:
    today = date.today()
    previous = f"{today.year - 1}-12" if today.month == 1 else f"{today.year}-{today.month - 1:02d}"
    estate_id = books.estates[2]
    await ledger.ClosePeriod(
        ledger_pb2.ClosePeriodRequest(estate_id=estate_id, period=previous),
        metadata=auth(books),
        timeout=30,
    )
    reply = await ledger.BatchPostIncome(
        ledger_pb2.BatchPostIncomeRequest(
            postings=[
                posting(estate_id, 201, booked_on=f"{previous}-15"),
                posting(estate_id, 202),
            ]
        ),
        metadata=auth(books),
        timeout=60,
    )
    late, now = (r.entry for r in reply.results)
    current = f"{today.year}-{today.month:02d}"
    assert (late.period, late.late_for_period, late.booked_on) == (
        current,
        previous,
        f"{previous}-15",
    )
    assert (now.period, now.late_for_period) == (current, "")
    await assert_linear(ledger, books, estate_id)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"source": "lottery"}, "posting 2: source is one of"),
        ({"amount_fen": 0}, "posting 2: the amount must be more than zero"),
        ({"booked_on": "2026-13-01"}, "posting 2: booked_on must be a date"),
        ({"estate_id": "not-a-uuid"}, "posting 2: estate_id must be a UUID"),
        ({"voucher_sha256": ["not-a-hash"]}, "posting 2: a voucher is named by its sha256"),
        ({"idempotency_key": "k" * 201}, "posting 2: an idempotency key has at most 200"),
    ],
)
async def test_a_bad_posting_fails_the_whole_batch_before_anything_posts(
    ledger: ledger_pb2_grpc.LedgerServiceStub,
    books: Books,
    change: dict[str, object],
    says: str,
) -> None:
    estate_id = books.estates[1]
    before = len(await chain_of(ledger, books, estate_id))
    bad = posting(estate_id, 300)
    for name, value in change.items():
        if isinstance(value, list):
            getattr(bad, name).extend(value)
        else:
            setattr(bad, name, value)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ledger.BatchPostIncome(
            ledger_pb2.BatchPostIncomeRequest(postings=[posting(estate_id, 301), bad]),
            metadata=auth(books),
            timeout=30,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert says in (refused.value.details() or "")
    assert len(await chain_of(ledger, books, estate_id)) == before


async def test_batch_limits_and_rights(
    ledger: ledger_pb2_grpc.LedgerServiceStub, books: Books, platform: Platform
) -> None:
    estate_id = books.estates[0]
    for postings, says in (([], "at least one"), ([posting(estate_id, 1)] * 1001, "at most 1000")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await ledger.BatchPostIncome(
                ledger_pb2.BatchPostIncomeRequest(postings=postings),
                metadata=auth(books),
                timeout=60,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert says in (refused.value.details() or "")
    # An estate the caller has no role in: as PostIncome says, no such estate.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ledger.BatchPostIncome(
            ledger_pb2.BatchPostIncomeRequest(
                postings=[posting(estate_id, 1), posting(str(uuid.uuid4()), 1)]
            ),
            metadata=auth(books),
            timeout=30,
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert "posting 2: no such estate" in (refused.value.details() or "")
    # Without a token: unauthenticated, as every call.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ledger.BatchPostIncome(
            ledger_pb2.BatchPostIncomeRequest(postings=[posting(estate_id, 1)]), timeout=30
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The full 1,000 go in one call.
    before = len(await chain_of(ledger, books, estate_id))
    reply = await ledger.BatchPostIncome(
        ledger_pb2.BatchPostIncomeRequest(
            postings=[posting(books.estates[n % 3], 1 + n) for n in range(1000)]
        ),
        metadata=auth(books),
        timeout=120,
    )
    assert all(r.HasField("entry") for r in reply.results)
    assert len(await assert_linear(ledger, books, estate_id)) == before + 334


async def test_the_outbox_numbers_each_estates_events_in_chain_order(
    ledger: ledger_pb2_grpc.LedgerServiceStub, books: Books, platform: Platform
) -> None:
    await asyncio.gather(
        *(
            ledger.PostIncome(
                posting(books.estates[n % 3], 400 + n), metadata=auth(books), timeout=60
            )
            for n in range(30)
        )
    )
    conn = await asyncpg.connect(
        _with_user(platform.admin_url, "xinyi_ledger", platform.app_password)
    )
    try:
        for estate_id in books.estates:
            async with conn.transaction():
                await conn.execute("SELECT set_config('xinyi.estate_id', $1, true)", estate_id)
                rows = await conn.fetch(
                    "SELECT seq, envelope FROM ledger.outbox WHERE estate_id = $1::uuid "
                    "AND event_type = 'xinyi.ledger.v1.EntryPosted' ORDER BY seq",
                    estate_id,
                )
                seqs = await conn.fetch(
                    "SELECT seq FROM ledger.outbox WHERE estate_id = $1::uuid ORDER BY seq",
                    estate_id,
                )
            # Every event numbered, 1, 2, 3... with no gap, and the entries' in chain order.
            assert [r["seq"] for r in seqs] == list(range(1, len(seqs) + 1))
            indexes = []
            for row in rows:
                event = events_pb2.EntryPosted()
                common_pb2.EventEnvelope.FromString(bytes(row["envelope"])).payload.Unpack(event)
                assert event.estate_id == estate_id
                indexes.append(event.chain_index)
            assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    finally:
        await conn.close()


async def test_the_group_functions_keep_row_level_security_per_estate(
    ledger: ledger_pb2_grpc.LedgerServiceStub, platform: Platform, books: Books
) -> None:
    a, b, _ = books.estates
    for estate_id in (a, b):
        await ledger.PostIncome(posting(estate_id, 600), metadata=auth(books), timeout=30)
    conn = await asyncpg.connect(
        _with_user(platform.admin_url, "xinyi_ledger", platform.app_password)
    )
    try:
        # They run as the caller, never as their owner (who could read every estate).
        definer = await conn.fetch(
            "SELECT proname, prosecdef FROM pg_proc WHERE pronamespace = 'ledger'::regnamespace "
            "AND proname IN ('posting_lock', 'posting_write', 'outbox_number_now')"
        )
        assert sorted(r["proname"] for r in definer) == [
            "outbox_number_now",
            "posting_lock",
            "posting_write",
        ]
        assert not any(r["prosecdef"] for r in definer)
        async with conn.transaction():
            heads = await conn.fetch(
                "SELECT head_estate::text, head_index FROM ledger.posting_lock($1::uuid[], "
                "'{}'::uuid[], '{}'::text[], true)",
                [a, b],
            )
            assert sorted(r["head_estate"] for r in heads) == sorted([a, b])
            assert all(r["head_index"] > 0 for r in heads)
            # Each estate was read in its own scope, and none is left behind: the transaction
            # sees no estate's rows again.
            assert await conn.fetchval("SELECT count(*) FROM ledger.entries") == 0
            assert await conn.fetchval("SELECT count(*) FROM ledger.chain_heads") == 0
            # In one estate's scope, only that estate's rows, whatever a group did before.
            await conn.execute("SELECT set_config('xinyi.estate_id', $1, true)", a)
            seen = await conn.fetch("SELECT DISTINCT estate_id::text FROM ledger.entries")
            assert [r[0] for r in seen] == [a]
            # And the rows a group writes must belong to the estate in scope.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO ledger.entry_lines (estate_id, entry_id, line_no, account_code, "
                    "amount_fen) VALUES ($1::uuid, $2, 1, '1001', 1)",
                    b,
                    uuid.uuid4(),
                )
    finally:
        await conn.close()


async def test_an_estate_held_by_another_transaction_holds_up_only_its_own_postings(
    ledger: ledger_pb2_grpc.LedgerServiceStub, books: Books, platform: Platform
) -> None:
    held, free = books.estates[0], books.estates[1]
    await ledger.PostIncome(posting(held, 650), metadata=auth(books), timeout=30)
    conn = await asyncpg.connect(
        _with_user(platform.admin_url, "xinyi_ledger", platform.app_password)
    )
    try:
        # Another transaction holds the estate's chain (as a month's fee assessment would).
        holder = conn.transaction()
        await holder.start()
        await conn.execute("SELECT set_config('xinyi.estate_id', $1, true)", held)
        locked = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM ledger.chain_heads "
            "WHERE estate_id = $1::uuid FOR UPDATE) h",
            held,
        )
        assert locked == 1
        waiting = [
            asyncio.ensure_future(
                ledger.PostIncome(posting(held, 700 + n), metadata=auth(books), timeout=120)
            )
            for n in range(4)
        ]
        # Postings of other estates, gathered into groups with those, go through meanwhile.
        passed = await asyncio.gather(
            *(
                ledger.PostIncome(posting(free, 800 + n), metadata=auth(books), timeout=120)
                for n in range(8)
            )
        )
        assert all(p.estate_id == free for p in passed)
        assert not any(w.done() for w in waiting)
        await holder.rollback()
        posted = await asyncio.gather(*waiting)
    finally:
        await conn.close()
    assert len({p.entry_id for p in posted}) == 4
    for estate_id in (held, free):
        await assert_linear(ledger, books, estate_id)


async def test_a_batch_books_undated_postings_today_and_records_a_group_at_one_time(
    ledger: ledger_pb2_grpc.LedgerServiceStub, books: Books, platform: Platform
) -> None:
    a, b, _ = books.estates
    today = (await ledger.PostIncome(posting(a, 11), metadata=auth(books), timeout=30)).booked_on
    batch = [posting(a, 12), posting(b, 13), posting(a, 14, booked_on="2026-02-03"), posting(b, 15)]
    reply = await ledger.BatchPostIncome(
        ledger_pb2.BatchPostIncomeRequest(postings=batch), metadata=auth(books), timeout=60
    )
    entries = [r.entry for r in reply.results]
    # The batch's day for the undated ones (as a single call's), its own for the dated one.
    assert [e.booked_on for e in entries] == [today, today, "2026-02-03", today]
    # One group, one time: each entry's canonical form (which its hash covers) says it.
    assert len({e.recorded_at.ToDatetime() for e in entries}) == 1
    stamp = entries[0].recorded_at.ToDatetime().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert all(json.loads(e.canonical_json)["recorded_at"] == stamp for e in entries)
    for estate_id in (a, b):
        await assert_linear(ledger, books, estate_id)
    # The events say the day each posting is booked on: its midnight in Shanghai.
    conn = await asyncpg.connect(
        _with_user(platform.admin_url, "xinyi_ledger", platform.app_password)
    )
    try:
        booked: dict[str, date] = {}
        for estate_id in (a, b):
            async with conn.transaction():
                await conn.execute("SELECT set_config('xinyi.estate_id', $1, true)", estate_id)
                rows = await conn.fetch(
                    "SELECT envelope FROM ledger.outbox WHERE estate_id = $1::uuid "
                    "AND event_type = 'xinyi.ledger.v1.EntryPosted'",
                    estate_id,
                )
            for row in rows:
                event = events_pb2.EntryPosted()
                common_pb2.EventEnvelope.FromString(bytes(row["envelope"])).payload.Unpack(event)
                shanghai = event.booked_at.ToDatetime(tzinfo=SHANGHAI)
                assert shanghai.time() == datetime.min.time()
                booked[event.entry_id] = shanghai.date()
    finally:
        await conn.close()
    assert [booked[e.entry_id].isoformat() for e in entries] == [e.booked_on for e in entries]


async def test_a_batch_checks_each_posting_s_estate_also_after_the_same_estate_passed(
    ledger: ledger_pb2_grpc.LedgerServiceStub, books: Books
) -> None:
    a = books.estates[0]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ledger.BatchPostIncome(
            ledger_pb2.BatchPostIncomeRequest(
                postings=[posting(a, 1), posting(a, 2), posting(str(uuid.uuid4()), 3)]
            ),
            metadata=auth(books),
            timeout=30,
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert "posting 3: no such estate" in (refused.value.details() or "")


def test_a_day_starts_at_midnight_in_shanghai() -> None:
    # 2026-02-03 00:00 in Shanghai (UTC+8) is 2026-02-02 16:00 UTC.
    start = datetime(2026, 2, 2, 16, tzinfo=UTC).timestamp()
    assert _day_start(date(2026, 2, 3)) == start
