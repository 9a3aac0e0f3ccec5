"""Shared pieces of the browser tests (headless Chromium through Playwright): the browser itself,
a page at a given width, axe-core's serious findings, and screenshots.

Needs /usr/bin/chromium (`apt-get install -y chromium`; `.ci/run` installs it). Without it the
browser tests are skipped on a workstation, and fail under CI, where a skipped accessibility check
would pass unnoticed. Set REGISTRY_SCREENSHOTS to a directory to save a screenshot of each scanned
page there.
"""

import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
WIDTHS = (360, 1280)
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing; install it with `apt-get install -y chromium`"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    # Playwright's sync API keeps an event loop running in this thread while it is open, which makes
    # Django refuse ORM calls; the tests' ORM calls are plain synchronous ones, so let them through.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


def new_page(browser, live_server, width=1280):
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
    return context.new_page()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings, plus any sideways scrolling of the whole page."""
    violations = Axe().run(page).response["violations"]
    found = [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']]}"
        for violation in violations
        if violation["impact"] in BLOCKING_IMPACTS
    ]
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        found.append(f"the page scrolls sideways by {overflow} px")
    return found


def save_screenshot(page, name: str, directory: str | Path | None = None) -> None:
    """A full-page screenshot, into `directory` or REGISTRY_SCREENSHOTS; nothing if neither is set."""
    directory = directory or os.environ.get("REGISTRY_SCREENSHOTS")
    if directory:
        page.screenshot(path=str(Path(directory) / name), full_page=True)


def policy_violations(page) -> list[str]:
    """Chromium reports each blocked script, style or image on the console; collect those reports."""
    reported = []

    def keep_violation(message):
        if "Content Security Policy" in message.text:
            reported.append(message.text)

    page.on("console", keep_violation)
    return reported
