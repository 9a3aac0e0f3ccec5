"""Entering records and resolving review flags in a real browser (headless Chromium through
Playwright): staff enter a visit with a mistake, see the message at the field, fix it and the visit
is in the database; staff resolve a review flag from the queue and the decision is stored; axe-core
finds no serious or critical problem on the visit form and the queue, at 360 px and on a desktop.

Set REGISTRY_SCREENSHOTS to a directory to save a screenshot of each scanned page there.
"""

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from assessments.models import Assessment
from tests import factories
from tests.browser import WIDTHS, new_page, save_screenshot, serious_violations
from workspace.models import ReviewDecision

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def patient(transactional_db):
    """Born 1980-06-15 (the factory's identity), onset in 2005, seen at a London clinic."""
    patient = factories.PatientFactory(status="enrolled", site=factories.SiteFactory())
    factories.DiagnosisFactory(patient=patient)
    return patient


def staff_page(browser, live_server, staff_user, width):
    """A browser page logged in as staff, by a session made on the server (no password typed)."""
    client = Client()
    client.force_login(staff_user)
    page = new_page(browser, live_server, width)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return page


def test_staff_enter_a_visit_with_a_mistake_then_fix_it(browser, live_server, staff_user, patient):
    page = staff_page(browser, live_server, staff_user, width=360)
    page.goto(reverse("workspace:assessment-new", kwargs={"patient": patient.uuid}))
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter a visit")

    page.get_by_label("Date of the visit").fill("1979-01-01")  # before the date of birth
    page.get_by_label("Falls", exact=True).fill("2")
    page.get_by_label("Of which injurious").fill("5")  # more than the falls
    page.get_by_label("Ambulation", exact=True).select_option(label="Walks with cane or crutch")
    page.get_by_label("Comment").fill("Came with her daughter.")
    page.get_by_role("button", name="Save", exact=True).click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("before the date of birth")
    expect(summary).to_contain_text("Injurious falls (5) cannot exceed falls (2).")
    expect(page.locator("#id_assessment_date_error")).to_contain_text("before the date of birth")
    expect(page.get_by_label("Of which injurious")).to_have_value("5")
    expect(page.get_by_label("Ambulation", exact=True)).to_have_value("2")
    expect(page.get_by_label("Comment")).to_have_value("Came with her daughter.")
    assert not Assessment.objects.filter(patient=patient).exists()

    summary.get_by_role("link", name="Of which injurious").click()  # the summary leads to the field
    expect(page.get_by_label("Of which injurious")).to_be_focused()
    page.get_by_label("Of which injurious").fill("1")
    page.get_by_label("Date of the visit").fill("2021-05-04")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("status")).to_contain_text("The visit was saved.")
    visit = Assessment.objects.get(patient=patient)
    assert (visit.assessment_date, visit.falls_count, visit.injurious_falls_count) == (dt.date(2021, 5, 4), 2, 1)
    assert (visit.ambulation_class, visit.comment, visit.entered_by) == (2, "Came with her daughter.", staff_user)


def test_staff_resolve_a_review_flag_from_the_queue(browser, live_server, staff_user, patient):
    visit = factories.AssessmentFactory(
        patient=patient,
        review_flags=[
            {"code": "wheelchair_but_walked", "field": "six_minute_walk_m", "message": "Wheelchair, but walked."}
        ],
    )
    page = staff_page(browser, live_server, staff_user, width=360)
    page.goto(reverse("workspace:review-queue"))
    item = page.get_by_role("region", name="Assessment of 2020-03-01")

    item.get_by_label("Confirmed correct as recorded").check()
    item.get_by_role("button", name="Record the decision").click()  # without the note first

    expect(page.get_by_role("alert")).to_contain_text("Note")
    page.get_by_label("Note").fill("Walked with help at the visit; wheelchair outdoors only.")
    expect(page.get_by_label("Confirmed correct as recorded")).to_be_checked()
    page.get_by_role("button", name="Record the decision").click()

    expect(page.get_by_role("status")).to_contain_text("The decision was recorded.")
    expect(page.get_by_text("Nothing is waiting for review.")).to_be_visible()
    decision = ReviewDecision.objects.get()
    assert (decision.target_uuid, decision.code, decision.outcome) == (visit.uuid, "wheelchair_but_walked", "confirmed")
    assert decision.note == "Walked with help at the visit; wheelchair outdoors only."
    visit.refresh_from_db()
    assert visit.version == 1 and visit.review_flags[0]["code"] == "wheelchair_but_walked"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_visit_form_and_the_queue_have_no_serious_accessibility_violations(
    browser, live_server, staff_user, patient, width
):
    factories.AssessmentFactory(
        patient=patient,
        review_flags=[{"code": "ambulation_wheelchair_mismatch", "field": "wheelchair_use", "message": "Mismatch."}],
    )
    page = staff_page(browser, live_server, staff_user, width)
    found = {}

    def scan(name, screenshot=None):
        found[name] = serious_violations(page)
        if screenshot:
            save_screenshot(page, f"{screenshot}-{width}.png")

    page.goto(reverse("workspace:assessment-new", kwargs={"patient": patient.uuid}))
    scan("visit form", "workspace-visit")
    page.get_by_label("Falls", exact=True).fill("1")
    page.get_by_label("Of which injurious").fill("3")
    page.get_by_role("button", name="Save", exact=True).click()
    scan("visit form with errors", "workspace-visit-errors")
    page.goto(reverse("workspace:review-queue"))
    scan("review queue", "workspace-review-queue")
    page.get_by_role("link", name="All flags of this record, and their decisions").click()
    scan("review flags of a record")
    page.goto(reverse("workspace:diagnosis-edit", kwargs={"patient": patient.uuid}))
    scan("diagnosis form")

    assert {name: problems for name, problems in found.items() if problems} == {}
