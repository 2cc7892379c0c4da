"""Identity's pure rules: token roles, lockout back-off, device keys, input checks, the matrix."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from xinyi_identity import domain
from xinyi_kit.auth import Grant, Principal, principal_from_claims
from xinyi_kit.errors import InvalidArgument
from xinyi_kit.permissions import MATRIX, Action, Role, allowed, matrix_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_community_and_company_grants_reach_their_estates() -> None:
    roles = domain.expand_grants(
        [
            domain.DirectGrant("community_supervisor", community_id="c1"),
            domain.DirectGrant("company_accountant", company_id="k1"),
            domain.DirectGrant("owner", estate_id="e9"),
        ],
        {"c1": ["e2", "e1"]},
        {"k1": ["e3"]},
    )
    assert roles == [
        {
            "role": "community_supervisor",
            "estate_id": "",
            "community_id": "c1",
            "company_id": "",
            "estates": ["e1", "e2"],
        },
        {
            "role": "company_accountant",
            "estate_id": "",
            "community_id": "",
            "company_id": "k1",
            "estates": ["e3"],
        },
        {"role": "owner", "estate_id": "e9", "community_id": "", "company_id": ""},
    ]
    principal = principal_from_claims({"sub": "u", "roles": roles})
    reached = {(g.role, g.estate_id) for g in principal.grants if g.estate_id}
    assert reached == {
        ("community_supervisor", "e1"),
        ("community_supervisor", "e2"),
        ("company_accountant", "e3"),
        ("owner", "e9"),
    }


def test_lockout_backs_off_to_an_hour() -> None:
    assert [domain.lock_after(n) for n in range(5)] == [None] * 5
    assert domain.lock_after(5) == timedelta(seconds=30)
    assert domain.lock_after(6) == timedelta(seconds=60)
    assert domain.lock_after(40) == timedelta(hours=1)


def test_device_key_thumbprint_follows_rfc7638() -> None:
    # RFC 7638 section 3.1's example is RSA; for EC the same rule applies to crv, kty, x, y.
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "kid": "ignored",
    }
    key_id, public = domain.device_key(json.dumps(jwk))
    assert set(public) == {"kty", "crv", "x", "y"}
    assert key_id == domain.device_key(json.dumps({**jwk, "use": "sig"}))[0]
    with pytest.raises(InvalidArgument, match="private key"):
        domain.device_key(json.dumps({**jwk, "d": "secret"}))


@pytest.mark.parametrize(
    "value,ok",
    [
        ("13812345678", True),
        ("+86 138-1234-5678", True),
        ("12812345678", False),
        ("1381234567", False),
    ],
)
def test_phone_numbers(value: str, ok: bool) -> None:
    if ok:
        assert domain.clean_phone(value) == "13812345678"
    else:
        with pytest.raises(InvalidArgument):
            domain.clean_phone(value)


def test_credit_codes_and_usernames() -> None:
    assert domain.clean_credit_code("91510107MA61234567") == "91510107MA61234567"
    with pytest.raises(InvalidArgument):
        domain.clean_credit_code("123")
    assert domain.clean_username("Wang.Fang") == "wang.fang"
    with pytest.raises(InvalidArgument):
        domain.clean_username("王芳")


def test_operator_administers_but_never_reads_personal_data() -> None:
    operator = Principal("u", "op", grants=(Grant("operator"),))
    assert allowed(operator, Action.ESTATE_CREATE)
    assert not allowed(operator, Action.OWNERS_READ_PERSONAL, None)
    assert Role.OPERATOR not in MATRIX[Action.OWNERS_READ_PERSONAL]


def test_roles_apply_only_in_their_estate() -> None:
    owner = Principal("u", "o", grants=(Grant("owner", estate_id="e1"),))
    assert allowed(owner, Action.ESTATE_READ, uuid.UUID(int=0)) is False


def test_readme_documents_the_matrix_as_the_code_has_it() -> None:
    assert matrix_table() in README.read_text()
