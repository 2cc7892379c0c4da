"""Schemathesis against the gateway's OpenAPI over real HTTP, as each kind of person: no answer
is a server error, and every answer matches the schema (status, content type, body). Below it,
what fuzzing found, each kept as a plain regression test."""

from __future__ import annotations

import os
import re
import zlib

import httpx
import pytest

from tests.identity.world import World, build
from tests.reliability import fuzz
from xinyi_dev.platform import Platform

PROBLEM = "application/problem+json"

# Examples per operation and person. Each person runs every operation (about 190), so 3 makes
# about 500 requests a person; XINYI_FUZZ_EXAMPLES=25 digs deeper in a run of its own.
EXAMPLES = int(os.environ.get("XINYI_FUZZ_EXAMPLES", "3"))

ROLES = (
    "operator",
    "company_manager",
    "company_accountant",
    "committee_member",
    "estate_supervisor",
    "community_supervisor",
    "owner",
)


@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    return build(platform.gateway_url, operator_token)


def _token(world: World, role: str) -> str:
    return world.operator_token if role == "operator" else world.tokens[role]


@pytest.mark.timeout(900)
def test_no_operation_answers_a_server_error_or_breaks_the_schema(
    platform: Platform, world: World
) -> None:
    schema = fuzz.load(platform.gateway_url)
    total = fuzz.Tally()
    for role in ROLES:
        # Each person's own estate, company and community, so calls reach real records; other
        # identifiers are generated (mostly answering 404, which is checked too).
        names = {
            "estate_id": world.estate_a,
            "company_id": world.company_a,
            "community_id": world.community_a,
        }
        if role != "operator":
            names["user_id"] = world.users[role]
        # A seed of each person's own: they try different inputs, the same ones in every run.
        tally = fuzz.fuzz(schema, _token(world, role), names, EXAMPLES, zlib.crc32(role.encode()))
        print(
            f"{role}: {tally.operations} operations, {tally.requests} requests, "
            f"statuses {dict(sorted(tally.statuses.items()))}"
        )
        total.add(tally)
    print(
        f"all: {total.requests} requests, {total.server_errors} server errors, "
        f"{len(total.findings)} findings, statuses {dict(sorted(total.statuses.items()))}"
    )
    assert total.requests >= len(ROLES) * 150, "fuzzing tried too little to mean anything"
    # Fuzzing reached past validation: created things, read real records, was refused access.
    assert {200, 201, 403, 404, 422} <= set(total.statuses)
    report = "\n\n".join(
        f"{f.operation} -> {f.status}\n  {f.request[:500]}\n  {f.failures[:800]}"
        for f in total.findings[:15]
    )
    assert not total.findings, f"{len(total.findings)} findings:\n{report}"


# -- regressions: what fuzzing found ----------------------------------------------------------


def _problem(reply: httpx.Response, status: int) -> dict[str, object]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith(PROBLEM)
    body = dict(reply.json())
    assert body["status"] == status and body["detail"]
    return body


def test_a_month_of_year_zero_is_refused_not_a_crash(world: World) -> None:
    # disclosure built the report's first day with date(0, 1, 1): ValueError, a 500.
    with world.client("operator") as op:
        report = op.get(f"/api/v1/estates/{world.estate_a}/reports/monthly/0000-01")
        assert "1900 to 2999" in str(_problem(report, 400)["detail"])
        kpis = op.get(f"/api/v1/estates/{world.estate_a}/kpis", params={"through": "0000-12"})
        _problem(kpis, 400)
    with world.client("company_accountant") as company:
        head = company.get(f"/api/v1/estates/{world.estate_a}/periods/0000-01/head")
        assert "1900 to 2999" in str(_problem(head, 400)["detail"])


def test_text_with_a_nul_character_is_refused_naming_the_field(world: World) -> None:
    # PostgreSQL cannot store NUL in text: the insert failed inside the service, a 500.
    with world.client("owner") as owner:
        reply = owner.post(
            f"/api/v1/estates/{world.estate_a}/petitions",
            json={"title": "召开临时业主大会", "reason": "理由\x00"},
        )
        detail = str(_problem(reply, 400)["detail"])
        assert "reason" in detail and "NUL" in detail
    with world.client("operator") as op:
        reply = op.post("/api/v1/districts", json={"name": "武侯\x00区"})
        assert "NUL" in str(_problem(reply, 400)["detail"])


def test_an_amount_past_what_the_services_store_is_refused(world: World) -> None:
    # The gateway put 5 * 10**23 into an int64 field: protobuf's ValueError, a 500.
    with world.client("company_manager") as company:
        reply = company.post(
            f"/api/v1/estates/{world.estate_a}/trust-contracts",
            json={
                "service_standard": "一级",
                "scope": "全部共有部分",
                "fee_rates": [{"unit_type": "residential", "fen_per_m2_month": "250"}],
                "remuneration_ratio": "1/10",
                "remuneration_sources": ["property_fee"],
                "starts_on": "2027-01-01",
                "ends_on": "2029-12-31",
                "bank_account_number": "6222021001112223334",
                "bank_name": "成都银行",
                "bank_account_holder": "甲小区业主大会",
                "approval_thresholds": [{"up_to_fen": 503303442597285155831808, "approvals": 1}],
                "supervisors": ["玉林北路社区居委会"],
            },
        )
        body = _problem(reply, 422)
        assert any("up_to_fen" in str(e["field"]) for e in body["errors"])  # type: ignore[attr-defined]


def test_a_path_and_query_too_long_for_the_server_is_a_problem_not_a_bare_400(
    platform: Platform, world: World
) -> None:
    # A payroll query of 10,000 four-byte characters made a 120 kB target; the HTTP server
    # refused it with a plain-text 400 before the application saw it.
    totals = "保" * 2_001
    with world.client("company_accountant") as company:
        reply = company.post(
            f"/api/v1/estates/{world.estate_a}/vouchers",
            params={"kind": "payroll", "payroll_totals": totals},
            content=b"%PDF-1.4\n%%EOF\n",
            headers={"content-type": "application/pdf"},
        )
        _problem(reply, 422)
        long = company.get(f"/api/v1/estates/{world.estate_a}/ledger/entries?x={'a' * 40_000}")
        assert "longer than the limit" in str(_problem(long, 414)["detail"])


def test_health_reports_are_documented_for_both_answers(platform: Platform) -> None:
    # /healthz answers 503 with a report (application/json) when a service is down; the schema
    # documented neither that status nor that it is not a problem.
    spec = httpx.get(f"{platform.gateway_url}/openapi.json").json()
    for path in ("/healthz", "/readyz"):
        answers = spec["paths"][path]["get"]["responses"]
        assert set(answers) == {"200", "503"}
        assert "application/json" in answers["503"]["content"]
    # Every other operation documents its refusals as problems.
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "health" in operation.get("tags", ()):
                continue
            assert PROBLEM in operation["responses"]["default"]["content"], (method, path)
            assert not re.search("HTTPValidationError", str(operation["responses"]))
