"""Income postings in groups: concurrent calls share one transaction (group commit) and a batch
call is one group, while each posting keeps its own idempotency key, chain link and outcome.

A group costs four round trips however many postings it holds: begin, `posting_lock` (every
estate's chain head locked, in one order, with what the postings are checked against), one
pipelined `posting_write` per estate (entries, lines, items, numbered outbox rows, idempotency
records, the new head), commit. A posting refused on the books' state (closed month, unknown
account, a key reused for another request) is answered alone and does not touch its neighbours;
should the group's transaction fail as a whole, each of its postings is tried again in a
transaction of its own, so one posting can never fail the others. An estate whose chain
another transaction holds (a month's fee assessment, a period closing) is left out of the group;
its postings wait for it apart, so they hold up no other estate's.

Remuneration accrues once per estate and group, in the group's transaction, on the period's
cumulative income (rounded once: the same sum as accruing after each posting).

Row-level security holds per estate: the transaction starts in no estate, and the functions
(and the ordinary path, for remuneration and takings flags) set each estate before touching its
rows and clear it after.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from google.protobuf import timestamp_pb2
from opentelemetry import trace
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from xinyi.ledger.v1 import events_pb2, ledger_pb2
from xinyi_kit import clock, idempotency
from xinyi_kit.db import ESTATE_SETTING, Database
from xinyi_kit.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
)
from xinyi_kit.outbox import Outbox
from xinyi_kit.telemetry import inject_context
from xinyi_ledger import chain, domain, journal, money, takings, takingsapi

log = logging.getLogger(__name__)
tracer = trace.get_tracer("xinyi.ledger.posting")

Kind = events_pb2.EntryKind
# A batch call's postings; larger sets go in several calls.
MAX_BATCH = 1000
# Groups in flight at once: while one waits on the database the next gathers its postings.
CONCURRENT_GROUPS = 2

Outcome = ledger_pb2.Entry | DomainError
# What a caller hears back: its outcome, or an unexpected fault of its posting's transaction.
Answer = ledger_pb2.Entry | Exception

_LOCK = "SELECT * FROM posting_lock($1, $2, $3, $4)"
_WRITE = "SELECT posting_write(" + ", ".join(f"${n}" for n in range(1, 38)) + ")"
_SET_ESTATE = text(f"SELECT set_config('{ESTATE_SETTING}', :e, true)")
_NUMBER_OUTBOX = text("SELECT outbox_number_now(:e)")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class Income:
    """One income posting, checked and authorised: what the group needs to chain it."""

    estate_id: uuid.UUID
    actor: str
    key: str  # the idempotency record's key (caller, method, the client's key), or ""
    digest: bytes
    source: str
    amount: int
    booked_on: date
    description: str
    items: list[tuple[str, int, str]]
    vouchers: list[str]
    # The caller's trace context, carried by its event even though a group writes it.
    trace: str


def income(
    request: ledger_pb2.PostIncomeRequest,
    actor: str,
    estate_id: uuid.UUID,
    trace: str = "",
    today: date | None = None,
) -> Income:
    """Checks a posting request's own content (not yet the books' state). `trace`: the
    caller's trace context as JSON, and `today`: the day an undated posting is booked on, when
    the caller has them already (a batch)."""
    account = domain.INCOME_ACCOUNT.get(request.source)
    if account is None:
        raise InvalidArgument("source is one of: " + ", ".join(domain.INCOME_ACCOUNT))
    amount = domain.check_amount(request.amount_fen)
    day = (
        today
        if today is not None and not request.booked_on
        else journal.parse_day(request.booked_on, "booked_on")
    )
    items = []
    for item in request.items:
        domain.check_amount(item.amount_fen, "an item's amount")
        occurred = (
            journal.parse_day(item.occurred_on, "an item's date").isoformat()
            if item.occurred_on
            else ""
        )
        items.append((item.description.strip()[:200] or request.source, item.amount_fen, occurred))
    if items and sum(a for _, a, _ in items) != amount:
        raise InvalidArgument(
            f"the items add up to {money.format_yuan(sum(a for _, a, _ in items))} yuan, "
            f"not {money.format_yuan(amount)}"
        )
    if not all(_SHA256.fullmatch(v) for v in request.voucher_sha256):
        raise InvalidArgument("a voucher is named by its sha256: 64 lowercase hex digits")
    key = request.idempotency_key
    if len(key) > idempotency.MAX_KEY_LENGTH:
        raise InvalidArgument(
            f"an idempotency key has at most {idempotency.MAX_KEY_LENGTH} characters"
        )
    return Income(
        estate_id=estate_id,
        actor=actor,
        # The same record as the ordinary path's (`idempotency.once`): a retry finds it either way.
        key=f"{actor}:PostIncome:{key}" if key else "",
        digest=idempotency.request_digest(request) if key else b"",
        source=request.source,
        amount=amount,
        booked_on=day,
        description=(request.description.strip() or f"{request.source} income")[:500],
        items=items,
        vouchers=sorted(request.voucher_sha256),
        trace=trace or json.dumps(inject_context()),
    )


class _Recorded:
    """When a group's postings are recorded, in the forms an entry carries: the time, its
    canonical text (as `chain.canonical` hashes it) and its protobuf timestamp."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self.text = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.stamp = timestamp_pb2.Timestamp()
        self.stamp.FromDatetime(at)


