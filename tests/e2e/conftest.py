"""Fixtures for end-to-end tests in a real browser: Debian's chromium driven by Playwright.

- `browser`: one headless chromium for the whole run (Playwright cannot download its own
  browsers here; `devtools/install_system_deps.sh` installs Debian's `chromium`).
- `phone`: a fresh phone-sized browser context (390x844, touch, mobile user agent) per test;
  `desktop`: a fresh 1280x900 one. Pass `locale=` through `new_context` for Accept-Language.
- `serve_app(app)`: serves a Flask app on a free local port in a background thread and returns
  its base URL; the server is shut down after the test.

Every test under tests/e2e is marked `e2e` by tests/conftest.py.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {"width": 390, "height": 844}
PHONE_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS", "var/e2e-screenshots"))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless chromium for the run; the run fails (no skip) when chromium is missing."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM} (devtools/install_system_deps.sh installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def new_context(browser: object) -> Iterator[Callable[..., object]]:
    """A factory of browser contexts, each closed after the test."""
    contexts: list = []

    def make(**options: object) -> object:
        context = browser.new_context(**options)  # type: ignore[attr-defined]
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def phone(new_context: Callable[..., object]) -> object:
    """A phone-sized context (390x844, touch), Chinese by default like most residents."""
    return new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        user_agent=PHONE_USER_AGENT,
        locale="zh-CN",
    )


@pytest.fixture
def desktop(new_context: Callable[..., object]) -> object:
    return new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")


class ServedApp:
    """A Flask app served by werkzeug in a background thread."""

    def __init__(self, app: Flask) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="e2e-server", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve_app() -> Iterator[Callable[[Flask], str]]:
    """`serve_app(app)` → the base URL of `app` served on a free port until the test ends."""
    served: list[ServedApp] = []

    def serve(app: Flask) -> str:
        running = ServedApp(app)
        served.append(running)
        return running.url

    yield serve
    for running in served:
        running.stop()


def screenshot(page: object, name: str, full_page: bool = False) -> Path:
    """Save a PNG of the viewport (or the whole page) under var/e2e-screenshots, to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)  # type: ignore[attr-defined]
    return path


def axe_violations(page: object, impacts: frozenset[str] = frozenset({"serious", "critical"})) -> list[dict]:
    """axe-core's (bundled by axe-playwright-python) serious and critical violations on the page as it
    is now; an empty list when there are none. Needs a context with JavaScript (axe runs in the page)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in impacts]


def assert_no_axe_violations(page: object, where: str) -> None:
    """Fail with each serious/critical violation's rule, help text and offending elements."""
    found = axe_violations(page)
    assert found == [], f"{where}: " + "; ".join(
        f"{v['id']} ({v['help']}): {[n.get('target') for n in v.get('nodes', [])][:3]}" for v in found
    )


@pytest.fixture
def axe() -> Callable[[object, str], None]:
    """`axe(page, "where")` asserts that axe-core finds no serious or critical violation."""
    return assert_no_axe_violations
