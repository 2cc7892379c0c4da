"""Steps the browser tests share: signing in, making users through the API, TOTP codes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import struct
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.async_api import expect

if TYPE_CHECKING:
    from tests.browser.conftest import WebApp
    from xinyi_dev.platform import Platform

# A role's main journey runs at both screen sizes (its screenshots are named by size).
BOTH_SIZES = pytest.mark.parametrize("web", ["desktop", "phone"], indirect=True)
TOTP_STEP = 30
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


async def sign_in(web: WebApp, username: str, password: str) -> None:
    await web.page.locator("#login-username").fill(username)
    await web.page.locator("#login-password").fill(password)
    await web.page.locator("#login-submit").click()


async def sign_in_as_operator(web: WebApp, platform: Platform) -> None:
    await sign_in(web, "operator", platform.operator_password)
    await expect(web.page.locator("#session-panel")).to_be_visible()


def create_user(api: httpx.Client, prefix: str = "user") -> dict[str, str]:
    """A fresh user with no roles, made by the operator; its password is in the result."""
    username = f"{prefix}-{uuid.uuid4().hex[:8]}"
    password = "pw-" + secrets.token_hex(8)
    reply = api.post(
        "/api/v1/users",
        json={
            "username": username,
            "display_name": f"测试用户 {username[-4:]}",
            "phone": "138" + f"{secrets.randbelow(10**8):08d}",
            "password": password,
        },
    )
    assert reply.status_code in (200, 201), reply.text
    return {**reply.json(), "username": username, "password": password}


def server_time(platform: Platform) -> float:
    """The platform's clock: real time plus the offset tests may have set."""
    offset_file = platform.extra_env.get("XINYI_TEST_CLOCK_FILE")
    offset = 0.0
    if offset_file and Path(offset_file).exists():
        offset = float(Path(offset_file).read_text().strip() or 0)
    return time.time() + offset


def totp_code(secret: str, at: float) -> str:
    """The RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret at a Unix time."""
    secret = secret.replace(" ", "").upper()
    try:
        import pyotp
    except ImportError:  # pyotp is optional here: RFC 6238 is short enough to compute inline
        pass
    else:
        return str(pyotp.TOTP(secret).at(int(at)))
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // TOTP_STEP), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


async def fresh_totp(secret: str, platform: Platform, used_steps: set[int]) -> str:
    """A code of a time step later than any used before (servers refuse a code twice, and any
    older one), without waiting while one is at hand: servers accept the steps next to the
    current one. Never a code that could expire on its way."""
    while True:
        now = server_time(platform)
        step = int(now) // TOTP_STEP
        earliest = step - 1 if now % TOTP_STEP < TOTP_STEP - 5 else step
        chosen = max(max(used_steps, default=0) + 1, earliest)
        if chosen <= step + 1:
            used_steps.add(chosen)
            return totp_code(secret, chosen * TOTP_STEP)
        await asyncio.sleep(0.5)


def credit_code() -> str:
    """A fresh unified social credit code (GB 32100-2015) with a valid check character."""
    body = "91510107" + uuid.uuid4().hex[:9].upper()  # hex digits are all allowed characters
    total = sum(CREDIT_CHARS.index(c) * w for c, w in zip(body, CREDIT_WEIGHTS, strict=True))
    return body + CREDIT_CHARS[(31 - total % 31) % 31]


def create_estate(api: httpx.Client) -> dict[str, Any]:
    """A fresh estate in a fresh community, made through the API."""
    tag = uuid.uuid4().hex[:6]
    district = api.post("/api/v1/districts", json={"name": f"测试区 {tag}"})
    assert district.status_code in (200, 201), district.text
    street = api.post(
        "/api/v1/streets",
        json={"district_id": district.json()["district_id"], "name": f"测试街道 {tag}"},
    )
    assert street.status_code in (200, 201), street.text
    community = api.post(
        "/api/v1/communities",
        json={"street_id": street.json()["street_id"], "name": f"测试社区 {tag}"},
    )
    assert community.status_code in (200, 201), community.text
    estate = api.post(
        "/api/v1/estates",
        json={
            "name": f"测试小区 {tag}",
            "community_id": community.json()["community_id"],
            "address": f"测试路 {tag} 号",
        },
    )
    assert estate.status_code == 201, estate.text
    return dict(estate.json())


# --- the common fund: an estate with its company, committee and an owner ------------------------

LEDGER_ROLES = {
    "accountant": ("company_accountant", "company"),
    "manager": ("company_manager", "company"),
    "member": ("committee_member", "estate"),
    "chair": ("committee_chair", "estate"),
    "owner": ("owner", "estate"),
}


def user_client(platform: Platform, user: dict[str, str], code: str | None = None) -> httpx.Client:
    """An HTTP client on the gateway signed in as `user` (with a TOTP code once enrolled)."""
    body = {"username": user["username"], "password": user["password"]}
    if code:
        body["totp"] = code
    reply = httpx.post(f"{platform.gateway_url}/api/v1/auth/token", json=body, timeout=15)
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    return httpx.Client(
        base_url=platform.gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
    )


