"""bench/tally.py at a small size, so it cannot rot: what it times is the service's own close
(`VotingApi.count_rows`, `VotingApi._count` and `tally.result_document`), counted from the rows
handed to it and from PostgreSQL alike to the same document, with every live receipt in it.
Never its speed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench.harness import SIZES
from bench.tally import figures, from_database, in_process, make_ballot, report

pytestmark = [pytest.mark.own_servers, pytest.mark.timeout(300)]


def test_the_tally_bench_counts_every_live_receipt_once(tmp_path: Path) -> None:
    ballot = make_ballot(1_500, 3, city=SIZES["smoke"])
    live = {code for _, code, _ in ballot.live}
    assert len(ballot.roll) == 1_500
    assert len(ballot.votes) > len(live) > 0, "some receipts superseded, most counted"
    timing, document = asyncio.run(in_process(ballot, 2))
    questions = json.loads(document)["questions"]
    assert [q["question_id"] for q in questions] == ["q1", "q2", "q3"]
    for question in questions:
        assert sorted(r["receipt"] for r in question["receipts"]) == sorted(live)
        assert question["roll"]["total_headcount"] == ballot.persons
    # Raises when the count from PostgreSQL is not the document counted in process.
    from_db = asyncio.run(from_database(ballot, 1, tmp_path / "pg", document))
    shown = report(figures("in process", timing, ballot, len(live)))
    shown += report(figures("reading PostgreSQL", from_db, ballot, len(live)))
    assert "1,500 units, 3 question(s)" in shown
