"""Every page against every persona (docs/architecture.md, "Personas and the access matrix").

The API has its matrix in tests/registry/test_access_matrix.py; this is the same for the pages of
the staff workspace (`/staff/`), the patient portal (`/me/`), the research area (`/research/`) and
two-factor set-up. Each page has a row saying who it is for; a page added without a row fails
`test_every_page_has_a_row`, so no page can be added without saying who may open it.

Expected:
- anonymous visitors are sent to the login page, never shown anything;
- a persona the page is not for gets 403;
- staff pages about one patient: foundation-wide staff open them for any patient; staff limited to
  one site open them for their site's patients and get 404 for another site's (as in the API: they
  learn nothing, not even that the patient exists);
- the portal shows a patient only their own record: another patient's report is 404.
"""

import datetime as dt
from urllib.parse import urlsplit

import pytest
from django.urls import get_resolver, reverse

from assessments.models import Milestone
from patients.models import Treatment
from portal.forms.reports import STEPS
from tests import factories
from tests.research.test_pages import make_project

pytestmark = pytest.mark.django_db

PERSONAS = ["anonymous", "patient", "researcher", "staff", "site_staff"]

# Who each page is for: "staff" (the workspace), "patient" (the portal), "research" (researchers and
# staff), "anyone" (any logged-in user), "public" (no login: invitation links, self-registration).
STAFF, PATIENT, RESEARCH, ANYONE, PUBLIC = "staff", "patient", "research", "anyone", "public"
ALLOWED = {
    STAFF: {"staff", "site_staff"},
    PATIENT: {"patient"},
    RESEARCH: {"staff", "site_staff", "researcher"},
    ANYONE: {"patient", "researcher", "staff", "site_staff"},
}

# url name -> (audience, method, what its URL names: None, "patient", or a kind of record)
PAGES = {
    "workspace:find": (STAFF, "get", None),
    "workspace:enroll": (STAFF, "get", None),
    "workspace:review-queue": (STAFF, "get", None),
    "workspace:follow-up": (STAFF, "get", None),
    "workspace:reconsent": (STAFF, "get", None),
    "workspace:import": (STAFF, "get", None),
    "workspace:patient": (STAFF, "get", "patient"),
    "workspace:patient-invite": (STAFF, "post", "patient"),
    "workspace:patient-erasure": (STAFF, "get", "patient"),
    "workspace:patient-edit": (STAFF, "get", "patient"),
    "workspace:patient-status": (STAFF, "get", "patient"),
    "workspace:diagnosis-edit": (STAFF, "get", "patient"),
    "workspace:genotype-new": (STAFF, "get", "patient"),
    "workspace:assessment-new": (STAFF, "get", "patient"),
    "workspace:treatment-new": (STAFF, "get", "patient"),
    "workspace:milestone-new": (STAFF, "get", "patient"),
    "workspace:consent-new": (STAFF, "get", "patient"),
    "workspace:consent-withdraw": (STAFF, "get", "patient"),
    "workspace:genotype-edit": (STAFF, "get", "genotype"),
    "workspace:assessment-edit": (STAFF, "get", "assessment"),
    "workspace:treatment-edit": (STAFF, "get", "treatment"),
    "workspace:milestone-edit": (STAFF, "get", "milestone"),
    "workspace:review-resolve": (STAFF, "get", "flagged assessment"),
    "portal:me": (PATIENT, "get", None),
    "portal:consent": (PATIENT, "post", None),
    "portal:settings": (PATIENT, "get", None),
    "portal:report-new": (PATIENT, "get", None),
    "portal:report-new-step": (PATIENT, "get", "step"),
    "portal:report-detail": (PATIENT, "get", "report"),
    "portal:report-correct": (PATIENT, "get", "report"),
    "portal:report-correct-step": (PATIENT, "get", "report step"),
    "portal:invitation-renew": (PUBLIC, "get", None),
    "portal:invitation-accept": (PUBLIC, "get", "token"),
    "portal:register": (PUBLIC, "get", None),
    "research:project-list": (RESEARCH, "get", None),
    "research:project-detail": (RESEARCH, "get", "project"),
    "research:export-list": (RESEARCH, "get", None),
    "two_factor:overview": (ANYONE, "get", None),
    "two_factor:setup": (ANYONE, "get", None),
    "two_factor:verify": (ANYONE, "get", None),
    "two_factor:recovery-codes": (ANYONE, "get", None),
    "two_factor:disable": (ANYONE, "get", None),
}
NAMESPACES = {"workspace", "portal", "research", "two_factor"}


def _page_names() -> set[str]:
    resolver = get_resolver()
    return {
        f"{namespace}:{name}"
        for namespace in NAMESPACES
        for name in resolver.namespace_dict[namespace][1].reverse_dict
        if isinstance(name, str)
    }


def test_every_page_has_a_row():
    assert _page_names() == set(PAGES), "add the page to PAGES, saying who it is for"


