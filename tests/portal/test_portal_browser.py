"""The patient portal in a real browser (headless Chromium through Playwright): a patient accepts an
invitation, lands on their record, sends a report with a mistake, puts it right, and the report is
in the database; and axe-core finds no serious or critical accessibility problem on any patient
page, on a phone-sized screen (360 px) or a desktop.

Set REGISTRY_SCREENSHOTS to a directory to save a screenshot of each scanned page there
(docs/screenshots/ holds the ones of /me/ and the report form at 360 px).
"""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from assessments import services as assessment_services
from assessments.models import AmbulationClass, Assessment, Source
from patients import services as patient_services
from patients.models import ConsentDocument, ConsentGrant, ConsentPurpose, PatientIdentity
from portal.invitations import invitation_create
from portal.models import ReportDraft
from registry import roles
from tests import factories
from tests.browser import WIDTHS, new_page, save_screenshot, serious_violations

PASSWORD = "a-long-patient-password"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def consent_document(transactional_db):
    return ConsentDocument.objects.create(
        code="registry-consent",
        version="2.0",
        title="GNE registry participation",
        effective_from=dt.date(2020, 1, 1),
        purposes=list(ConsentPurpose.values),
        text="You agree that the registry keeps your data and may share it, without your name, with researchers.",
    )


def _enrolled_patient(email: str):
    patient = factories.PatientFactory(status="enrolled", identity=None)
    PatientIdentity.objects.create(
        patient=patient, given_name="Noa", family_name="Ben-David", date_of_birth=dt.date(1985, 4, 2), email=email
    )
    factories.DiagnosisFactory(patient=patient, onset_date=dt.date(2010, 1, 1), onset_date_precision="year")
    patient_services.genotype_create(
        patient=patient,
        data={"allele1": "M743T", "allele2": "M743T", "allele1_numbering": "current", "allele2_numbering": "current"},
    )
    return patient


@pytest.fixture
def invited(consent_document):
    """A patient staff enrolled and invited: (patient, the link from the email)."""
    patient = _enrolled_patient("noa@example.org")
    invitation_create(patient=patient, request_base_url="")
    link = re.search(r"/invitations/[\w-]+/", mail.outbox[-1].body).group(0)
    return patient, link


@pytest.fixture
def patient_with_reports(consent_document):
    """A patient with an account, consent, and three reports: every /me/ section has something."""
    patient = _enrolled_patient("dov@example.org")
    user = factories.UserFactory(username="dov", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=roles.PATIENT)[0])
    patient.account = user
    patient.save(update_fields=["account"])
    patient_services.consent_grant(
        patient=patient, document=consent_document, purposes=list(ConsentPurpose.values), granted_on=dt.date(2021, 1, 1)
    )
    today = timezone.localdate()
    for months_ago, ambulation, falls in ((18, AmbulationClass.AFO_ONLY, 1), (12, AmbulationClass.CANE, 3), (2, 2, 4)):
        assessment_services.patient_report_create(
            patient=patient,
            data={
                "assessment_date": today - dt.timedelta(days=30 * months_ago),
                "falls_count": falls,
                "ambulation_class": ambulation,
                "devices": ["afo"] if ambulation == AmbulationClass.AFO_ONLY else ["cane", "afo"],
                "wheelchair_use": "none",
            },
            entered_by=user,
        )
    return patient


def log_in(page, username):
    page.goto(reverse("login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My record")


def test_an_invited_patient_sets_up_an_account_and_sends_a_report_after_fixing_a_mistake(browser, live_server, invited):
    patient, link = invited
    page = new_page(browser, live_server, width=360)

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your registry account")
    page.get_by_label("Research use of my de-identified data").check()
    page.get_by_label("Being matched to clinical trials I may be able to join").check()
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("My record")
    patient.refresh_from_db()
    assert patient.account.username == "noa@example.org"
    assert set(ConsentGrant.objects.filter(patient=patient).values_list("purpose", flat=True)) == {
        "research",
        "trial_matching",
    }

    page.get_by_role("link", name="Send a new report").click()
    page.get_by_label("How many times have you fallen since your last report?").fill("2")
    page.get_by_label("How many of these falls hurt you?").fill("5")  # more than the falls: a mistake
    page.get_by_role("button", name="Continue").click()
    _answer_the_other_steps(page)
    page.get_by_role("button", name="Send my report").click()

    # The services refuse it; the patient is taken back to the step that asked, with what they typed.
    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("hurt you")
    expect(page.get_by_label("How many times have you fallen since your last report?")).to_have_value("2")
    expect(page.get_by_label("How many of these falls hurt you?")).to_have_value("5")
    assert not Assessment.objects.filter(patient=patient).exists()

    page.get_by_label("How many of these falls hurt you?").fill("1")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_label("I walk with a cane or crutch")).to_be_checked()  # the draft kept the answers
    for _ in range(3):
        page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Send my report").click()

    expect(page.get_by_role("status")).to_contain_text("report")
    report = Assessment.objects.get(patient=patient)
    assert report.source == Source.PATIENT and report.entered_by == patient.account
    assert (report.falls_count, report.injurious_falls_count) == (2, 1)
    assert report.ambulation_class == AmbulationClass.CANE
    assert sorted(report.devices) == ["afo", "cane"]
    assert report.comment == "Stairs are harder since the winter."


