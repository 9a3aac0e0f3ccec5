"""The staff workspace's find, patient, enroll and follow-up pages in a real browser (headless Chromium
through Playwright): a member logs in, finds a patient by name and opens their page; and axe-core
finds no serious or critical accessibility problem on these pages, at 360 px and on a desktop.

Set REGISTRY_SCREENSHOTS to a directory to save a screenshot of each scanned page there.
"""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from assessments.models import AmbulationClass, WheelchairUse
from assessments.services import assessment_create
from patients.models import EnrollmentStatus, PatientIdentity
from patients.services import genotype_create
from portal.followup import add_months
from registry import roles
from registry.dates import today
from tests import factories
from tests.browser import WIDTHS, new_page, save_screenshot, serious_violations

PASSWORD = "a-long-staff-password"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def member(transactional_db):
    user = factories.UserFactory(username="staff.dana", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=roles.STAFF)[0])
    return user


@pytest.fixture
def patient(transactional_db):
    site = factories.SiteFactory(code="london")
    record = factories.PatientFactory(identity=None, site=site, status=EnrollmentStatus.ENROLLED)
    PatientIdentity.objects.create(
        patient=record,
        given_name="Tamar",
        family_name="Azoulay",
        date_of_birth=dt.date(1982, 7, 9),
        hospital_id="LDN-5",
    )
    factories.DiagnosisFactory(patient=record)
    genotype_create(patient=record, data={"allele1": "M712T", "allele2": "M712T"})
    for months_ago, ambulation, wheelchair in ((30, AmbulationClass.UNAIDED, ""), (9, AmbulationClass.CANE, "")):
        assessment_create(
            patient=record,
            data={
                "assessment_date": add_months(today(), -months_ago),
                "source": "clinician",
                "ambulation_class": ambulation,
                "wheelchair_use": wheelchair or WheelchairUse.NONE,
                "devices": ["cane"] if ambulation == AmbulationClass.CANE else [],
                "falls_count": 1,
            },
        )
    for _ in range(3):  # others in the results
        factories.PatientFactory(site=site)
    return record


def log_in(page, username):
    page.goto(reverse("login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Find a patient")


def test_staff_find_a_patient_by_name_and_open_their_page(browser, live_server, member, patient):
    page = new_page(browser, live_server)
    log_in(page, "staff.dana")
    page.get_by_label("Name, registry ID, email or hospital ID").fill("azoulay")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", level=2, name="1 patient")).to_be_visible()
    page.get_by_role("link", name="Azoulay, Tamar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Azoulay, Tamar")
    expect(page.get_by_text(str(patient.uuid))).to_be_visible()
    assert page.url.endswith(reverse("workspace:patient", kwargs={"patient": patient.uuid}))


@pytest.mark.parametrize("width", WIDTHS)
def test_workspace_pages_have_no_serious_accessibility_violations(browser, live_server, member, patient, width):
    page = new_page(browser, live_server, width)
    found = {}

    def scan(name, screenshot=None):
        found[name] = serious_violations(page)
        if screenshot:
            save_screenshot(page, f"{screenshot}-{width}.png")

    log_in(page, "staff.dana")
    scan("find", "workspace-find")
    page.goto(reverse("workspace:find") + "?genotype=not+a+variant")
    scan("find with an error")
    page.goto(reverse("workspace:patient", kwargs={"patient": patient.uuid}))
    scan("patient page", "workspace-patient")
    page.goto(reverse("workspace:follow-up"))
    scan("follow-up list", "workspace-follow-up")
    page.goto(reverse("workspace:reconsent"))
    scan("re-consent list")
    page.goto(reverse("workspace:patient-erasure", kwargs={"patient": patient.uuid}))
    scan("erasure on request")
    page.goto(reverse("workspace:enroll"))
    scan("enroll")
    page.get_by_label("Given name").fill("Tamar")
    page.get_by_label("Family name").fill("Azulay")
    page.get_by_label("Date of birth").fill("1982-07-09")
    page.get_by_label("Country of residence").select_option("GB")
    page.get_by_role("button", name="Check and enroll").click()
    expect(page.get_by_role("heading", name="This person may already be registered")).to_be_visible()
    scan("enroll with a possible duplicate", "workspace-enroll-duplicate")

    assert found == {name: [] for name in found}
