"""Every limit of the gateway, at its bound and just past it, answered with problem+json (never
500, never a stack trace): request bodies, files, CSV imports and statements, path and query,
string lengths, list lengths, numbers and page sizes. Where a limit is in the OpenAPI document,
the test reads it from there, so a new field or route is covered as it is added."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.identity.world import World, build
from tests.reliability import routes
from xinyi.identity.v1 import identity_pb2, identity_pb2_grpc
from xinyi.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from xinyi_dev.platform import Platform
from xinyi_gateway import (
    limits,
    routes_ballots,
    routes_statements,
    routes_takings,
    routes_voice,
    routes_vouchers,
)
from xinyi_gateway.config import Settings
from xinyi_kit import rpc

PROBLEM = "application/problem+json"
BODY_LIMIT = Settings.model_fields["max_body_bytes"].default
FILE_LIMITS = [
    *routes_vouchers.BODY_ALLOWANCES,
    *routes_voice.BODY_ALLOWANCES,
    *routes_ballots.BODY_ALLOWANCES,
    *routes_statements.BODY_ALLOWANCES,
    *routes_takings.BODY_ALLOWANCES,
]


@pytest.fixture(scope="module")
def world(platform: Platform, operator_token: str) -> World:
    return build(platform.gateway_url, operator_token)


@pytest.fixture(scope="module")
def doc(platform: Platform) -> dict[str, Any]:
    return routes.document(platform.gateway_url)


def refused(reply: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The answer is a problem of `status` whose detail holds `words`, and no stack trace."""
    assert reply.status_code == status, f"{reply.status_code}: {reply.text[:500]}"
    assert reply.headers["content-type"].startswith(PROBLEM), reply.headers["content-type"]
    body = dict(reply.json())
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body["detail"]
    assert "Traceback" not in reply.text and 'File "' not in reply.text
    return body


def not_refused_for_size(reply: httpx.Response) -> None:
    assert reply.status_code not in (413, 414, 500), f"{reply.status_code}: {reply.text[:300]}"
    assert "Traceback" not in reply.text


def fields(body: dict[str, Any]) -> set[str]:
    return {str(e["field"]) for e in body.get("errors", ())}


def _json_of_size(size: int) -> bytes:
    """A JSON object of exactly `size` bytes: one over-long name."""
    head, tail = b'{"name": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


# -- bodies, paths, files --------------------------------------------------------------------


def test_a_body_at_the_limit_is_read_and_one_byte_more_is_refused(world: World) -> None:
    with world.client("operator") as op:
        at = op.post(
            "/api/v1/districts",
            content=_json_of_size(BODY_LIMIT),
            headers={"content-type": "application/json"},
        )
        # Read whole and validated: the name is too long, which is a 422, not a 413.
        assert "name" in fields(refused(at, 422))
        past = op.post(
            "/api/v1/districts",
            content=_json_of_size(BODY_LIMIT + 1),
            headers={"content-type": "application/json"},
        )
        refused(past, 413, f"limit of {BODY_LIMIT} bytes")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield _json_of_size(BODY_LIMIT + 1)

        refused(
            op.post(
                "/api/v1/districts", content=chunks(), headers={"content-type": "application/json"}
            ),
            413,
        )


def test_a_path_and_query_past_the_limit_is_refused(world: World) -> None:
    base = f"/api/v1/estates/{world.estate_a}/ledger/entries"
    with world.client("operator") as op:
        room = limits.MAX_TARGET_BYTES - len(base) - len("q=")  # the "?" is not counted
        not_refused_for_size(op.get(f"{base}?q={'a' * room}"))
        refused(op.get(f"{base}?q={'a' * (room + 1)}"), 414, "longer than the limit")


def _file_route(doc: dict[str, Any], method: str, pattern: re.Pattern[str], estate: str) -> str:
    for op in routes.operations(doc):
        url = op.url({"estate_id": estate})
        if op.method == method and pattern.fullmatch(url):
            return url
    raise AssertionError(f"no operation of the OpenAPI matches {method} {pattern.pattern}")


@pytest.mark.parametrize(
    ("method", "pattern", "limit"), FILE_LIMITS, ids=[p.pattern for _, p, _ in FILE_LIMITS]
)
def test_each_file_route_takes_its_limit_and_refuses_a_byte_more(
    world: World, doc: dict[str, Any], method: str, pattern: re.Pattern[str], limit: int
) -> None:
    url = _file_route(doc, method, pattern, world.estate_a)
    content_type = "application/pdf" if "photos" not in url else "image/png"
    if "bank-statements" in url or "takings" in url:
        content_type = "text/csv"
    params = {"kind": "receipt"} if "vouchers" in url else {}
    assert limit > BODY_LIMIT and limit < rpc.MAX_MESSAGE_BYTES  # it fits one gRPC message
    with world.client("company_accountant") as company:
        past = company.request(
            method,
            url,
            params=params,
            content=b"%PDF-1.4\n" + b"0" * (limit + 1 - 9),
            headers={"content-type": content_type},
        )
        refused(past, 413, "limit")
        at = company.request(
            method,
            url,
            params=params,
            content=b"%PDF-1.4\n" + b"0" * (limit - 9),
            headers={"content-type": content_type},
        )
        not_refused_for_size(at)


