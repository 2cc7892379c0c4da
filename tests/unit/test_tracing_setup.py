"""Spans are recorded only where they go out; trace ids exist either way."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from xinyi_kit.telemetry import setup_tracing

ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


@pytest.fixture
def no_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENDPOINTS, "OTEL_TRACES_SAMPLER"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_collector")
def test_without_a_collector_spans_are_not_recorded_but_carry_trace_ids() -> None:
    provider = setup_tracing("unit")
    assert provider.sampler is ALWAYS_OFF
    tracer = provider.get_tracer("unit")
    with tracer.start_as_current_span("outer") as outer:
        assert not outer.is_recording()
        context = outer.get_span_context()
        assert context.is_valid  # an error can still name its trace id
    other = tracer.start_span("another")
    assert other.get_span_context().trace_id != context.trace_id


@pytest.mark.usefixtures("no_collector")
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_with_a_collector_spans_are_recorded(
    monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    monkeypatch.setenv(endpoint, "http://127.0.0.1:9/v1/traces")
    provider = setup_tracing("unit")
    try:
        assert provider.sampler is not ALWAYS_OFF
        with provider.get_tracer("unit").start_as_current_span("outer") as span:
            assert span.is_recording()
    finally:
        provider.shutdown()


@pytest.mark.usefixtures("no_collector")
def test_an_explicit_sampler_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    provider = setup_tracing("unit")
    with provider.get_tracer("unit").start_as_current_span("outer") as span:
        assert span.is_recording()
