"""The token verifier's cache: every sign-in is a new token, and the tokens of one person with
the same grants share one principal, so a service's memory does not grow with sign-ins."""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from xinyi_kit import auth, clock

KID = "test-key"


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def verifier(key: Ed25519PrivateKey) -> auth.TokenVerifier:
    public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    document = json.dumps({"keys": [{**public, "kid": KID, "alg": "EdDSA", "use": "sig"}]})

    async def source() -> str:
        return document

    return auth.TokenVerifier(source)


def token(key: Ed25519PrivateKey, user: str, estates: list[str], **extra: Any) -> str:
    now = int(clock.now().timestamp())
    claims = {
        "sub": user,
        "username": f"user-{user[:8]}",
        "iss": auth.ISSUER,
        "aud": auth.AUDIENCE,
        "iat": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,  # every sign-in's token differs
        "roles": [{"role": "company_accountant", "company_id": "c1", "estates": estates}],
        **extra,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": KID})


def test_tokens_of_one_person_and_grants_share_one_principal(key: Ed25519PrivateKey) -> None:
    estates = [str(uuid.uuid4()) for _ in range(200)]
    user = str(uuid.uuid4())
    check = verifier(key)

    async def verify_all() -> list[auth.Principal]:
        return [await check.verify(token(key, user, estates)) for _ in range(5)]

    principals = asyncio.run(verify_all())
    assert len({id(p) for p in principals}) == 1
    assert principals[0].has_role_in(estates[-1])
    assert len(principals[0].grants) == 201  # the company's grant, and one in each estate


def test_other_grants_or_another_person_get_their_own_principal(key: Ed25519PrivateKey) -> None:
    estates = [str(uuid.uuid4()) for _ in range(3)]
    user, other = str(uuid.uuid4()), str(uuid.uuid4())
    check = verifier(key)

    async def verify_all() -> tuple[auth.Principal, auth.Principal, auth.Principal]:
        return (
            await check.verify(token(key, user, estates)),
            await check.verify(token(key, user, estates[:2])),
            await check.verify(token(key, other, estates)),
        )

    first, fewer, someone = asyncio.run(verify_all())
    assert first is not fewer and first is not someone
    assert first.has_role_in(estates[2]) and not fewer.has_role_in(estates[2])
    assert someone.user_id == other


def test_a_principal_no_token_holds_is_let_go(key: Ed25519PrivateKey) -> None:
    check = verifier(key)
    check.CACHE_SIZE = 2  # type: ignore[misc]
    users = [str(uuid.uuid4()) for _ in range(4)]

    async def verify_all() -> None:
        for user in users:
            await check.verify(token(key, user, ["e1"]))

    asyncio.run(verify_all())
    gc.collect()
    assert len(check._verified) == 2
    assert {k[0] for k in check._principals} == set(users[2:])
