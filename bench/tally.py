"""The count of a 100,000-unit ballot, in process (issue 13: a tally in under 2 s).

    .venv/bin/python -m bench.tally                  # 100,000 units, 3 questions, 5 runs
    .venv/bin/python -m bench.tally --db             # and the close's reads from PostgreSQL
    .venv/bin/python -m bench.tally --units 20000 --questions 1 --runs 3

The roll is the first units of the generator's city (the onboarding import's pool, bench/world.py)
with its ownership as generated: couples co-owning a flat, owners of a second unit, developers'
unsold units, shop chains. Owners and units get uuid ids, as identity gives them. About 60% of
the roll's persons voted; a tenth of them changed their vote, so their first receipt is
superseded. What is timed is what CloseBallot runs: `VotingApi.count_rows` (the roll's rows
grouped into persons, each question's votes, a voter key per voter) handed the rows it would
read, then `tally.result_document`. With --db, `VotingApi._count` also reads them from PostgreSQL
(embedded, under a temporary directory), which shows what the reads add.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from bench.harness import SIZES, Figure, Size, at_most, figure
from bench.run import table
from bench.world import units_pool
from xinyi_dev import democity
from xinyi_dev.embedded import EmbeddedPostgres
from xinyi_kit.db import Database, asyncpg_dsn
from xinyi_kit.migrate import app_role, migrate
from xinyi_voting import store, tally
from xinyi_voting.api import VotingApi

TARGET_SECONDS = 2.0
TURNOUT = 0.6  # of the roll's persons
CHANGED_VOTE = 0.1  # of the voters: a first receipt superseded by a second
CANDIDATES = tuple(f"cand-{n}" for n in range(1, 8))
SEATS = 5
# A ballot as an assembly puts it (the stored form of api._questions): an ordinary item, a
# special one (3/4), and a committee election.
QUESTIONS: tuple[dict[str, Any], ...] = (
    {"question_id": "q1", "text": "续聘物业服务企业", "matter": 4, "kind": "yes_no", "seats": 0,
     "candidates": [], "subject_kind": 0, "subject_id": ""},
    {"question_id": "q2", "text": "续筹专项维修资金", "matter": 6, "kind": "yes_no", "seats": 0,
     "candidates": [], "subject_kind": 0, "subject_id": ""},
    {"question_id": "q3", "text": "选举业主委员会委员", "matter": 3, "kind": "candidates",
     "seats": SEATS, "candidates": [{"candidate_id": c, "name": c} for c in CANDIDATES],
     "subject_kind": 0, "subject_id": ""},
)  # fmt: skip

# What `_count` reads: a roll row (unit id, area, owner ids) and a vote row (person key,
# receipt code, choices); a stored vote also carries the receipt that superseded it.
RollRow = tuple[uuid.UUID, int, list[str]]
VoteRow = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Ballot:
    """A closed ballot's stored rows: the frozen roll, and every vote with its superseding."""

    estate_id: uuid.UUID
    ballot_id: uuid.UUID
    questions: list[dict[str, Any]]
    roll: list[RollRow]
    votes: list[tuple[str, str, dict[str, Any], str | None]]
    persons: int

    @property
    def live(self) -> list[VoteRow]:
        """The votes the count reads: none that a later one superseded."""
        return [(p, code, choices) for p, code, choices, later in self.votes if later is None]

    def row(self) -> store.Ballot:
        return store.Ballot(
            estate_id=self.estate_id,
            ballot_id=self.ballot_id,
            state="open",
            questions=self.questions,
            voter_secret=b"bench-voter-secret-0123456789abc",
        )


def make_ballot(units: int, questions: int, seed: int = 2019, city: Size = SIZES["city"]) -> Ballot:
    """The roll of `units` units of the generator's city (the one `city` sizes) and the
    receipts of its voters, the same for the same arguments."""
    pool = units_pool(city)
    if len(pool) < units:
        raise SystemExit(f"the generator's city has {len(pool):,} units, fewer than {units:,}")
    ids = uuid.UUID(int=seed)
    # One id per owner: a person by phone, an organisation or developer by its name.
    owner_ids: dict[democity.OwnerPlan, str] = {}
    roll: list[RollRow] = []
    for plan in pool[:units]:
        owners = [
            owner_ids.setdefault(o, str(uuid.uuid5(ids, o.phone or o.name))) for o in plan.owners
        ]
        unit_id = uuid.uuid5(ids, f"{plan.building}/{plan.number}")
        roll.append((unit_id, int(plan.exclusive_area * 100), sorted(owners)))
    persons = list(
        dict.fromkeys(tally.person_key(tally.RollUnit("", 0, frozenset(o))) for _, _, o in roll)
    )
    rng = random.Random(seed)
    asked = list(QUESTIONS[:questions])
    votes: list[tuple[str, str, dict[str, Any], str | None]] = []
    for person in rng.sample(persons, round(len(persons) * TURNOUT)):
        final = _receipt_code(rng)
        if rng.random() < CHANGED_VOTE:
            votes.append((person, _receipt_code(rng), _choices(rng, asked), final))
        votes.append((person, final, _choices(rng, asked), None))
    return Ballot(uuid.uuid5(ids, "estate"), uuid.uuid5(ids, "ballot"), asked, roll, votes,
                  len(persons))  # fmt: skip