@functools.lru_cache(maxsize=256)
def _day_start(day: date) -> int:
    """Seconds since the epoch at the start of `day` in Shanghai: an event's `booked_at` (a
    batch books most of its postings on a few days, so each is worked out once)."""
    return int(datetime.combine(day, datetime.min.time(), journal.SHANGHAI).timestamp())


class _Estate:
    """One estate's share of a group: its locked chain head and the rows to write."""

    def __init__(self, row: asyncpg.Record) -> None:
        self.estate_id: uuid.UUID = row["head_estate"]
        self.index: int = row["head_index"]
        self.hash: bytes = row["head_hash"]
        self.closed: set[str] = set(row["closed_periods"])
        self.accounts: set[str] = set(row["account_codes"])
        self.ratio_terms: bool = row["ratio_terms"]
        self.done: dict[str, tuple[bytes, bytes]] = {
            k: (d, r)
            for k, d, r in zip(
                row["keys_done"] or (),
                row["digests_done"] or (),
                row["responses_done"] or (),
                strict=True,
            )
        }
        self.entries: list[tuple[Any, ...]] = []
        self.lines: list[tuple[Any, ...]] = []
        self.items: list[tuple[Any, ...]] = []
        self.events: list[dict[str, Any]] = []
        self.keys: list[tuple[str, bytes, bytes]] = []
        self.accruals: dict[tuple[str, date], str] = {}  # (period, day) -> actor
        self.months: set[str] = set()  # months of takings sources posted to

    def args(self, channel: str) -> tuple[Any, ...]:
        """`posting_write`'s arguments: the rows turned into columns."""

        def columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
            return [list(c) for c in zip(*rows, strict=True)] if rows else [[]] * width

        events = [(r["id"], r["subj"], r["t"], r["env"], r["h"], r["at"]) for r in self.events]
        return (
            self.estate_id,
            self.index,
            self.hash,
            *columns(self.entries, 15),
            *columns(self.lines, 4),
            *columns(self.items, 5),
            *columns(events, 6),
            *columns(self.keys, 3),
            channel,
        )


