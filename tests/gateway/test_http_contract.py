"""The gateway's HTTP contract: health, docs, problem+json errors, limits, idempotency, auth."""

from __future__ import annotations

import re
import uuid

import httpx

from xinyi_dev.platform import Platform

PROBLEM = "application/problem+json"


def test_health_endpoints(platform: Platform) -> None:
    base = platform.gateway_url
    assert httpx.get(f"{base}/livez").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").status_code == 200
    health = httpx.get(f"{base}/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "healthy"
    assert body["services"] == {
        name: {"state": "SERVING"}
        for name in ("identity", "ledger", "voting", "disclosure", "notifications")
    }


def test_openapi_docs_and_metrics(platform: Platform) -> None:
    base = platform.gateway_url
    spec = httpx.get(f"{base}/openapi.json").json()
    assert spec["info"]["title"].startswith("Xinyi")
    assert "/api/v1/estates" in spec["paths"]
    assert "/api/v1/auth/token" in spec["paths"]
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert "<script>" not in docs.text  # no inline script: the CSP holds on /docs too
    assert httpx.get(f"{base}/docs-static/swagger-ui-bundle.js").status_code == 200
    metrics = httpx.get(f"{base}/metrics")
    assert metrics.status_code == 200 and "python_info" in metrics.text


def test_errors_are_problem_json(platform: Platform, api: httpx.Client) -> None:
    base = platform.gateway_url
    anonymous = httpx.get(f"{base}/api/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith(PROBLEM)
    assert "sign in" in anonymous.json()["detail"]

    garbage = httpx.get(f"{base}/api/v1/me", headers={"Authorization": "Bearer not.a.token"})
    assert garbage.status_code == 401 and garbage.json()["status"] == 401

    missing = api.get(f"/api/v1/estates/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["detail"] == "no such estate"

    malformed = api.get("/api/v1/estates/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "path.estate_id"

    empty_name = api.post("/api/v1/estates", json={"name": ""})
    assert empty_name.status_code == 422 and "name" in empty_name.json()["detail"]

    blank_name = api.post("/api/v1/estates", json={"name": "   "})
    assert blank_name.status_code == 400
    assert blank_name.json()["detail"] == "the estate's name must not be empty"

    unknown = api.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith(PROBLEM)


def test_wrong_password_does_not_say_whether_the_user_exists(platform: Platform) -> None:
    base = platform.gateway_url
    wrong = httpx.post(
        f"{base}/api/v1/auth/token", json={"username": "operator", "password": "wrong password"}
    )
    nobody = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"username": f"nobody-{uuid.uuid4().hex[:6]}", "password": "x"},
    )
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["detail"] == nobody.json()["detail"]


def test_request_size_limit(api: httpx.Client) -> None:
    huge = api.post(
        "/api/v1/estates",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert huge.headers["content-type"].startswith(PROBLEM)

    def chunks():  # no Content-Length: the limit applies while streaming
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    streamed = api.post(
        "/api/v1/estates", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


def test_security_headers_and_trace_id(platform: Platform) -> None:
    page = httpx.get(f"{platform.gateway_url}/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<html lang="zh-CN">' in page.text
    assert len(httpx.get(f"{platform.gateway_url}/api/v1/me").headers["x-trace-id"]) == 32


def test_idempotent_estate_creation(api: httpx.Client) -> None:
    key = {"Idempotency-Key": f"test-{uuid.uuid4()}"}
    first = api.post("/api/v1/estates", json={"name": "幂等小区"}, headers=key)
    again = api.post("/api/v1/estates", json={"name": "幂等小区"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = api.post("/api/v1/estates", json={"name": "另一个小区"}, headers=key)
    assert other.status_code == 409
    assert "different request" in other.json()["detail"]
    listed = []
    cursor = None
    while True:
        page = api.get(
            "/api/v1/estates", params={"limit": 500, **({"cursor": cursor} if cursor else {})}
        ).json()
        listed += [e for e in page["estates"] if e["name"] == "幂等小区"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [e["estate_id"] for e in listed].count(first.json()["estate_id"]) == 1


def test_refresh_rotates_and_logout_revokes(platform: Platform) -> None:
    base = platform.gateway_url
    tokens = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"username": "operator", "password": platform.operator_password},
    ).json()
    assert tokens["refresh_token"] and tokens["token_type"] == "bearer"
    renewed = httpx.post(
        f"{base}/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert renewed.status_code == 200
    reused = httpx.post(
        f"{base}/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert reused.status_code == 401
    me = httpx.get(
        f"{base}/api/v1/me", headers={"Authorization": f"Bearer {renewed.json()['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["username"] == "operator"
    assert [(r["role"], r["estate_id"]) for r in me.json()["roles"]] == [("operator", None)]
    out = httpx.post(
        f"{base}/api/v1/auth/logout", json={"refresh_token": renewed.json()["refresh_token"]}
    )
    assert out.status_code == 204
    after = httpx.post(
        f"{base}/api/v1/auth/refresh", json={"refresh_token": renewed.json()["refresh_token"]}
    )
    assert after.status_code == 401


def test_refusals_in_the_readers_language(platform: Platform, api: httpx.Client) -> None:
    """A reader who prefers Chinese (the web app in Chinese) is refused in Chinese, whichever
    part refuses: a service, the gateway's validation, its routes or its body limit."""
    from xinyi_gateway import refusals

    chinese = {"Accept-Language": "zh-CN, zh;q=0.9"}
    missing = api.get(f"/api/v1/estates/{uuid.uuid4()}", headers=chinese)
    assert missing.status_code == 404
    assert missing.json()["detail"] == refusals.ZH["no such estate"]
    assert missing.headers["content-language"] == "zh-CN"
    assert missing.headers["vary"] == "Accept-Language"

    blank = api.post("/api/v1/estates", json={"name": "   "}, headers=chinese)
    assert blank.status_code == 400
    assert blank.json()["detail"] == refusals.to_chinese("the estate's name must not be empty")
    assert blank.json()["detail"] == "小区的名称不能为空"  # the field's words, worded too

    # Validation: each field's message, and the summary, in Chinese.
    empty = api.post("/api/v1/estates", json={"name": ""}, headers=chinese)
    assert empty.status_code == 422
    assert empty.json()["errors"] == [{"field": "name", "message": "太短（至少 1 个字符）"}]
    prefix = refusals.ZH["the request is not valid: {}"].split("{0}")[0]
    assert empty.json()["detail"] == f"{prefix}name: 太短（至少 1 个字符）"
    english = "the request is not valid: name: String should have at least 1 character"
    assert empty.json()["detail_en"] == english
    malformed = api.get("/api/v1/estates/not-a-uuid", headers=chinese)
    assert malformed.json()["errors"][0] == {"field": "path.estate_id", "message": "格式不对"}

    unknown = api.get("/api/v1/no-such-thing", headers=chinese)
    assert unknown.json()["detail"] == refusals.ZH["there is no API endpoint at /api/{}"].format(
        "v1/no-such-thing"
    )

    too_large = api.post("/api/v1/estates", content=b"x" * (2 * 1024 * 1024), headers=chinese)
    assert too_large.status_code == 413
    assert re.search(r"[\u4e00-\u9fff]", too_large.json()["detail"])
    assert too_large.json()["detail_en"].startswith("the request body is larger than the limit")
    assert too_large.headers["content-language"] == "zh-CN"

    # The framework's own refusals are answered in our words, and those in Chinese too.
    unreadable = api.post(
        "/api/v1/estates",
        content=b'{"name": "\xff\xfe"}',
        headers={**chinese, "Content-Type": "application/json"},
    )
    assert unreadable.status_code == 400
    assert unreadable.json()["detail_en"] == "the request body cannot be read: send JSON in UTF-8"
    assert unreadable.json()["detail"] == refusals.to_chinese(unreadable.json()["detail_en"])
    assert unreadable.json()["detail"] != unreadable.json()["detail_en"]

    # English when asked for, or when nothing is asked.
    for headers in ({}, {"Accept-Language": "en-US,en;q=0.9,zh-CN;q=0.8"}):
        plain = api.get(f"/api/v1/estates/{uuid.uuid4()}", headers=headers)
        assert plain.json()["detail"] == "no such estate"
        assert plain.headers["content-language"] == "en"
