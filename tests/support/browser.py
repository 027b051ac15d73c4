"""Headless Chromium for the page tests (the attention viewer, the audiation gallery).

The tests skip where selenium, Debian's chromium or its driver are absent, or the browser cannot
start here (an environment problem, not a bug).  :func:`open_page` waits for the page's own
readiness flag (``document.body.dataset.ready``) instead of assuming it is set when ``get``
returns: on a loaded machine the browser may report the load before the page's script has run.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Seconds a page may take to become ready: generous, so that a slow machine is never a failure.
READY_TIMEOUT_S = 300

_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
          "--disable-extensions", "--window-size=1400,1000")  # fmt: skip


def headless_chromium(extra_flags: Sequence[str] = ()):
    """A selenium Chrome driver on headless Chromium, with the browser log kept (skips where there is none)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).is_file() and shutil.which(Path(path).name) is None:
            pytest.skip(f"{path} is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in (*_FLAGS, *extra_flags):
        options.add_argument(flag)
    options.binary_location = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER if Path(CHROMEDRIVER).is_file() else shutil.which("chromedriver"))
    try:
        return webdriver.Chrome(service=service, options=options)
    except Exception as exc:  # a browser that cannot start here is an environment problem, not a bug
        pytest.skip(f"headless chromium does not start: {str(exc).splitlines()[0]}")


def open_page(driver, page: Path) -> None:
    """Load ``page`` and wait until its script has marked it ready; fail with the browser's errors if it never does."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.resolve().as_uri())
    try:
        WebDriverWait(driver, READY_TIMEOUT_S, poll_frequency=0.2).until(
            lambda d: d.execute_script("return document.body && document.body.dataset.ready") == "1"
        )
    except TimeoutException:
        errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        raise AssertionError(f"{page} never became ready (title {driver.title!r}; browser errors: {errors})") from None
