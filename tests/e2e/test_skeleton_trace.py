"""A request through the gateway, gRPC, a database write with its outbox event, JetStream and
consumers in two other services: the effect arrives, and every process's spans form one trace."""

from __future__ import annotations

import httpx
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from tests.poll import eventually
from tests.spans import Span, SpanCollector
from xinyi_ledger.domain import DEFAULT_CHART


def _by_id(spans: list[Span]) -> dict[str, Span]:
    return {s.span_id: s for s in spans}


def _ancestors(span: Span, index: dict[str, Span]) -> list[Span]:
    chain = []
    while span.parent_id and span.parent_id in index:
        span = index[span.parent_id]
        chain.append(span)
    return chain


def test_estate_creation_flows_through_every_hop_in_one_trace(
    api: httpx.Client, spans: SpanCollector
) -> None:
    created = api.post("/api/v1/estates", json={"name": "链路小区", "address": "成都市武侯区"})
    assert created.status_code == 201, created.text
    estate_id = created.json()["estate_id"]

    # The effect: ledger opened the books (consumer of identity), disclosure saw both events.
    overview = eventually(
        lambda: (
            (r := api.get(f"/api/v1/estates/{estate_id}/overview")).status_code == 200
            and r.json()["books_open"]
            and r.json()
        ),
        what="the estate's books to open and reach disclosure",
    )
    assert overview["name"] == "链路小区"
    assert overview["account_count"] == len(DEFAULT_CHART)
    assert overview["applied_sequences"] == {"identity": 1, "ledger": 1}
    accounts = api.get(f"/api/v1/estates/{estate_id}/ledger/accounts").json()
    assert {"1001", "1002", "3001", "3002"} <= {a["code"] for a in accounts}

    # The trace: the gateway names it in the response; wait for every process's spans.
    trace_id = created.headers["x-trace-id"]

    def complete() -> list[Span] | None:
        trace = spans.trace(trace_id)
        services = {s.service for s in trace}
        applies = {(s.service, s.name) for s in trace if s.name.startswith("apply ")}
        ids = {s.span_id for s in trace}
        # Processes export in batches: wait until every parent named has arrived too.
        waiting = [s for s in trace if s.parent_id and s.parent_id not in ids]
        expected = {
            ("ledger", "apply xinyi.identity.v1.EstateCreated"),
            ("disclosure", "apply xinyi.identity.v1.EstateCreated"),
            ("disclosure", "apply xinyi.ledger.v1.BooksOpened"),
        }
        if {"gateway", "identity", "ledger", "disclosure"} <= services and expected <= applies:
            return None if waiting else trace
        return None

    trace = eventually(complete, what="spans from every process in one trace")
    index = _by_id(trace)

    # Every span but the root has its parent in the same trace (waited for above): one tree.
    roots = [s for s in trace if not s.parent_id]
    assert len(roots) == 1, roots
    assert roots[0].service == "gateway" and roots[0].kind == PbSpan.SPAN_KIND_SERVER

    # identity's gRPC server span is a child of the gateway's client call.
    server = next(
        s
        for s in trace
        if s.service == "identity"
        and s.kind == PbSpan.SPAN_KIND_SERVER
        and s.name.endswith("CreateEstate")
    )
    client = index[server.parent_id]
    assert client.service == "gateway" and client.kind == PbSpan.SPAN_KIND_CLIENT
    # identity's database spans hang under its server span.
    assert any(
        s.service == "identity"
        and s.parent_id == server.span_id
        and s.kind == PbSpan.SPAN_KIND_CLIENT
        for s in trace
    )
    # The relay's publish descends from the server span that wrote the outbox row ...
    publish = next(s for s in trace if s.service == "identity" and s.name.startswith("publish "))
    assert server in _ancestors(publish, index)
    # ... and each consumer's apply span is a child of that publish.
    for service in ("ledger", "disclosure"):
        apply = next(
            s
            for s in trace
            if s.service == service and s.name == "apply xinyi.identity.v1.EstateCreated"
        )
        assert apply.parent_id == publish.span_id
        assert apply.kind == PbSpan.SPAN_KIND_CONSUMER
    # The ledger's own event (books_opened) reaches disclosure in the same trace.
    books = next(
        s
        for s in trace
        if s.service == "disclosure" and s.name == "apply xinyi.ledger.v1.BooksOpened"
    )
    assert any(
        a.service == "ledger" and a.name.startswith("apply ") for a in _ancestors(books, index)
    )
