"""The research pages in a real browser (headless Chromium through Playwright): a researcher logs
in, gets the cohort form wrong, puts it right, and the export is requested; and axe-core finds no
serious or critical accessibility problems on any page, on a phone-sized screen or a desktop.

The browser, axe scan and screenshots are shared with the portal's browser tests (tests/browser.py).
"""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from registry import roles
from research.models import ExportStatus, ResearchExport, ResearchProject
from tests import factories
from tests.browser import WIDTHS, new_page, save_screenshot, serious_violations

PASSWORD = "a-long-test-password"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def researcher(transactional_db):
    user = factories.UserFactory(username="researcher.rita", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=roles.RESEARCHER)[0])
    return user


@pytest.fixture
def project(researcher):
    project = ResearchProject.objects.create(
        title="Grip strength decline",
        approving_body="Hadassah ethics committee",
        approval_reference="HMO-0123-24",
        data_use_agreement_ends=dt.date.today() + dt.timedelta(days=365),
    )
    project.members.add(researcher)
    return project


def log_in(page, user):
    page.goto(reverse("research:project-list"))
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/research/$"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Research projects")


def test_researcher_fixes_a_cohort_error_and_requests_an_export(browser, live_server, researcher, project):
    page = new_page(browser, live_server)
    log_in(page, researcher)
    assert page.request.get("/static/registry/registry.css").ok
    page.get_by_role("link", name=project.title).click()

    page.get_by_label("Carries the variant").fill("M712T")
    page.get_by_label("Onset age from (years)").fill("50")
    page.get_by_label("Onset age to (years)").fill("20")
    page.get_by_label("Countries of residence").select_option(["IL", "JP"])
    page.get_by_role("button", name="Request export").click()

    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("The highest onset age (20) is below the lowest (50).")
    expect(page.get_by_label("Onset age from (years)")).to_have_value("50")
    expect(page.get_by_label("Carries the variant")).to_have_value("M712T")
    summary.get_by_role("link").click()
    expect(page.get_by_label("Onset age to (years)")).to_be_focused()
    assert not ResearchExport.objects.exists()

    page.get_by_label("Onset age to (years)").fill("60")
    page.get_by_role("button", name="Request export").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Exports")
    export = ResearchExport.objects.get()
    expect(page.get_by_role("status")).to_contain_text(f"Export #{export.pk} was requested")
    assert export.requested_by == researcher
    assert (export.cohort["onset_age_min"], export.cohort["onset_age_max"]) == (50, 60)
    assert export.cohort["countries"] == ["IL", "JP"]


def test_export_list_updates_itself_while_an_export_runs(browser, live_server, researcher, project):
    export = ResearchExport.objects.create(
        project=project, requested_by=researcher, status=ExportStatus.RUNNING, progress_percent=10, step="Selecting"
    )
    page = new_page(browser, live_server)
    log_in(page, researcher)
    page.goto(reverse("research:export-list"))
    expect(page.get_by_text("10% · Selecting")).to_be_visible()
    page.evaluate("window.notReloaded = true")

    ResearchExport.objects.filter(pk=export.pk).update(status=ExportStatus.REFUSED, reason="cohort of 3 patients")

    expect(page.get_by_text("cohort of 3 patients")).to_be_visible(timeout=15_000)
    assert page.evaluate("window.notReloaded") is True  # the table was swapped in, not the page reloaded
    expect(page.get_by_text("Stop updating automatically")).to_have_count(0)


@pytest.fixture
def exports(project, researcher):
    """One export in each state, so the list shows every badge, a progress bar and a download link."""
    rows = [
        {"status": ExportStatus.QUEUED},
        {"status": ExportStatus.RUNNING, "progress_percent": 40, "step": "Pseudonymising"},
        {"status": ExportStatus.FAILED, "reason": "The worker stopped; request the export again."},
        {"status": ExportStatus.REFUSED, "reason": "cohort of 7 patients is below the minimum of 11"},
        {"status": ExportStatus.DONE, "progress_percent": 100, "size_bytes": 123_456, "sha256": "ab" * 32},
    ]
    return [ResearchExport.objects.create(project=project, requested_by=researcher, **row) for row in rows]


def show_project_errors(page, project):
    page.goto(reverse("research:project-detail", args=[project.pk]))
    page.get_by_label("Onset age from (years)").fill("50")
    page.get_by_label("Onset age to (years)").fill("20")
    page.get_by_label("Assessed on or after").fill("2024-05-01")
    page.get_by_label("Assessed on or before").fill("2020-01-01")
    page.get_by_role("button", name="Request export").click()
    expect(page.get_by_role("alert")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_have_no_serious_accessibility_violations(browser, live_server, researcher, project, exports, width):
    page = new_page(browser, live_server, width)
    page.goto(reverse("login"))
    found = {"login": serious_violations(page)}
    log_in(page, researcher)
    found["project list"] = serious_violations(page)
    show_project_errors(page, project)
    found["project page with errors"] = serious_violations(page)
    save_screenshot(page, f"research-project-{width}.png")
    page.goto(reverse("research:export-list"))
    found["export list"] = serious_violations(page)
    save_screenshot(page, f"research-exports-{width}.png")

    assert {name: problems for name, problems in found.items() if problems} == {}
