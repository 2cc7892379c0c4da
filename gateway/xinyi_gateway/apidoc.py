"""The OpenAPI document's error answers: every operation documents its refusals as problem+json
(RFC 9457), so clients and the schema checks of the tests know what a 4xx or 5xx body holds."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from xinyi_gateway.problems import MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": (
        "An error, as RFC 9457 problem details; `detail` is a sentence to act on, in Chinese "
        "when the request's Accept-Language prefers it (else in English)"
    ),
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "detail_en": {
            "type": "string",
            "description": "The English sentence, when `detail` is worded in another language",
        },
        "trace_id": {"type": "string", "description": "Quote it to the operator"},
        "code": {"type": "string", "description": "A stable code for some refusals"},
        "errors": {
            "type": "array",
            "description": "Each invalid field of a request that is not valid (422)",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem_answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


def document_problems(app: FastAPI) -> None:
    """Makes `app.openapi()` describe errors as they are sent: FastAPI's own 422 entry names a
    body the gateway never sends (its problem handler answers instead), and the other refusals
    (401, 403, 404, 409, 413, 415, 429, 503, 504, ...) were not described at all."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = PROBLEM_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                answers = operation.setdefault("responses", {})
                if "health" in operation.get("tags", ()):
                    # Not ready or not healthy is a report of the same shape, not a problem.
                    answers["503"] = {**answers["200"], "description": "Not ready or not healthy"}
                    continue
                if "422" in answers:
                    answers["422"] = _problem_answer("The request is not valid")
                answers["default"] = _problem_answer("A refusal or an error, as problem+json")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