def test_a_voucher_of_exactly_the_limit_is_stored_whole(world: World) -> None:
    pdf = b"%PDF-1.4\n" + b"0" * (routes_vouchers.MAX_BYTES - 9 - 6) + b"%%EOF\n"
    assert len(pdf) == routes_vouchers.MAX_BYTES
    with world.client("company_accountant") as company:
        stored = company.post(
            f"/api/v1/estates/{world.estate_a}/vouchers",
            params={"kind": "receipt", "filename": "limit.pdf"},
            content=pdf,
            headers={"content-type": "application/pdf"},
        )
        assert stored.status_code == 201, stored.text
        assert stored.json()["size"] == len(pdf)
        kind = company.post(
            f"/api/v1/estates/{world.estate_a}/vouchers",
            params={"kind": "receipt"},
            content=b"<html>",
            headers={"content-type": "text/html"},
        )
        refused(kind, 415, "application/pdf")


def test_an_estate_roll_at_the_body_limit_is_read_and_past_it_refused(world: World) -> None:
    header = b"building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number\n"
    row = b"1,1-101,residential,89.50,%s,person,,\n"
    name = b"x" * (BODY_LIMIT - len(header) - len(row) + 2)
    rows = header + row % name
    assert len(rows) == BODY_LIMIT
    url = f"/api/v1/estates/{world.estate_b}/imports"
    with world.client("operator") as op:
        at = op.post(
            url,
            params={"dry_run": "true"},
            content=bytes(rows),
            headers={"content-type": "text/csv"},
        )
        not_refused_for_size(at)
        past = op.post(
            url,
            params={"dry_run": "true"},
            content=bytes(rows) + b"#",
            headers={"content-type": "text/csv"},
        )
        refused(past, 413, "limit")


# -- fields: strings, lists, numbers, page sizes, headers -----------------------------------


def test_every_bounded_text_list_and_number_field_refuses_one_past_its_bound(
    world: World, doc: dict[str, Any]
) -> None:
    """Each top-level field of every JSON body: a string one character past maxLength, a list
    one item past maxItems, a number one past maximum, each answered 422 naming the field."""
    tried = 0
    with world.client("operator") as op:
        for operation in routes.operations(doc):
            body = operation.json_body()
            if body is None:
                continue
            url = operation.url({"estate_id": world.estate_a})
            for name, raw in body.get("properties", {}).items():
                schema = routes.nullable(routes.resolve(doc, raw))
                value: object
                if schema.get("type") == "string" and "maxLength" in schema:
                    value = "x" * (schema["maxLength"] + 1)
                elif schema.get("type") == "array" and "maxItems" in schema:
                    value = ["x"] * (schema["maxItems"] + 1)
                elif schema.get("type") == "integer" and "maximum" in schema:
                    value = schema["maximum"] + 1
                else:
                    continue
                reply = op.request(operation.method, url, json={name: value})
                problem = refused(reply, 422)
                assert any(f == name or f.startswith(f"{name}.") for f in fields(problem)), (
                    str(operation),
                    name,
                    problem,
                )
                tried += 1
    print(f"{tried} bounded body fields refused one past their bound")
    assert tried >= 100


def test_every_page_size_and_bounded_query_takes_its_bound_and_refuses_one_more(
    world: World, doc: dict[str, Any]
) -> None:
    tried = 0
    with world.client("operator") as op:
        for operation in routes.operations(doc):
            if operation.method != "GET" or operation.path.endswith("/stream"):
                continue
            url = operation.url({"estate_id": world.estate_a, "community_id": world.community_a})
            for name, raw in operation.query_parameters().items():
                schema = routes.nullable(raw)
                if schema.get("type") == "integer" and "maximum" in schema:
                    at, past = schema["maximum"], schema["maximum"] + 1
                elif schema.get("type") == "string" and "maxLength" in schema:
                    if "pattern" in schema:
                        continue
                    at, past = "x" * schema["maxLength"], "x" * (schema["maxLength"] + 1)
                else:
                    continue
                reply = op.get(url, params={name: at})
                assert reply.status_code != 422 or f"query.{name}" not in fields(reply.json()), (
                    str(operation),
                    name,
                    reply.text,
                )
                not_refused_for_size(reply)
                problem = refused(op.get(url, params={name: past}), 422)
                assert f"query.{name}" in fields(problem), (str(operation), problem)
                tried += 1
    print(f"{tried} bounded query parameters checked at and past their bound")
    assert tried >= 10


