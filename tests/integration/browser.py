"""Debian's chromium, headless, for pages a worker serves: the DOM after scripts ran and a screenshot kept under
var/test-artifacts/, or a page to click through (Playwright driving that same binary; it never downloads a
browser). CI requires it (RECSTREAM_REQUIRE_CHROMIUM); elsewhere a missing browser skips the check."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(os.environ.get("RECSTREAM_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "var" / "test-artifacts"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--disable-background-networking", "--no-first-run", "--virtual-time-budget=10000"]


def chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("RECSTREAM_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is not installed (apt-get install chromium); CI requires it")
        pytest.skip("chromium is not installed: `apt-get install chromium` to check rendered pages")
    return browser


def dom_and_screenshot(url: str, name: str) -> str:
    """The page's DOM as the browser rendered it; its screenshot saved as var/test-artifacts/NAME.png."""
    browser = chromium()
    dom = subprocess.run([browser, *FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                         check=False).stdout
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    subprocess.run([browser, *FLAGS, "--window-size=1400,1000", f"--screenshot={shot}", url], capture_output=True,
                   timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000, f"the screenshot of {url} is missing or blank"
    return dom


@contextmanager
def browser_page() -> Iterator[tuple[Any, list[str]]]:
    """(a Playwright page in headless Debian chromium, the JavaScript errors it has logged so far and the
    requests that failed)."""
    from playwright.sync_api import sync_playwright

    browser_path = chromium()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--no-first-run", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} for {r.url}") if r.status >= 400 else None)
            yield page, errors
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    """The page as it looks now, kept as var/test-artifacts/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, f"the screenshot {shot} is blank"
    return shot
