"""Identity views in a real browser: profile and roles, TOTP sign-in and enrolment, device keys."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import httpx
from playwright.async_api import Route, expect

from tests.browser.steps import (
    create_estate,
    create_user,
    fresh_totp,
    sign_in,
    sign_in_as_operator,
)

if TYPE_CHECKING:
    from tests.browser.conftest import WebApp
    from xinyi_dev.platform import Platform

ROLES_ZH = {
    "operator": "平台运营方",
    "owner": "业主",
    "tenant": "住户",
    "committee_member": "业委会委员",
    "committee_chair": "业委会主任",
    "estate_supervisor": "监察人",
    "community_supervisor": "社区监察人",
    "company_manager": "项目经理",
    "company_accountant": "物业会计",
    "company_staff": "物业员工",
}
HAN = re.compile(r"[\u4e00-\u9fff]")


async def test_both_languages_have_every_message(web: WebApp) -> None:
    await web.open()
    tables = await web.page.evaluate("import('/i18n.js').then((m) => m.messages)")
    zh, en = tables["zh-CN"], tables["en"]
    assert set(zh) == set(en), set(zh) ^ set(en)
    assert all(value.strip() for value in [*zh.values(), *en.values()])
    for role, name in ROLES_ZH.items():
        assert zh[f"role.{role}"] == name
        assert not HAN.search(en[f"role.{role}"]), en[f"role.{role}"]
    # Every element the page translates names a key that exists.
    keys = await web.page.evaluate(
        "[...document.querySelectorAll('[data-i18n]')].map((el) => el.dataset.i18n)"
    )
    assert keys and not [key for key in keys if key not in zh]


async def test_profile_shows_roles_in_chinese_and_english(web: WebApp, platform: Platform) -> None:
    await web.open()
    page = web.page
    await sign_in_as_operator(web, platform)

    await expect(page.locator("#profile-username")).to_have_text("operator")
    operator = page.locator('#session-roles [data-role="operator"]')
    await expect(operator).to_have_text("平台运营方 全平台")
    await expect(page.locator("#profile-totp")).to_have_text("未开启")
    await expect(page.get_by_role("heading", name="两步验证")).to_be_visible()
    await expect(page.get_by_role("heading", name="设备密钥")).to_be_visible()

    await page.get_by_role("button", name="English").click()
    await expect(operator).to_have_text("Platform operator Whole platform")
    await expect(page.locator("#profile-totp")).to_have_text("Off")
    await expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    await expect(page.get_by_role("heading", name="Device keys")).to_be_visible()
    await expect(page.get_by_role("link", name="Admin")).to_be_visible()
    labels = page.locator("#session-panel dt, #session-panel h2, #session-panel h3")
    labels_text = await labels.all_inner_texts()
    assert not [text for text in labels_text if HAN.search(text)], labels_text


async def test_estate_roles_show_the_estate_name(web: WebApp, api: httpx.Client) -> None:
    estate = create_estate(api)
    user = create_user(api, "member")
    for role in ["committee_member", "estate_supervisor"]:
        granted = api.post(
            "/api/v1/role-grants",
            json={"user_id": user["user_id"], "role": role, "estate_id": estate["estate_id"]},
        )
        assert granted.status_code == 201, granted.text
    await web.open()
    page = web.page
    await sign_in(web, user["username"], user["password"])

    member = page.locator('#session-roles [data-role="committee_member"]')
    supervisor = page.locator('#session-roles [data-role="estate_supervisor"]')
    await expect(member).to_have_text(f"业委会委员 小区：{estate['name']}")
    await expect(supervisor).to_have_text(f"监察人 小区：{estate['name']}")
    await expect(page.locator("#nav-operator")).to_be_hidden()

    await page.get_by_role("button", name="English").click()
    await expect(member).to_have_text(f"Owners' committee member Estate: {estate['name']}")
    await expect(supervisor).to_have_text(f"Supervisor Estate: {estate['name']}")


async def test_user_without_roles_sees_no_operator_views(web: WebApp, api: httpx.Client) -> None:
    user = create_user(api)
    await web.open("/#/operator")
    page = web.page
    await sign_in(web, user["username"], user["password"])

    await expect(page.locator("#session-roles")).to_have_text("暂无角色")
    await expect(page.locator("#profile-username")).to_have_text(user["username"])
    await expect(page.locator("#nav-operator")).to_be_hidden()
    await expect(page.locator("#view-operator")).to_be_hidden()
    await expect(page.locator("#view-home")).to_be_visible()


async def test_totp_enrolment_then_sign_in_asks_for_the_code(
    web: WebApp, api: httpx.Client, platform: Platform
) -> None:
    user = create_user(api, "totp")
    web.expect_status("/api/v1/me/totp/confirm", 400)
    web.expect_status("/api/v1/auth/token", 401)
    await web.open()
    page = web.page
    live = page.locator("#feedback")
    await sign_in(web, user["username"], user["password"])
    await expect(page.locator("#profile-totp")).to_have_text("未开启")

    await page.get_by_role("button", name="开启两步验证").click()
    qr = page.locator("#totp-qr")
    await expect(qr).to_have_attribute("src", re.compile(r"^data:image/gif;base64,"))
    alt = await qr.get_attribute("alt")
    assert alt and "二维码" in alt, alt
    natural_width = await qr.evaluate("(img) => img.naturalWidth")
    assert natural_width > 80, natural_width
    secret = (await page.locator("#totp-secret").inner_text()).replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    code_field = page.get_by_label("6 位验证码")
    await expect(code_field).to_be_focused()
    await expect(code_field).to_have_attribute("autocomplete", "one-time-code")

    used: set[int] = set()
    right = await fresh_totp(secret, platform, used)
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"
    await code_field.fill(wrong)
    await page.get_by_role("button", name="确认开启").click()
    await expect(live).to_contain_text("验证码不正确")
    await expect(code_field).to_have_value("")
    await expect(code_field).to_be_focused()

    await code_field.fill(right)
    await page.get_by_role("button", name="确认开启").click()
    await expect(live).to_have_text("两步验证已开启。以后登录时需要输入验证码。")
    await expect(page.locator("#profile-totp")).to_have_text("已开启")
    await expect(page.locator("#totp-form")).to_be_hidden()

    await page.get_by_role("button", name="退出登录").click()
    await expect(page.locator("#login-panel")).to_be_visible()
    await expect(page.locator("#login-totp-field")).to_be_hidden()

    await sign_in(web, user["username"], user["password"])
    totp_field = page.get_by_label("验证码", exact=True)
    await expect(totp_field).to_be_visible()
    await expect(totp_field).to_be_focused()
    await expect(totp_field).to_have_attribute("autocomplete", "one-time-code")
    await expect(live).to_contain_text("两步验证")
    await expect(page.locator("#session-panel")).to_be_hidden()
    # The password is kept for the second step; only the code is asked for.
    assert await page.locator("#login-password").input_value() == user["password"]

    await totp_field.fill(wrong)
    await page.locator("#login-submit").click()
    await expect(live).to_contain_text("验证码不正确或已过期")
    await expect(totp_field).to_have_value("")
    await expect(totp_field).to_be_focused()
    await expect(totp_field).to_have_attribute("aria-invalid", "true")

    # A code of a later time step than the one just used: a server refuses a code twice.
    await totp_field.fill(await fresh_totp(secret, platform, used))
    async with page.expect_request("**/api/v1/auth/token") as sent:
        await page.locator("#login-submit").click()
    body = json.loads((await sent.value).post_data or "{}")
    assert re.fullmatch(r"\d{6}", body.get("totp", "")), body
    await expect(page.locator("#session-panel")).to_be_visible()
    await expect(page.locator("#profile-totp")).to_have_text("已开启")
    await expect(page.locator("#login-totp-field")).to_be_hidden()


async def test_lockout_shows_the_wait_in_plain_words(web: WebApp) -> None:
    web.expect_status("/api/v1/auth/token", 429)

    async def locked(route: Route) -> None:
        await route.fulfill(
            status=429,
            headers={"Retry-After": "90", "Content-Type": "application/problem+json"},
            body=json.dumps(
                {
                    "type": "about:blank",
                    "title": "Too Many Requests",
                    "status": 429,
                    "detail": "too many failed sign-ins; try again later",
                }
            ),
        )

    await web.page.route("**/api/v1/auth/token", locked)
    await web.open()
    page = web.page
    await sign_in(web, "operator", "whatever-it-is")
    live = page.locator("#feedback")
    await expect(live).to_have_text("尝试次数过多，请等待 2 分钟后再试。")
    await page.get_by_role("button", name="English").click()
    await expect(live).to_have_text("Too many attempts. Please wait 2 minutes and try again.")


async def test_device_key_is_registered_listed_and_survives_a_reload(
    web: WebApp, api: httpx.Client
) -> None:
    user = create_user(api, "keys")
    await web.open()
    page = web.page
    await sign_in(web, user["username"], user["password"])
    keys = page.locator("#key-list")
    await expect(keys).to_contain_text("还没有登记任何设备密钥。")

    await page.get_by_label("设备名称").fill("我的测试手机")
    async with page.expect_request("**/api/v1/me/device-keys") as sent:
        await page.get_by_role("button", name="登记本设备").click()
    posted = json.loads((await sent.value).post_data or "{}")
    jwk = posted["public_jwk"]
    assert posted["label"] == "我的测试手机"
    assert isinstance(jwk, dict) and jwk["kty"] == "EC" and jwk["crv"] == "P-256", jwk
    assert "d" not in jwk, "the private key must never leave the browser"
    await expect(page.locator("#feedback")).to_have_text("本设备的密钥已登记。")
    item = keys.locator("li", has_text="我的测试手机")
    await expect(item).to_contain_text("本设备")
    await expect(page.locator("#key-form")).to_be_hidden()

    # The private key is a non-extractable CryptoKey in IndexedDB, and it signs what the
    # registered public key verifies.
    checked = await page.evaluate(
        """async (jwk) => {
          const keys = await import('/devicekeys.js');
          const data = new TextEncoder().encode('period head');
          const signature = await keys.sign(data);
          const key = await crypto.subtle.importKey(
            'jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
          const ok = await crypto.subtle.verify(
            { name: 'ECDSA', hash: 'SHA-256' }, key, signature, data);
          const record = await new Promise((resolve, reject) => {
            const open = indexedDB.open('xinyi-device-keys');
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
              const get = open.result.transaction('keys').objectStore('keys').get('device');
              get.onsuccess = () => resolve(get.result);
            };
          });
          return { ok, length: signature.length, extractable: record.privateKey.extractable,
                   same: JSON.stringify(await keys.publicJwk()) === JSON.stringify(jwk) };
        }""",
        jwk,
    )
    assert checked == {"ok": True, "length": 64, "extractable": False, "same": True}, checked

    await page.reload(wait_until="networkidle")
    await sign_in(web, user["username"], user["password"])
    item = keys.locator("li", has_text="我的测试手机")
    await expect(item).to_contain_text("本设备")
    await expect(page.locator("#keys-this-device")).to_be_visible()
    await expect(page.locator("#key-form")).to_be_hidden()

    await page.get_by_role("button", name="撤销设备密钥“我的测试手机”").click()
    await expect(page.locator("#feedback")).to_contain_text("已撤销")
    await expect(item).to_contain_text("撤销")
    await expect(item.get_by_role("button")).to_have_count(0)
    await expect(page.locator("#key-form")).to_be_visible()
    listed = api.get(
        "/api/v1/me/device-keys",
        headers={"Authorization": f"Bearer {_token(api, user)}"},
    )
    assert listed.status_code == 200, listed.text
    (key,) = listed.json()["keys"]
    assert key["revoked_at"], key
    assert json.loads(key["public_jwk"])["x"] == jwk["x"]


def _token(api: httpx.Client, user: dict[str, str]) -> str:
    reply = api.post(
        "/api/v1/auth/token", json={"username": user["username"], "password": user["password"]}
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])
