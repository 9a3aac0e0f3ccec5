"""The import page in a real browser (headless Chromium through Playwright): staff check a file with
a mistake, see the problem by line and column, check the corrected file and import it; axe-core finds
no serious or critical problem on the page in each state, at 360 px and on a desktop.

Set REGISTRY_SCREENSHOTS to a directory to save a screenshot of each scanned page there.
"""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from patients.models import Patient
from tests import factories
from tests.browser import WIDTHS, new_page, save_screenshot, serious_violations
from tests.workspace.test_import import SAMPLE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sites(transactional_db):
    return [factories.SiteFactory(code=code, name=code) for code in ("tel-aviv", "tokyo", "newcastle")]


def staff_page(browser, live_server, staff_user, width):
    """A browser page logged in as staff, by a session made on the server (no password typed)."""
    client = Client()
    client.force_login(staff_user)
    page = new_page(browser, live_server, width)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return page


def choose(page, name: str, content: bytes) -> None:
    page.get_by_label("Spreadsheet saved as CSV").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": content}
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_staff_check_a_file_with_a_mistake_then_import_the_corrected_one(
    browser, live_server, staff_user, sites, width
):
    page = staff_page(browser, live_server, staff_user, width)
    found = {}
    page.goto(reverse("workspace:import"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Import a legacy spreadsheet")
    found["empty form"] = serious_violations(page)

    wrong = SAMPLE.read_bytes().replace(b"1985-11-23", b"23/11/1985")  # line 5
    choose(page, "wrong.csv", wrong)
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("alert")).to_contain_text("The file has 1 problem; nothing was imported")
    row = page.get_by_role("row").filter(has_text="date_of_birth")
    expect(row).to_contain_text("5")
    expect(row).to_contain_text("YYYY-MM-DD")
    found["problems"] = serious_violations(page)
    save_screenshot(page, f"workspace-import-problems-{width}.png")
    assert Patient.objects.count() == 0

    choose(page, "legacy.csv", SAMPLE.read_bytes())
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name="The file can be imported")).to_be_visible()
    found["checked"] = serious_violations(page)
    assert Patient.objects.count() == 0

    page.get_by_role("button", name="Import these records").click()
    expect(page.get_by_role("status")).to_contain_text("Imported 3 patients with 6 assessments.")
    expect(page.get_by_role("link", name="Sato, Haruto")).to_be_visible()
    found["imported"] = serious_violations(page)
    assert Patient.objects.count() == 3

    assert {name: problems for name, problems in found.items() if problems} == {}
