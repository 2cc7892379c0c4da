"""The gateway's operations as its OpenAPI document lists them, with concrete paths to call, so
tests over every route cover a route added tomorrow without being edited."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the template, "/api/v1/estates/{estate_id}/..."
    spec: dict[str, Any]
    document: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_parameters(self) -> dict[str, dict[str, Any]]:
        return {
            p["name"]: p["schema"] for p in self.spec.get("parameters", ()) if p["in"] == "path"
        }

    def query_parameters(self) -> dict[str, dict[str, Any]]:
        return {
            p["name"]: resolve(self.document, p["schema"])
            for p in self.spec.get("parameters", ())
            if p["in"] == "query"
        }

    def json_body(self) -> dict[str, Any] | None:
        """The JSON request body's schema, resolved, if the operation takes one."""
        content = self.spec.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            return None
        return resolve(self.document, content["application/json"]["schema"])

    def url(self, named: Mapping[str, str] | None = None) -> str:
        """A path with every parameter filled: from `named`, else a valid made-up value."""
        named = named or {}

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in named:
                return named[name]
            return example(self.path_parameters[name])

        return re.sub(r"\{(\w+)\}", fill, self.path)


def document(base_url: str) -> dict[str, Any]:
    reply = httpx.get(f"{base_url}/openapi.json", timeout=30)
    reply.raise_for_status()
    return dict(reply.json())


def operations(doc: dict[str, Any]) -> Iterator[Operation]:
    for path, item in doc["paths"].items():
        for method, spec in item.items():
            yield Operation(method.upper(), path, spec, doc)


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with a top-level $ref followed (nested ones stay as they are)."""
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`T | None` appears as anyOf [T, null]: the T."""
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return dict(option)
    return schema


def example(schema: dict[str, Any]) -> str:
    """A value that passes a path parameter's schema."""
    schema = nullable(schema)
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    pattern = schema.get("pattern", "")
    if "{64}" in pattern:
        return "0" * 64
    if "{8}-" in pattern:
        return str(uuid.uuid4())
    if "(0[1-9]|1[0-2])" in pattern:
        return "2026-01"
    if pattern.startswith("^p"):
        return "p1"
    if "{4}(-" in pattern:
        return "ABCD-ABCD-ABCD-ABCD"
    return "x"