def next_totp(user: dict[str, Any], platform: Platform) -> str:
    """A code for `user` of a time step later than any it used before, without waiting while
    one is at hand: servers accept the steps next to the current one, so three codes a user can
    spend are available at any moment. (Moving the test clock forward instead would make new
    access tokens "not yet valid" to the services, whose token check reads the real clock.)"""
    while True:
        now = server_time(platform)
        step = int(now) // TOTP_STEP
        # A code of the previous step must not expire on its way to the server.
        earliest = step - 1 if now % TOTP_STEP < TOTP_STEP - 5 else step
        chosen = max(int(user.get("totp_last_step", 0)) + 1, earliest)
        if chosen <= step + 1:
            user["totp_last_step"] = chosen
            return totp_code(str(user["totp_secret"]), chosen * TOTP_STEP)
        time.sleep(0.5)


def create_ledger_estate(api: httpx.Client, platform: Platform) -> dict[str, Any]:
    """An estate served by a company, with an accountant, a manager, two committee members
    (TOTP enrolled) and an owner, whose books are open. Users are under result["users"]."""
    estate = create_estate(api)
    estate_id = estate["estate_id"]
    company = api.post(
        "/api/v1/companies",
        json={"name": f"测试物业 {uuid.uuid4().hex[:6]}", "credit_code": credit_code()},
    )
    assert company.status_code in (200, 201), company.text
    company_id = company.json()["company_id"]
    assigned = api.put(
        f"/api/v1/estates/{estate_id}/company",
        json={"company_id": company_id, "starts_on": "2020-01-01"},
    )
    assert assigned.status_code in (200, 201), assigned.text
    users: dict[str, dict[str, str]] = {}
    for name, (role, scope) in LEDGER_ROLES.items():
        user = create_user(api, name)
        where = {"company_id": company_id} if scope == "company" else {"estate_id": estate_id}
        granted = api.post(
            "/api/v1/role-grants", json={"user_id": user["user_id"], "role": role, **where}
        )
        assert granted.status_code == 201, granted.text
        users[name] = user
    for name in ("member", "chair"):
        with user_client(platform, users[name]) as client:
            begun = client.post("/api/v1/me/totp")
            assert begun.status_code in (200, 201), begun.text
            users[name]["totp_secret"] = begun.json()["secret"]
            confirmed = client.post(
                "/api/v1/me/totp/confirm", json={"code": next_totp(users[name], platform)}
            )
            assert confirmed.status_code in (200, 204), confirmed.text
    # The ledger opens an estate's books when it hears of the estate; that takes a moment.
    with user_client(platform, users["accountant"]) as client:
        deadline = time.monotonic() + 20
        while True:
            accounts = client.get(f"/api/v1/estates/{estate_id}/ledger/accounts")
            if accounts.status_code == 200 and accounts.json():
                break
            assert time.monotonic() < deadline, f"the books never opened: {accounts.text}"
            time.sleep(0.2)
    return {**estate, "company_id": company_id, "users": users}


async def sign_in_with_totp(
    web: WebApp, user: dict[str, Any], platform: Platform, *, lands_home: bool = True
) -> None:
    """Signs in a user who has TOTP: the password first, then the code the form asks for.
    `lands_home=False`: the sign-in leads elsewhere (a link followed before it)."""
    web.expect_status("/api/v1/auth/token", 401)
    await sign_in(web, user["username"], user["password"])
    code_field = web.page.locator("#login-totp")
    await expect(code_field).to_be_visible()
    await code_field.fill(next_totp(user, platform))
    await web.page.locator("#login-submit").click()
    if lands_home:
        await expect(web.page.locator("#session-panel")).to_be_visible()


async def sign_out(web: WebApp) -> None:
    await web.page.locator('#site-nav a[data-area="home"]').click()
    await web.page.locator("#logout-button").click()
    await expect(web.page.locator("#login-panel")).to_be_visible()
    # The sign-out is over only when the server has answered it (it says so, and moves the
    # focus to the user name): a sign-in typed before that races with its last steps.
    await expect(web.page.locator("#feedback")).to_have_text(re.compile("已退出登录|Signed out"))


# --- property fees: units imported into a fund estate -------------------------------------------

UNITS_CSV = (
    "building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number\n"
    "1栋,1-101,residential,100.00,王芳,person,,\n"
    "1栋,1-102,residential,80.00,李强,person,,\n"
    "2栋,2-101,commercial,50.00,锦华置业有限公司,developer,,\n"
)


def import_units(api: httpx.Client, platform: Platform, world: dict[str, Any]) -> dict[str, str]:
    """Imports UNITS_CSV into `world`'s estate and waits until the ledger knows the units;
    returns unit number -> unit_id."""
    estate_id = world["estate_id"]
    imported = api.post(
        f"/api/v1/estates/{estate_id}/imports",
        content=UNITS_CSV.encode(),
        headers={"content-type": "text/csv"},
        timeout=60,
    )
    assert imported.status_code in (200, 201), imported.text
    with user_client(platform, world["users"]["accountant"]) as client:
        deadline = time.monotonic() + 20
        while True:
            arrears = client.get(f"/api/v1/estates/{estate_id}/fees/arrears")
            if arrears.status_code == 200 and arrears.json()["units_total"] == 3:
                break
            assert time.monotonic() < deadline, f"the ledger never learnt the units: {arrears.text}"
            time.sleep(0.2)
        units = client.get(f"/api/v1/estates/{estate_id}/units?limit=1000")
        assert units.status_code == 200, units.text
    return {u["number"]: u["unit_id"] for u in units.json()["units"]}
