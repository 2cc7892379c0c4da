"""Schemathesis over real HTTP: every operation of the gateway's OpenAPI, as one person, with
valid and invalid inputs; what answers 5xx or breaks the schema is collected, not raised, so one
run reports every finding."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Left out of fuzzing, each for a reason:
SKIPPED = {
    # Rotating identity's signing key again and again retires the key that signed the tokens
    # every other test of the run holds; its own tests are in tests/identity/test_tokens.py.
    ("POST", "/api/v1/auth/signing-keys/rotate"),
    # A server-sent event stream answers for as long as the client listens.
    ("GET", "/api/v1/me/inbox/stream"),
}


@dataclass
class Finding:
    operation: str
    status: int
    failures: str
    request: str


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    operations: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.statuses.update(other.statuses)
        self.operations += other.operations
        self.findings += other.findings

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def load(base_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=30)


def _describe(case: Any) -> str:
    parts = [f"{case.method} {case.formatted_path}"]
    if case.query:
        parts.append(f"query={case.query!r}")
    if isinstance(case.body, bytes | bytearray):
        parts.append(f"body=<{len(case.body)} bytes {case.media_type}>")
    elif case.body is not NOT_SET:
        parts.append(f"body={case.body!r}"[:600])
    return " ".join(parts)


def fuzz(
    schema: Any,
    token: str,
    path_parameters: Mapping[str, str],
    max_examples: int,
    seed_value: int,
    only: re.Pattern[str] | None = None,
) -> Tally:
    """Calls every operation (or those whose path matches `only`) up to `max_examples` times as
    the holder of `token`, naming path parameters from `path_parameters` where given. The same
    `seed_value` draws the same inputs."""
    tally = Tally()
    session = requests.Session()
    headers = {"authorization": f"Bearer {token}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        if only is not None and not only.search(operation.path):
            continue
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in path_parameters.items() if k in names}
        strategy = st.one_of(
            [
                operation.as_strategy(
                    generation_mode=mode, headers=headers, path_parameters=fixed or None
                )
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            ]
        )
        tally.operations += 1

        @settings(
            max_examples=max_examples,
            database=None,
            deadline=None,
            derandomize=False,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @seed(seed_value)
        @given(case=strategy)
        def run(case: Any) -> None:
            response = case.call(session=session, timeout=30)
            tally.requests += 1
            tally.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # every failure is a finding
                tally.findings.append(
                    Finding(
                        operation=f"{case.operation.method.upper()} {case.operation.path}",
                        status=response.status_code,
                        failures=str(exc)[:1500],
                        request=_describe(case),
                    )
                )

        run()
    return tally
