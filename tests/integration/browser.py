"""Debian's chromium, headless, for pages a worker serves: the DOM after scripts ran, and a screenshot kept under
var/test-artifacts/. CI requires it (RECSTREAM_REQUIRE_CHROMIUM); elsewhere a missing browser skips the check."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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