class Poster:
    """Gathers concurrent postings into groups and commits each group in one transaction."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        *,
        concurrent_groups: int = CONCURRENT_GROUPS,
        max_group: int = MAX_BATCH,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self._slots = concurrent_groups
        self._max_group = max_group
        self._pending: list[tuple[Income, asyncio.Future[Answer]]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._held: set[uuid.UUID] = set()  # estates of the running groups
        # Postings of estates whose chain another transaction holds, and the task that waits
        # for each such estate.
        self._waiting: dict[uuid.UUID, list[tuple[Income, asyncio.Future[Answer]]]] = {}
        self._waiters: set[asyncio.Task[None]] = set()

    async def post(self, posting: Income) -> ledger_pb2.Entry:
        """Posts one income entry with whatever other postings are waiting at the time."""
        (outcome,) = await self.post_many([posting])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def post_many(self, postings: list[Income]) -> list[Answer]:
        """Posts each income entry, with whatever other postings are waiting at the time, and
        answers each with its entry, why it was refused (a `DomainError`) or what went wrong
        unexpectedly in its own transaction."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Answer]] = [loop.create_future() for _ in postings]
        self._pending += zip(postings, futures, strict=True)
        self._start_groups()
        return list(await asyncio.gather(*futures))

    def _start_groups(self) -> None:
        """Starts groups while slots are free. A posting whose estate an earlier group of this
        process still holds stays queued until that group ends, so groups do not wait on each
        other; one whose estate is busy elsewhere queues behind those waiting for it."""
        while self._pending and len(self._running) < self._slots:
            group: list[tuple[Income, asyncio.Future[Answer]]] = []
            later: list[tuple[Income, asyncio.Future[Answer]]] = []
            for item in self._pending:
                estate_id = item[0].estate_id
                waiting = self._waiting.get(estate_id)
                if waiting is not None:
                    waiting.append(item)
                elif estate_id in self._held or len(group) == self._max_group:
                    later.append(item)
                else:
                    group.append(item)
            self._pending = later
            if not group:
                return
            estates = {posting.estate_id for posting, _ in group}
            self._held.update(estates)
            task = asyncio.create_task(self._run(group))
            self._running.add(task)
            task.add_done_callback(functools.partial(self._group_done, estates))

    def _group_done(self, estates: set[uuid.UUID], task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._held -= estates
        self._start_groups()

    async def _run(
        self, group: list[tuple[Income, asyncio.Future[Answer]]], *, wait: bool = False
    ) -> None:
        try:
            with tracer.start_as_current_span(
                "ledger posting group", attributes={"xinyi.postings": len(group)}
            ):
                answers = await self._post_all([posting for posting, _ in group], wait=wait)
        except BaseException as exc:  # every caller must hear back, whatever happened
            for _, future in group:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            return
        busy: dict[uuid.UUID, list[tuple[Income, asyncio.Future[Answer]]]] = {}
        for (posting, future), answer in zip(group, answers, strict=True):
            if answer is None:
                busy.setdefault(posting.estate_id, []).append((posting, future))
            elif not future.done():  # done: the caller gave up (deadline); its posting stands
                future.set_result(answer)
        # Estates whose chain another transaction held: each waits for it outside the groups,
        # so the other estates' postings go on meanwhile.
        for estate_id, items in busy.items():
            waiting = self._waiting.get(estate_id)
            if waiting is not None:
                waiting += items
            else:
                self._waiting[estate_id] = items
                task = asyncio.create_task(self._wait_for(estate_id))
                self._waiters.add(task)
                task.add_done_callback(self._waiters.discard)

    async def _wait_for(self, estate_id: uuid.UUID) -> None:
        """Posts a busy estate's postings once its chain is free, in groups of their own, while
        more of them arrive; new postings of the estate queue here meanwhile."""
        waiting = self._waiting[estate_id]
        try:
            while waiting:
                group = waiting[: self._max_group]
                del waiting[: self._max_group]
                await self._run(group, wait=True)
        finally:
            del self._waiting[estate_id]

    async def _post_all(self, postings: list[Income], *, wait: bool) -> list[Answer | None]:
        """In one transaction, or where that fails as a whole, each posting in its own (so an
        unexpected fault reaches only the caller whose posting it was). Without `wait`, an
        estate whose chain another transaction holds is skipped: its postings answer None."""
        try:
            return [*await self._transaction(postings, wait)]
        except Exception as exc:
            if len(postings) == 1:
                return [exc]
            log.warning(
                "a group of %d postings failed (%r); posting them one by one", len(postings), exc
            )
        answers: list[Answer | None] = []
        for posting in postings:
            answers += await self._post_all([posting], wait=True)
        return answers

    async def _transaction(self, postings: list[Income], wait: bool) -> list[Outcome | None]:
        keyed = [p for p in postings if p.key]
        async with self.db.driver() as (connection, raw), raw.transaction():
            rows = await raw.fetch(
                _LOCK,
                sorted({p.estate_id for p in postings}),
                [p.estate_id for p in keyed],
                [p.key for p in keyed],
                wait,
            )
            estates = {
                row["head_estate"]: _Estate(row) for row in rows if row["head_index"] is not None
            }
            outcomes = self._chain(postings, estates)
            writes = [e for e in estates.values() if e.entries]
            if writes:
                await raw.executemany(_WRITE, [e.args(self.outbox.channel) for e in writes])
                await self._derived(connection, writes)
        return outcomes

    def _chain(
        self, postings: list[Income], estates: dict[uuid.UUID, _Estate]
    ) -> list[Outcome | None]:
        """Links the postings into their estates' chains, in order; a retried key answers with
        its first result, also within the group. None: the estate is not locked (busy)."""
        outcomes: list[Outcome | None] = []
        current = domain.period_of(journal.today())
        # One time for the group, read once (the clock may read a file): its postings are
        # recorded by one transaction, and the time's forms are then made once, not per posting.
        recorded = _Recorded(clock.now())
        for posting in postings:
            estate = estates.get(posting.estate_id)
            if estate is None:
                outcomes.append(None)
                continue
            done = estate.done.get(posting.key) if posting.key else None
            if done is not None:
                digest, response = done
                if digest != posting.digest:
                    outcomes.append(
                        AlreadyExists(
                            "this idempotency key was already used for a different request; "
                            "use a new key for a new request"
                        )
                    )
                else:
                    outcomes.append(ledger_pb2.Entry.FromString(response))
                continue
            try:
                entry = self._link(estate, posting, current, recorded)
            except DomainError as exc:
                outcomes.append(exc)
                continue
            outcomes.append(entry)
            if posting.key:
                response = entry.SerializeToString()
                estate.keys.append((posting.key, posting.digest, response))
                estate.done[posting.key] = (posting.digest, response)
        return outcomes

    def _link(
        self, estate: _Estate, posting: Income, current: str, recorded: _Recorded
    ) -> ledger_pb2.Entry:
        """What `journal.post` does for an income entry, on the group's locked head."""
        account = domain.INCOME_ACCOUNT[posting.source]
        lines = [(domain.FUND_BANK, posting.amount), (account, -posting.amount)]
        journal.require_accounts(estate.accounts, {code for code, _ in lines})
        period = domain.period_of(posting.booked_on)
        late_for = ""
        if period in estate.closed:
            # A closed period accepts nothing: a late item goes into the open period, saying so.
            late_for, period = period, current
            if period == late_for:
                raise FailedPrecondition("this month is closed; post into the next one")
        index = estate.index + 1
        recorded_at = recorded.at
        entry_id = uuid.uuid4()
        estate_id = str(posting.estate_id)
        fields: dict[str, object] = {
            "estate_id": estate_id,
            "entry_id": str(entry_id),
            "index": index,
            "kind": "income",
            "period": period,
            "booked_on": posting.booked_on.isoformat(),
            "description": posting.description,
            "lines": [{"account": c, "amount_fen": a, "unit": ""} for c, a in lines],
            "items": [
                {"description": d, "amount_fen": a, "occurred_on": o} for d, a, o in posting.items
            ],
            "income_source": posting.source,
            "lump_sum": not posting.items,
            "vouchers": posting.vouchers,
            "reverses": "",
            "late_for_period": late_for,
            "disbursement_id": "",
            "recorded_at": recorded.text,
        }
        canonical = chain.canonical(fields)
        entry_hash = hashlib.sha256(canonical).digest()  # chain.entry_hash, serialised once
        chain_hash = chain.chain_hash(estate.hash, entry_hash)
        estate.index, estate.hash = index, chain_hash
        estate.entries.append(
            (
                entry_id,
                index,
                Kind.ENTRY_KIND_INCOME,
                period,
                posting.booked_on,
                posting.description,
                posting.source,
                not posting.items,
                late_for or None,
                ",".join(posting.vouchers),
                canonical.decode(),
                entry_hash,
                chain_hash,
                recorded_at,
                uuid.UUID(posting.actor) if posting.actor else None,
            )
        )
        estate.lines += [(entry_id, n, c, a) for n, (c, a) in enumerate(lines, 1)]
        estate.items += [
            (entry_id, n, d, a, date.fromisoformat(o) if o else None)
            for n, (d, a, o) in enumerate(posting.items, 1)
        ]
        event_lines = [events_pb2.EntryLine(account_code=c, amount_fen=a) for c, a in lines]
        event = events_pb2.EntryPosted(
            estate_id=estate_id,
            entry_id=str(entry_id),
            chain_index=index,
            kind=Kind.ENTRY_KIND_INCOME,
            period=period,
            description=posting.description,
            lines=event_lines,
            income_source=posting.source,
            lump_sum=not posting.items,
            voucher_sha256=posting.vouchers,
            entry_hash=entry_hash.hex(),
            chain_hash=chain_hash.hex(),
            items=[
                events_pb2.EntryItem(description=d, amount_fen=a, occurred_on=o)
                for d, a, o in posting.items
            ],
            late_for_period=late_for,
        )
        event.booked_at.seconds = _day_start(posting.booked_on)
        estate.events.append(
            self.outbox.row(posting.estate_id, "entry_posted", event, recorded_at, posting.trace)
        )
        if estate.ratio_terms:
            estate.accruals[(period, posting.booked_on)] = posting.actor
        if posting.source in takings.SOURCES:
            estate.months.add(domain.period_of(posting.booked_on))
        return ledger_pb2.Entry(
            estate_id=estate_id,
            entry_id=str(entry_id),
            chain_index=index,
            kind=Kind.ENTRY_KIND_INCOME,
            period=period,
            booked_on=posting.booked_on.isoformat(),
            description=posting.description,
            lines=event_lines,
            income_source=posting.source,
            lump_sum=not posting.items,
            items=[
                ledger_pb2.IncomeItem(description=d, amount_fen=a, occurred_on=o)
                for d, a, o in posting.items
            ],
            voucher_sha256=posting.vouchers,
            entry_hash=entry_hash.hex(),
            chain_hash=chain_hash.hex(),
            recorded_at=recorded.stamp,
            late_for_period=late_for,
            canonical_json=canonical.decode(),
        )

    async def _derived(self, connection: AsyncConnection, writes: list[_Estate]) -> None:
        """What follows from the income, by the ordinary path, once per estate and group: the
        company's remuneration on the period's cumulative income (rounded once, so accruing
        after several postings equals accruing after each) and the finished months' takings
        flags."""
        current = domain.period_of(journal.today())
        due = [
            (estate, sorted(m for m in estate.months if m < current))
            for estate in writes
            if estate.accruals or any(m < current for m in estate.months)
        ]
        if not due:
            return
        # The session joins the driver's transaction (as a savepoint of it).
        session = AsyncSession(bind=connection, expire_on_commit=False)
        async with session, session.begin():
            for estate, finished in due:
                await session.execute(_SET_ESTATE, {"e": str(estate.estate_id)})
                for (period, day), actor in sorted(estate.accruals.items()):
                    await journal.accrue_remuneration(
                        session, self.outbox, estate.estate_id, period, day, actor
                    )
                if finished:
                    await takingsapi.settle_flags(session, self.outbox, estate.estate_id, finished)
                await session.execute(_NUMBER_OUTBOX, {"e": estate.estate_id})
                await session.execute(_SET_ESTATE, {"e": ""})
