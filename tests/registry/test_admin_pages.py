"""Admin pages staff use to browse records: they render, and show clinical data read-only."""

import pytest

from tests.factories import AssessmentFactory, DiagnosisFactory, PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_browser(client, staff_user):
    staff_user.is_staff = True
    staff_user.save()
    client.force_login(staff_user)
    return client


def test_patient_page_shows_identity_and_history_without_edit_controls(staff_browser):
    patient = PatientFactory()
    DiagnosisFactory(patient=patient)

    page = staff_browser.get(f"/admin/patients/patient/{patient.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert patient.identity.family_name in html
    assert 'name="_save"' not in html  # read-only: no Save button


@pytest.mark.parametrize(
    "path",
    [
        "patients/patient",
        "patients/genotype",
        "assessments/assessment",
        "assessments/milestone",
        "patients/site",
        "patients/consentdocument",
    ],
)
def test_lists_render_for_staff(staff_browser, path):
    AssessmentFactory()
    assert staff_browser.get(f"/admin/{path}/").status_code == 200


def test_clinical_records_cannot_be_added_here_but_sites_can(staff_browser):
    assert staff_browser.get("/admin/assessments/assessment/add/").status_code == 403
    assert staff_browser.get("/admin/patients/site/add/").status_code == 200