@pytest.fixture
def users(staff_user, site_staff_user, patient_user, own_patient, researcher_user):
    return {
        "anonymous": None,
        "patient": patient_user,
        "researcher": researcher_user,
        "staff": staff_user,
        "site_staff": site_staff_user,
    }


def _records_of(patient) -> dict:
    """One record of each kind for `patient`, the flagged assessment carrying a review flag."""
    flag = {"code": "ambulation_wheelchair_mismatch", "field": "wheelchair_use", "message": "Check."}
    return {
        "patient": patient,
        "genotype": factories.GenotypeFactory(patient=patient),
        "assessment": factories.AssessmentFactory(patient=patient),
        "flagged assessment": factories.AssessmentFactory(
            patient=patient, assessment_date=dt.date(2022, 3, 1), review_flags=[flag]
        ),
        "treatment": Treatment.objects.create(
            patient=patient, kind="mannac", start_date=dt.date(2019, 1, 1), start_date_precision="year"
        ),
        "milestone": Milestone.objects.create(
            patient=patient, kind="cane", source="reported", date=dt.date(2012, 6, 1), date_precision="month"
        ),
    }


@pytest.fixture
def site_records(site_patient):
    return _records_of(site_patient)


@pytest.fixture
def elsewhere_records(elsewhere_patient):
    return _records_of(elsewhere_patient)


def _url(name: str, subject: str | None, records: dict, own_patient, researcher=None) -> str:
    if subject is None:
        return reverse(name)
    if subject == "patient":
        return reverse(name, kwargs={"patient": records["patient"].uuid})
    if subject == "flagged assessment":
        return reverse(name, kwargs={"kind": "assessment", "record": records[subject].uuid})
    if subject in ("genotype", "assessment", "treatment", "milestone"):
        return reverse(name, kwargs={"record": records[subject].uuid})
    report = factories.AssessmentFactory(patient=own_patient, source="patient", entered_by=own_patient.account)
    if subject == "step":
        return reverse(name, kwargs={"step": STEPS[0].slug})
    if subject == "report":
        return reverse(name, kwargs={"report": report.uuid})
    if subject == "report step":
        return reverse(name, kwargs={"report": report.uuid, "step": STEPS[0].slug})
    if subject == "project":
        return reverse(name, kwargs={"pk": make_project(researcher).pk})
    raise AssertionError(f"no URL for {subject}")


def _open(client, user, method: str, url: str):
    if user is not None:
        client.force_login(user)
    return getattr(client, method)(url)


def _assert_refused(response, persona: str):
    if persona == "anonymous":
        assert response.status_code == 302, response.status_code
        assert urlsplit(response["Location"]).path == reverse("login")
    else:
        assert response.status_code == 403, response.status_code


def _assert_opened(response):
    # Opened: the page itself, or where it sends a person on (a form's first step, a finished post).
    # Never a refusal, a "not found" or a server error.
    assert response.status_code in (200, 302, 400), response.status_code
    if response.status_code == 302:
        assert urlsplit(response["Location"]).path != reverse("login")


RESTRICTED = [name for name, (audience, _method, _subject) in PAGES.items() if audience != PUBLIC]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", RESTRICTED)
def test_each_page_opens_only_for_its_audience(client, users, own_patient, site_records, name, persona):
    audience, method, subject = PAGES[name]
    url = _url(name, subject, site_records, own_patient, researcher=users["researcher"])

    response = _open(client, users[persona], method, url)

    if persona in ALLOWED[audience]:
        _assert_opened(response)
    else:
        _assert_refused(response, persona)


ABOUT_ONE_PATIENT = [name for name, (audience, _m, subject) in PAGES.items() if audience == STAFF and subject]


@pytest.mark.parametrize("name", ABOUT_ONE_PATIENT)
def test_another_sites_patient_is_not_found_for_site_limited_staff_and_open_to_foundation_staff(
    client, users, own_patient, elsewhere_records, name
):
    _audience, method, subject = PAGES[name]
    url = _url(name, subject, elsewhere_records, own_patient)

    assert _open(client, users["site_staff"], method, url).status_code == 404
    client.logout()
    _assert_opened(_open(client, users["staff"], method, url))


def test_another_patients_report_is_not_found_in_the_portal(client, patient_user, own_patient, other_patient):
    theirs = factories.AssessmentFactory(patient=other_patient, source="patient")
    client.force_login(patient_user)

    for name in ("portal:report-detail", "portal:report-correct"):
        assert client.get(reverse(name, kwargs={"report": theirs.uuid})).status_code == 404


def test_public_pages_need_no_login(client, settings):
    settings.REGISTRY_SELF_REGISTRATION = True

    assert client.get(reverse("portal:invitation-renew")).status_code == 200
    assert client.get(reverse("portal:register")).status_code == 200
    # An unknown invitation link says so, to anyone (docs/accounts.md).
    assert client.get(reverse("portal:invitation-accept", kwargs={"token": "not-a-token"})).status_code == 404
