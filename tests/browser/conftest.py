"""Browser-test harness: Debian's headless Chromium, driven by Playwright, on the real gateway."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, ViewportSize, async_playwright

if TYPE_CHECKING:
    from xinyi_dev.platform import Platform

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
# A small phone: the narrowest screen the app is made for.
PHONE: ViewportSize = {"width": 360, "height": 740}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
# Cumulative layout shift a page may show (Web Vitals' CLS: "good" is at most 0.1).
MAX_LAYOUT_SHIFT = 0.1

# Records every Content-Security-Policy violation, also those the console might not show.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
// Cumulative layout shift as Web Vitals counts it, grouped in windows (at most 5 s, gaps under
// 1 s); the page's figure is its worst window. Shifts within a second of the person's own click
// or key press answer it (Web Vitals allows half a second; a loaded test machine's server may
// take longer to answer).
window.__layoutShift = 0;
window.__layoutShifts = [];
(() => {
  let value = 0, first = -Infinity, last = -Infinity, shifts = [], acted = -Infinity;
  for (const type of ["pointerdown", "keydown"]) {
    addEventListener(type, () => { acted = performance.now(); }, { capture: true });
  }
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.hadRecentInput || entry.startTime - acted < 1000) continue;
      if (entry.startTime - last > 1000 || entry.startTime - first > 5000) {
        value = 0;
        first = entry.startTime;
        shifts = [];
      }
      last = entry.startTime;
      value += entry.value;
      // What moved, by its id, or else the heading that names it, and on which view.
      const name = (node) => node?.id || (node?.getAttribute?.("aria-labelledby") &&
        `${node.nodeName}[${node.getAttribute("aria-labelledby")}]`) || node?.nodeName || "?";
      const moved = entry.sources.map((s) => name(s.node)).join(",");
      shifts.push(`${entry.value.toFixed(3)} ${moved} on ${location.hash || "/"}`);
      if (value > window.__layoutShift) {
        window.__layoutShift = value;
        window.__layoutShifts = [...shifts];
      }
    }
  }).observe({ type: "layout-shift", buffered: true });
})();
"""


def _in_ci() -> bool:
    return os.environ.get("CI") == "true"


def _missing_reason() -> str:
    return f"{CHROMIUM} not found (apt-get install chromium)"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # tryfirst: the mark must be there before `-m "not browser"` deselects by it.
    here = Path(__file__).parent
    # A skip mark (unlike a skip raised in a fixture) folds into one summary line, and spares
    # starting the platform for tests that cannot run.
    skip = (
        None
        if CHROMIUM.exists() or _in_ci()
        else pytest.mark.skip(reason=f"browser tests skipped: {_missing_reason()}")
    )
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)
            if skip is not None:
                item.add_marker(skip)


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(_missing_reason())
    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
        except Exception as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            _unavailable(f"{CHROMIUM} failed to launch: {first_line}")
        yield launched
        await launched.close()


@dataclass
class WebApp:
    """One test's page on the gateway, with what the page complained about along the way."""

    page: Page
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    # Responses a test provokes on purpose (e.g. 401 for a wrong password); Chromium logs every
    # failed fetch as a console error, and those expected ones are not faults of the app.
    expected_statuses: set[tuple[str, int]] = field(default_factory=set)

    def expect_status(self, path: str, status: int) -> None:
        self.expected_statuses.add((path, status))

    async def open(self, path: str = "/") -> Any:
        response = await self.page.goto(self.base_url + path, wait_until="networkidle")
        assert response is not None and response.ok, f"GET {path} answered {response}"
        return response

    async def layout_shift(self) -> tuple[float, list[str]]:
        shift = await self.page.evaluate("[window.__layoutShift ?? 0, window.__layoutShifts ?? []]")
        return float(shift[0]), list(shift[1])

    async def overflow(self) -> int:
        """How far the page is wider than the screen (0: no sideways scrolling)."""
        width: int = await self.page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - window.innerWidth"
        )
        return max(width, 0)

    async def csp_violations(self) -> list[str]:
        found: list[str] = await self.page.evaluate("window.__cspViolations ?? []")
        return found

    async def problems(self) -> list[str]:
        found = self.console_errors + [f"CSP: {v}" for v in await self.csp_violations()]
        shift, shifts = await self.layout_shift()
        if shift > MAX_LAYOUT_SHIFT:
            found.append(f"layout shift {shift:.3f} > {MAX_LAYOUT_SHIFT}: {shifts}")
        if overflow := await self.overflow():
            found.append(f"the page is {overflow} px wider than the screen")
        # Tokens stay in the app's module scope: never in storage a script could read, never
        # in cookies a forged cross-site request would carry.
        stored: str = await self.page.evaluate(
            "JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])"
        )
        if "eyJ" in stored or "refresh" in stored.lower():
            found.append(f"a token is kept where scripts can read it: {stored[:200]}")
        if cookies := await self.page.context.cookies():
            found.append(f"cookies set: {[c['name'] for c in cookies]}")
        return found

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        failed = re.match(r"Failed to load resource: .*status of (\d{3})", text)
        url = message.location.get("url", "")
        if failed and any(
            url.startswith(self.base_url + path) and int(failed.group(1)) == status
            for path, status in self.expected_statuses
        ):
            return
        self.console_errors.append(f"{text} ({url})" if url else text)


@asynccontextmanager
async def open_web(
    browser: Browser, platform: Platform, name: str, size: str
) -> AsyncIterator[WebApp]:
    """A browser context of its own (its storage, its device keys) at `size`, checked when it
    closes: no console errors, CSP violations, layout shift or sideways scrolling; its last
    screen is saved as `name`.png."""
    phone = size == "phone"
    context = await browser.new_context(
        viewport=VIEWPORTS[size], locale="zh-CN", is_mobile=phone, has_touch=phone
    )
    await context.add_init_script(CSP_RECORDER)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    app = WebApp(page=page, base_url=platform.gateway_url.rstrip("/"))
    page.on("console", app.on_console)
    page.on("pageerror", lambda error: app.console_errors.append(f"uncaught: {error}"))
    try:
        yield app
        problems = await app.problems()
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        finally:
            await context.close()
    assert not problems, "the page reported errors:\n" + "\n".join(problems)


@pytest.fixture
async def web(
    browser: Browser, platform: Platform, request: pytest.FixtureRequest
) -> AsyncIterator[WebApp]:
    # `@pytest.mark.parametrize("web", ["desktop", "phone"], indirect=True)` runs a test at both.
    size = getattr(request, "param", "desktop")
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    async with open_web(browser, platform, name, size) as app:
        yield app
