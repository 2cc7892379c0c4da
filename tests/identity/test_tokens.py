"""Access tokens: expired, tampered, signed by the wrong key, a revoked refresh token, rotation;
lockout after failed sign-ins; the TOTP second factor; device keys."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.identity.world import PASSWORD, ok, random_phone, signin
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock


@pytest.fixture
def clock(platform: Platform) -> Iterator[object]:
    """Moves every process's clock; put back after the test."""
    path = platform.data_dir / "clock-offset"

    def move(seconds: float) -> None:
        move_clock(path, seconds)

    yield move
    move_clock(path, 0)


@pytest.fixture
def user(platform: Platform, operator_token: str) -> dict[str, str]:
    name = f"user-{uuid.uuid4().hex[:8]}"
    with httpx.Client(
        base_url=platform.gateway_url, headers={"Authorization": f"Bearer {operator_token}"}
    ) as op:
        created = ok(
            op.post(
                "/api/v1/users",
                json={
                    "username": name,
                    "display_name": "测试用户",
                    "phone": random_phone(),
                    "password": PASSWORD,
                },
            )
        )
    return {"username": name, "user_id": created["user_id"], "phone": created["phone"]}


def me(base: str, token: str) -> httpx.Response:
    return httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_expired_token_is_refused(platform: Platform, user: dict[str, str], clock) -> None:
    base = platform.gateway_url
    token = signin(base, user["username"])
    assert me(base, token).status_code == 200
    clock(16 * 60)
    reply = me(base, token)
    assert reply.status_code == 401
    assert "expired" in reply.json()["detail"]


def test_tampered_token_is_refused(platform: Platform, user: dict[str, str]) -> None:
    base = platform.gateway_url
    header, payload, signature = signin(base, user["username"]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = [{"role": "operator", "estate_id": "", "community_id": "", "company_id": ""}]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    reply = me(base, f"{header}.{forged}.{signature}")
    assert reply.status_code == 401 and reply.json()["detail"].startswith("the access token is not")


def test_token_signed_by_another_key_is_refused(platform: Platform, user: dict[str, str]) -> None:
    base = platform.gateway_url
    real = signin(base, user["username"])
    kid = jwt.get_unverified_header(real)["kid"]
    claims = jwt.decode(real, options={"verify_signature": False})
    claims["roles"] = [{"role": "operator", "estate_id": "", "community_id": "", "company_id": ""}]
    forged = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid}
    )
    assert me(base, forged).status_code == 401
    unknown = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "made-up-key"}
    )
    reply = me(base, unknown)
    assert reply.status_code == 401 and "unknown key" in reply.json()["detail"]
    none_alg = jwt.encode(claims, key="", algorithm="none", headers={"kid": kid})
    assert me(base, none_alg).status_code == 401


def test_revoked_refresh_token_is_refused(platform: Platform, user: dict[str, str]) -> None:
    base = platform.gateway_url
    tokens = ok(
        httpx.post(
            f"{base}/api/v1/auth/token", json={"username": user["username"], "password": PASSWORD}
        )
    )
    assert (
        httpx.post(
            f"{base}/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}
        ).status_code
        == 204
    )
    reply = httpx.post(
        f"{base}/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert reply.status_code == 401 and "sign in again" in reply.json()["detail"]


def test_rotated_key_keeps_both_tokens_valid(
    platform: Platform, operator_token: str, user: dict[str, str]
) -> None:
    base = platform.gateway_url
    before = signin(base, user["username"])
    rotated = ok(
        httpx.post(
            f"{base}/api/v1/auth/signing-keys/rotate",
            headers={"Authorization": f"Bearer {operator_token}"},
        )
    )
    after = signin(base, user["username"])
    assert jwt.get_unverified_header(after)["kid"] == rotated["new_key_id"]
    assert jwt.get_unverified_header(before)["kid"] in rotated["published_key_ids"]
    assert len(rotated["published_key_ids"]) >= 2
    # Both verify at once, at the gateway and in the services behind it.
    for token in (before, after):
        assert me(base, token).status_code == 200
        estates = httpx.get(f"{base}/api/v1/estates", headers={"Authorization": f"Bearer {token}"})
        assert estates.status_code == 200


def test_lockout_backs_off_and_says_nothing_of_existence(
    platform: Platform, user: dict[str, str], clock
) -> None:
    base = platform.gateway_url

    def attempt(name: str, password: str) -> httpx.Response:
        return httpx.post(
            f"{base}/api/v1/auth/token",
            json={"username": name, "password": password},
            headers={"X-Forwarded-For": "10.0.0.1"},
        )

    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    for name in (user["username"], ghost):
        for _ in range(5):
            assert attempt(name, "wrong password").status_code == 401
        locked = attempt(name, "wrong password")
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) > 0
    # The right password does not help while locked; the lock says the same for both names.
    real = attempt(user["username"], PASSWORD)
    ghostly = attempt(ghost, PASSWORD)
    assert real.status_code == ghostly.status_code == 429
    assert real.json()["detail"] == ghostly.json()["detail"]
    clock(31)
    assert attempt(user["username"], PASSWORD).status_code == 200