def _answer_the_other_steps(page):
    page.get_by_label("I walk with a cane or crutch").check()
    page.get_by_label("Cane or crutch", exact=True).check()
    page.get_by_label("Ankle-foot orthoses").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Daily activities")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Anything else you would like the registry team to know?").fill(
        "Stairs are harder since the winter."
    )
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Check and send")


@pytest.mark.parametrize("width", WIDTHS)
def test_patient_pages_have_no_serious_accessibility_violations(
    browser, live_server, invited, patient_with_reports, width
):
    _, link = invited
    page = new_page(browser, live_server, width)
    found = {}

    def scan(name, screenshot=None):
        found[name] = serious_violations(page)
        if screenshot:
            save_screenshot(page, f"{screenshot}-{width}.png")

    page.goto(link)
    scan("invitation")
    page.get_by_role("button", name="Create my account").click()
    scan("invitation with errors")
    page.goto(reverse("portal:invitation-accept", kwargs={"token": "no-such-link"}))
    scan("unknown invitation link")
    page.goto(reverse("password_reset"))
    scan("password reset")
    page.goto(reverse("login"))
    scan("login")

    log_in(page, "dov")
    scan("my record", "portal-me")
    page.goto(reverse("portal:settings"))
    scan("settings")
    page.goto(reverse("portal:me"))
    page.get_by_role("button", name=re.compile("^Withdraw")).first.click()
    scan("withdrawal confirmation")

    page.goto(reverse("portal:report-new"))
    page.get_by_label("How many times have you fallen since your last report?").fill("")
    page.get_by_role("button", name="Continue").click()
    scan("report step 1 with an error", "portal-report-errors")
    page.get_by_label("How many times have you fallen since your last report?").fill("0")
    page.get_by_role("button", name="Continue").click()
    scan("report step 2", "portal-report-mobility")
    page.get_by_label("I walk with a cane or crutch").check()
    page.get_by_role("button", name="Continue").click()
    scan("report step 3", "portal-report-daily-activities")
    page.get_by_role("button", name="Continue").click()
    scan("report step 4")
    page.get_by_role("button", name="Continue").click()
    scan("report check", "portal-report-check")
    page.get_by_role("button", name="Send my report").click()
    scan("sent report")

    assert {name: problems for name, problems in found.items() if problems} == {}


# Every control a patient presses must be at least 44 x 44 CSS px (WCAG 2.5.5): many have weak
# hands. Links inside running text are exempt, as in WCAG; a checkbox or radio counts with its label.
SMALL_TARGETS_JS = """
() => {
  const small = [];
  const controls = document.querySelectorAll(
    'button, input:not([type=hidden]), select, textarea, a.button, a.action-link, nav a, .step-list a');
  for (const element of controls) {
    const target = (element.type === 'checkbox' || element.type === 'radio')
      ? (element.closest('label') || element) : element;
    const box = target.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;  // not shown
    if (box.width < 44 || box.height < 44) {
      small.push(`${element.outerHTML.slice(0, 80)} is ${Math.round(box.width)} x ${Math.round(box.height)}`);
    }
  }
  return {checked: controls.length, small};
}
"""


def test_every_control_on_the_report_form_is_a_large_touch_target(browser, live_server, patient_with_reports):
    page = new_page(browser, live_server, width=360)
    found = {}

    def measure(name):
        result = page.evaluate(SMALL_TARGETS_JS)
        assert result["checked"] >= 5, f"{name}: too few controls found to check"
        found[name] = result["small"]

    log_in(page, "dov")
    measure("my record")
    page.goto(reverse("portal:report-new"))
    measure("report step 1")
    page.get_by_label("How many times have you fallen since your last report?").fill("0")
    page.get_by_role("button", name="Continue").click()
    measure("report step 2")

    assert {name: small for name, small in found.items() if small} == {}


def test_a_report_step_can_be_filled_and_sent_with_the_keyboard_alone(browser, live_server, patient_with_reports):
    page = new_page(browser, live_server, width=1280)
    log_in(page, "dov")
    page.goto(reverse("portal:report-new"))
    falls = page.get_by_label("How many times have you fallen since your last report?")
    falls.focus()
    page.keyboard.type("3")
    page.keyboard.press("Enter")  # submits the step's form, as the Continue button would

    expect(page.get_by_role("heading", level=1)).to_contain_text("Walking and getting around")
    assert ReportDraft.objects.get(patient=patient_with_reports).data["falls_count"] == 3
    page.get_by_label("I walk with a cane or crutch").focus()
    page.keyboard.press("Space")
    expect(page.get_by_label("I walk with a cane or crutch")).to_be_checked()
    page.keyboard.press("Tab")
    focused_outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused_outline != "none"  # the focus is visible