def test_an_idempotency_key_past_its_bound_is_refused(world: World) -> None:
    with world.client("operator") as op:
        at = op.post(
            "/api/v1/districts", json={"name": "锦江区"}, headers={"Idempotency-Key": "k" * 200}
        )
        assert at.status_code == 201, at.text
        past = op.post(
            "/api/v1/districts", json={"name": "锦江区"}, headers={"Idempotency-Key": "k" * 201}
        )
        assert "header.Idempotency-Key" in fields(refused(past, 422))


def test_a_name_at_its_bound_is_taken(world: World) -> None:
    with world.client("operator") as op:
        at = op.post("/api/v1/estates", json={"name": "甲" * 200})
        assert at.status_code == 201, at.text
        assert at.json()["name"] == "甲" * 200
        refused(op.post("/api/v1/estates", json={"name": "甲" * 201}), 422, "name")


# -- the services refuse page sizes past their bound themselves ------------------------------


def test_services_refuse_a_page_size_past_their_bound_without_the_gateway(
    platform: Platform, world: World
) -> None:
    metadata = (("authorization", f"Bearer {world.tokens['company_manager']}"),)
    identity = grpc.insecure_channel(platform.address("identity"))
    ledger = grpc.insecure_channel(platform.address("ledger"))
    try:
        units = identity_pb2_grpc.IdentityServiceStub(identity).ListUnits
        at = units(
            identity_pb2.ListUnitsRequest(estate_id=world.estate_a, page_size=1000),
            metadata=metadata,
            timeout=30,
        )
        assert len(at.units) >= 3
        with pytest.raises(grpc.RpcError) as past:
            units(
                identity_pb2.ListUnitsRequest(estate_id=world.estate_a, page_size=1001),
                metadata=metadata,
                timeout=30,
            )
        assert past.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        entries = ledger_pb2_grpc.LedgerServiceStub(ledger).ListEntries
        entries(
            ledger_pb2.ListEntriesRequest(estate_id=world.estate_a, page_size=500),
            metadata=metadata,
            timeout=30,
        )
        with pytest.raises(grpc.RpcError) as past:
            entries(
                ledger_pb2.ListEntriesRequest(estate_id=world.estate_a, page_size=501),
                metadata=metadata,
                timeout=30,
            )
        assert past.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        identity.close()
        ledger.close()


def test_unknown_ids_and_methods_are_problems_too(world: World) -> None:
    with world.client("operator") as op:
        refused(op.get(f"/api/v1/estates/{uuid.uuid4()}"), 404)
        refused(op.get("/api/v1/estates/not-a-uuid"), 422)
        wrong_method = op.delete("/api/v1/estates")
        refused(wrong_method, wrong_method.status_code)
        assert wrong_method.status_code in (404, 405)


def test_services_refuse_over_long_text_without_the_gateway_and_without_echoing_it(
    platform: Platform, world: World
) -> None:
    """Every method of every service whose request names an estate, called directly with each
    text field 200,000 characters long: refused as bad input (or for access), never a crash, and
    never with an error sentence so long that it cannot reach the caller (a service that quoted
    the input whole made the client see RESOURCE_EXHAUSTED)."""
    from tests.reliability.test_isolation import _estate_methods
    from xinyi_kit.migrate import SERVICES

    refusals = {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
    }
    long = "字" * 200_000
    channels = {name: grpc.insecure_channel(platform.address(name)) for name in SERVICES}
    wrong: list[str] = []
    tried = 0
    try:
        for service, path, request, response in _estate_methods():
            texts = {
                f.name: long
                for f in request.DESCRIPTOR.fields
                if f.type == f.TYPE_STRING and not f.is_repeated and not f.name.endswith("_id")
            }
            if not texts:
                continue
            call = channels[service].unary_unary(
                path,
                request_serializer=request.SerializeToString,
                response_deserializer=response.FromString,
            )
            for role in ("operator", "company_manager", "committee_chair", "owner"):
                token = world.operator_token if role == "operator" else world.tokens[role]
                tried += 1
                try:
                    call(
                        request(estate_id=world.estate_a, **texts),
                        metadata=(("authorization", f"Bearer {token}"),),
                        timeout=30,
                    )
                    wrong.append(f"{role}: {path} took {sorted(texts)} of 200,000 characters")
                except grpc.RpcError as exc:
                    if exc.code() not in refusals:
                        wrong.append(f"{role}: {path} -> {exc.code().name} {exc.details()[:120]}")
                    elif len(exc.details() or "") > 1000:
                        wrong.append(f"{role}: {path} answered {len(exc.details())} characters")
    finally:
        for channel in channels.values():
            channel.close()
    print(f"{tried} calls with over-long text refused by the services themselves")
    assert tried >= 200
    assert not wrong, "\n".join(wrong[:30])