def test_failed_sign_ins_of_a_name_at_once_are_each_counted_and_none_fails(
    platform: Platform,
) -> None:
    """The first failures of a name arriving together: each answered 401 (or 429 once the name
    is locked), never 500, and counted: the name is locked after them."""
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"

    def attempt(n: int) -> int:
        return httpx.post(
            f"{platform.gateway_url}/api/v1/auth/token",
            json={"username": ghost, "password": "wrong password"},
            headers={"X-Forwarded-For": f"10.0.1.{n}"},  # apart from the per-address limit
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(attempt, range(10)))
    assert set(statuses) <= {401, 429}, statuses
    assert attempt(10) == 429


def test_sign_in_by_phone(platform: Platform, user: dict[str, str]) -> None:
    token = signin(platform.gateway_url, user["phone"])
    assert me(platform.gateway_url, token).json()["username"] == user["username"]


def test_totp_enrolment_and_second_factor(platform: Platform, user: dict[str, str], clock) -> None:
    base = platform.gateway_url
    token = signin(base, user["username"])
    auth = {"Authorization": f"Bearer {token}"}
    started = ok(httpx.post(f"{base}/api/v1/me/totp", headers=auth))
    assert started["otpauth_uri"].startswith("otpauth://totp/")
    wrong = httpx.post(f"{base}/api/v1/me/totp/confirm", json={"code": "000000"}, headers=auth)
    assert wrong.status_code == 400
    totp = pyotp.TOTP(started["secret"])
    assert (
        httpx.post(
            f"{base}/api/v1/me/totp/confirm", json={"code": totp.now()}, headers=auth
        ).status_code
        == 204
    )
    assert me(base, token).json()["totp_enrolled"] is True

    asked = httpx.post(
        f"{base}/api/v1/auth/token", json={"username": user["username"], "password": PASSWORD}
    )
    assert asked.status_code == 401 and asked.json()["code"] == "totp_required"
    # The code used to confirm was spent: move every clock to the next step, sign in with it.
    clock(30)
    code = totp.at(time.time() + 30)
    signed = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"username": user["username"], "password": PASSWORD, "totp": code},
    )
    assert signed.status_code == 200
    replay = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"username": user["username"], "password": PASSWORD, "totp": code},
    )
    assert replay.status_code == 401 and replay.json()["code"] == "totp_invalid"


def _jwk_of(private: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = private.public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    return {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y)}


def test_device_keys(platform: Platform, user: dict[str, str]) -> None:
    base = platform.gateway_url
    auth = {"Authorization": f"Bearer {signin(base, user['username'])}"}
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = _jwk_of(private)
    added = httpx.post(
        f"{base}/api/v1/me/device-keys", json={"public_jwk": jwk, "label": "手机"}, headers=auth
    )
    assert added.status_code == 201
    key = added.json()
    assert json.loads(key["public_jwk"]) == jwk
    again = ok(httpx.post(f"{base}/api/v1/me/device-keys", json={"public_jwk": jwk}, headers=auth))
    assert again["key_id"] == key["key_id"]  # registering twice is harmless
    listed = ok(httpx.get(f"{base}/api/v1/me/device-keys", headers=auth))["keys"]
    assert [k["key_id"] for k in listed] == [key["key_id"]]
    # Others fetch the public key to verify this user's signatures.
    public = ok(httpx.get(f"{base}/api/v1/users/{user['user_id']}/device-keys", headers=auth))
    assert public["keys"][0]["key_id"] == key["key_id"]

    with_private = {**jwk, "d": "c2VjcmV0"}
    refused = httpx.post(
        f"{base}/api/v1/me/device-keys", json={"public_jwk": with_private}, headers=auth
    )
    assert refused.status_code == 400 and "private key" in refused.json()["detail"]
    nonsense = {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}
    assert (
        httpx.post(
            f"{base}/api/v1/me/device-keys", json={"public_jwk": nonsense}, headers=auth
        ).status_code
        == 400
    )
    rsa = {"kty": "RSA", "n": "AQAB", "e": "AQAB"}
    assert (
        httpx.post(
            f"{base}/api/v1/me/device-keys", json={"public_jwk": rsa}, headers=auth
        ).status_code
        == 400
    )

    revoked = ok(httpx.delete(f"{base}/api/v1/me/device-keys/{key['key_id']}", headers=auth))
    assert revoked["revoked_at"] is not None