def _receipt_code(rng: random.Random) -> str:
    raw = f"{rng.getrandbits(64):016X}"
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _choices(rng: random.Random, questions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A voter's choices as a vote stores them: most approve, some vote no, a few abstain."""
    out: dict[str, Any] = {}
    for q in questions:
        if q["kind"] == "candidates":
            ids = [c["candidate_id"] for c in q["candidates"]]
            out[q["question_id"]] = sorted(rng.sample(ids, rng.randint(0, q["seats"])))
        else:
            out[q["question_id"]] = rng.choices(("yes", "no", "abstain"), (70, 22, 8))[0]
    return out


# -- the close in process -------------------------------------------------------------------------
def _servicer(database: Database | None = None) -> VotingApi:
    """A servicer for its count alone (no outbox, no identity)."""
    return VotingApi(cast(Database, database), cast(Any, None), cast(Any, None))


def count(api: VotingApi, ballot: Ballot) -> tuple[str, dict[str, Clock]]:
    """What CloseBallot computes from the rows it read (`VotingApi.count_rows`, unit ids as the
    roll's read casts them, to text): the published document, and the wall and CPU seconds that
    the count and `result_document` each took."""
    row = ballot.row()
    units = [(str(unit_id), area, owners) for unit_id, area, owners in ballot.roll]
    began = Clock.now()
    roll, counted, keys = api.count_rows(row, units, ballot.live)
    read = Clock.now()
    document = tally.result_document(roll, counted, keys)
    return document, {"count_rows": read - began, "result_document": Clock.now() - read}


async def read_and_count(
    api: VotingApi, session: AsyncSession, ballot: Ballot
) -> tuple[str, dict[str, Clock]]:
    """The same from PostgreSQL: `VotingApi._count` reads the rows in the estate's transaction
    and counts them, then `result_document`."""
    row = ballot.row()
    began = Clock.now()
    roll, counted, keys = await api._count(session, row)
    read = Clock.now()
    document = tally.result_document(roll, counted, keys)
    return document, {"_count": read - began, "result_document": Clock.now() - read}


@dataclass(frozen=True)
class Clock:
    """Wall seconds, and CPU seconds of this process (the figure a loaded machine disturbs
    least: PostgreSQL's own CPU is not in it)."""

    wall: float
    cpu: float

    @staticmethod
    def now() -> Clock:
        return Clock(time.perf_counter(), time.process_time())

    def __sub__(self, other: Clock) -> Clock:
        return Clock(self.wall - other.wall, self.cpu - other.cpu)


@dataclass(frozen=True)
class Timing:
    runs: list[Clock]
    parts: dict[str, list[Clock]]

    @property
    def wall(self) -> list[float]:
        return [r.wall for r in self.runs]

    @property
    def cpu(self) -> list[float]:
        return [r.cpu for r in self.runs]


async def timed(runs: int, once: Callable[[], Awaitable[dict[str, Clock]]]) -> Timing:
    """`runs` runs of `once` (which returns its parts' times), each after a collection and with
    the garbage collector on, as in the service."""
    totals: list[Clock] = []
    parts: dict[str, list[Clock]] = {}
    for _ in range(runs):
        gc.collect()
        began = Clock.now()
        got = await once()
        totals.append(Clock.now() - began)
        for name, spent in got.items():
            parts.setdefault(name, []).append(spent)
    return Timing(totals, parts)


async def in_process(ballot: Ballot, runs: int) -> tuple[Timing, str]:
    api = _servicer()
    documents: set[str] = set()

    async def once() -> dict[str, Clock]:
        document, parts = count(api, ballot)
        documents.add(document)
        return parts

    timing = await timed(runs, once)
    if len(documents) != 1:
        raise AssertionError("the same ballot gave different documents")
    return timing, documents.pop()


# -- the close's reads from PostgreSQL ------------------------------------------------------------
async def _store(url: str, ballot: Ballot) -> None:
    """The ballot's rows, written with COPY as the schema's owner would."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        e, b = ballot.estate_id, ballot.ballot_id
        await conn.execute("INSERT INTO voting.estates VALUES ($1, 'bench')", e)
        await conn.execute(
            "INSERT INTO voting.ballots (estate_id, ballot_id, title, state, questions) "
            "VALUES ($1, $2, 'bench', 'open', $3)",
            e,
            b,
            json.dumps(ballot.questions),
        )
        await conn.copy_records_to_table(
            "roll_units",
            schema_name="voting",
            columns=["estate_id", "ballot_id", "unit_id", "building", "number", "area_centi_m2",
                     "owner_ids"],
            records=[(ballot.estate_id, ballot.ballot_id, unit, "", "", area, owners)
                     for unit, area, owners in ballot.roll],
        )  # fmt: skip
        voter = uuid.uuid5(ballot.estate_id, "voter")
        stamp = datetime(2026, 11, 26, tzinfo=UTC)
        await conn.copy_records_to_table(
            "votes",
            schema_name="voting",
            columns=["estate_id", "ballot_id", "receipt_code", "person_key", "voter_user_id",
                     "channel", "choices", "cast_at", "superseded_by"],
            records=[(ballot.estate_id, ballot.ballot_id, code, person, voter, "online",
                      json.dumps(choices), stamp, later)
                     for person, code, choices, later in ballot.votes],
        )  # fmt: skip
        await conn.execute("ANALYZE voting.roll_units; ANALYZE voting.votes")
    finally:
        await conn.close()


@contextlib.contextmanager
def _postgres(data: Path) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(data)
    pg.start()
    try:
        pg.ensure_database("xinyi")
        yield pg
    finally:
        pg.stop()


def _sqlalchemy(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def from_database(ballot: Ballot, runs: int, data: Path, expected: str) -> Timing:
    """The same close, reading the ballot's rows from PostgreSQL as the service's role (under
    its row-level security) in an estate's transaction, as CloseBallot does."""
    with _postgres(data) as pg:
        admin = _sqlalchemy(pg.url("xinyi"))
        await migrate("voting", admin)
        await _store(admin, ballot)
        database = Database(_sqlalchemy(pg.url("xinyi", user=app_role("voting"))), "voting")
        api = _servicer(database)
        try:

            async def once() -> dict[str, Clock]:
                async with database.estate_tx(ballot.estate_id) as session:
                    document, parts = await read_and_count(api, session, ballot)
                if document != expected:
                    raise AssertionError(
                        "the count from PostgreSQL differs from the one in process"
                    )
                return parts

            await once()  # connects, and reads the tables into PostgreSQL's cache
            return await timed(runs, once)
        finally:
            await database.close()


# -- the report -----------------------------------------------------------------------------------
def figures(name: str, timing: Timing, ballot: Ballot, receipts: int) -> list[Figure]:
    """Best and median wall seconds against the target, the CPU seconds beside them, and each
    part's best."""
    target = at_most(TARGET_SECONDS, f"≤ {TARGET_SECONDS:g} s")
    units, wall, cpu = len(ballot.roll), timing.wall, timing.cpu
    out = [
        figure("tally", f"{name}: {units:,} units, {len(ballot.questions)} question(s), "
               f"{receipts:,} receipts, best", min(wall), "s", target=target,
               units_per_s=units / min(wall), wall=wall, cpu=cpu),
        figure("tally", f"{name}: median of {len(wall)}", statistics.median(wall), "s",
               target=target),
        figure("tally", f"{name}: CPU, best", min(cpu), "s", target=target),
        figure("tally", f"{name}: CPU, median", statistics.median(cpu), "s"),
    ]  # fmt: skip
    for part, spent in timing.parts.items():
        out.append(figure("tally", f"  {part}: wall, best", min(s.wall for s in spent), "s"))
        out.append(figure("tally", f"  {part}: CPU, best", min(s.cpu for s in spent), "s"))
    return out


def report(figs: list[Figure]) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    results = {"baselines": [], "figures": [f.as_json() for f in figs], "errors": {}}
    return f"{table(results)}\nload average: {load} ({os.cpu_count()} CPUs)"


async def main_async(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    ballot = make_ballot(args.units, args.questions)
    receipts = len(ballot.live)
    print(f"{len(ballot.roll):,} units, {ballot.persons:,} persons, {receipts:,} counted "
          f"receipts ({len(ballot.votes) - receipts:,} superseded); made in "
          f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    timing, document = await in_process(ballot, args.runs)
    figs = figures("in process", timing, ballot, receipts)
    if args.db:
        with tempfile.TemporaryDirectory(prefix="tally-bench-") as tmp:
            timing_db = await from_database(ballot, args.runs, Path(tmp) / "pg", document)
        figs += figures("reading PostgreSQL", timing_db, ballot, receipts)
    print(report(figs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--questions", type=int, choices=(1, 2, 3), default=len(QUESTIONS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", action="store_true", help="also read the rows from PostgreSQL")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
