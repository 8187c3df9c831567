"""Headless Chromium driven through chromedriver (selenium), for dashboard tests; screenshots go to test-artifacts/."""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = (
    "the dashboard tests need headless Chromium and chromedriver: `apt-get install -y chromium chromium-driver` "
    "(Debian/Ubuntu) and `.venv/bin/pip install selenium`"
)
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,1000",
)


def chromium_path() -> str:
    """The browser binary; a missing browser fails the test (CI installs it), it never skips it."""
    found = next((p for p in CHROMIUM if Path(p).exists()), None) or shutil.which("chromium")
    if found is None or not Path(CHROMEDRIVER).exists():
        pytest.fail(f"Chromium or chromedriver not found: {INSTALL}", pytrace=False)
    return found


@contextmanager
def chromium() -> Iterator[Any]:
    """A fresh headless browser with its own profile folder, closed afterwards."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail(f"selenium is not installed: {INSTALL}", pytrace=False)
    binary = chromium_path()
    with tempfile.TemporaryDirectory(prefix="vigil-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        try:
            driver.set_page_load_timeout(30)
            yield driver
        finally:
            driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    """Save the whole page (not only the window) as test-artifacts/dashboard/<name>.png, through DevTools."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    content = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": content["width"], "height": min(content["height"], 8000), "scale": 1}
    options = {"format": "png", "captureBeyondViewport": True, "clip": clip}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", options)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
