"""A form opened on an older version of its record (docs/workspace.md, "Someone else changed this
record"): nothing is overwritten unawares, nothing typed is lost, both versions are shown, and a
second send applies what was typed on purpose. A record deleted meanwhile says so."""

import datetime as dt

import pytest
from django.urls import reverse

from assessments import services as assessment_services
from assessments.models import Assessment
from patients import services as patient_services
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def visit():
    patient = factories.PatientFactory(status="enrolled")
    return assessment_services.assessment_create(
        patient=patient,
        data={"assessment_date": dt.date(2021, 5, 4), "source": "clinician", "falls_count": 2, "comment": "First"},
    )


def _someone_else_changes(visit, **data):
    return assessment_services.assessment_update(assessment=visit, expected_version=visit.version, data=data)


def _typed(version, **values):
    data = {"version": str(version), "assessment_date": "2021-05-04", "source": "clinician", "comment": "First"}
    return data | values


def test_a_stale_visit_form_shows_both_versions_and_keeps_what_was_typed(staff, visit):
    _someone_else_changes(visit, falls_count=7)
    url = reverse("workspace:assessment-edit", kwargs={"record": visit.uuid})

    response = staff.post(url, _typed(1, falls_count="3", comment="Typed by me"))

    assert response.status_code == 409
    page = response.content.decode()
    assert "Someone else changed this record since you opened it" in page
    comparison = {row["label"]: (row["saved"], row["typed"]) for row in response.context["comparison"]}
    assert comparison["Falls"] == ("7", "3")
    assert comparison["Comment"] == ("First", "Typed by me")
    assert "Date of the visit" not in comparison  # unchanged fields are not listed
    # What was typed is in the form, which now carries the version saved meanwhile.
    assert 'value="3"' in page and "Typed by me" in page
    assert 'name="version" value="2"' in page
    visit.refresh_from_db()
    assert (visit.version, visit.falls_count, visit.comment) == (2, 7, "First")


def test_sending_the_stale_form_again_applies_what_was_typed(staff, visit):
    _someone_else_changes(visit, falls_count=7)
    url = reverse("workspace:assessment-edit", kwargs={"record": visit.uuid})
    again = staff.post(url, _typed(1, falls_count="3")).context["form"].data

    response = staff.post(url, again)

    assert response.status_code == 302
    visit.refresh_from_db()
    assert (visit.version, visit.falls_count) == (3, 3)


def test_a_stale_form_with_a_mistake_still_shows_both_versions(staff, visit):
    """The version check comes first: the person sees the other change before fixing their own."""
    _someone_else_changes(visit, falls_count=7)

    response = staff.post(
        reverse("workspace:assessment-edit", kwargs={"record": visit.uuid}),
        _typed(1, falls_count="1", injurious_falls_count="4"),
    )

    assert response.status_code == 409
    assert "Someone else changed this record" in response.content.decode()
    visit.refresh_from_db()
    assert visit.falls_count == 7


def test_a_stale_patient_form_shows_both_versions(staff):
    patient = factories.PatientFactory()
    patient_services.patient_update(patient=patient, expected_version=1, data={"sex": "male"})
    identity = patient.identity

    response = staff.post(
        reverse("workspace:patient-edit", kwargs={"patient": patient.uuid}),
        {
            "version": "1",
            "given_name": identity.given_name,
            "family_name": "Typed",
            "date_of_birth": "1980-06-15",
            "sex": "female",
            "country": "IL",
            "consanguinity": "unknown",
            "affected_relatives": "unknown",
            "email": identity.email,
            "phone": identity.phone,
            "national_id": identity.national_id,
        },
    )

    assert response.status_code == 409
    comparison = {row["label"]: (row["saved"], row["typed"]) for row in response.context["comparison"]}
    assert comparison["Sex"] == ("Male", "Female")
    assert comparison["Family name"] == (identity.family_name, "Typed")
    patient.refresh_from_db()
    assert (patient.version, patient.sex) == (2, "male")


def test_a_stale_diagnosis_form_shows_both_versions(staff):
    patient = factories.PatientFactory()
    diagnosis = patient_services.diagnosis_create(
        patient=patient, data={"onset_date": dt.date(2005, 1, 1), "onset_date_precision": "year"}
    )
    patient_services.diagnosis_update(diagnosis=diagnosis, expected_version=1, data={"ck_at_diagnosis": 900})

    response = staff.post(
        reverse("workspace:diagnosis-edit", kwargs={"patient": patient.uuid}),
        {"version": "1", "onset_date": "2005", "first_symptom": "unknown", "biopsy_done": "unknown",
         "rimmed_vacuoles": "unknown", "ck_at_diagnosis": "1500"},
    )  # fmt: skip

    assert response.status_code == 409
    comparison = {row["label"]: (row["saved"], row["typed"]) for row in response.context["comparison"]}
    assert comparison == {"CK at diagnosis (U/L)": ("900", "1500")}


def test_a_visit_deleted_while_its_form_was_open_says_so(staff, visit):
    url = reverse("workspace:assessment-edit", kwargs={"record": visit.uuid})
    assessment_services.assessment_delete(assessment=visit, expected_version=1)

    response = staff.post(url, _typed(1, falls_count="3") | {"patient": str(visit.patient.uuid)})

    assert response.status_code == 404
    page = response.content.decode()
    assert "This record no longer exists" in page
    assert reverse("workspace:patient", kwargs={"patient": visit.patient.uuid}) in page
    assert not Assessment.objects.filter(uuid=visit.uuid).exists()


def test_a_deleted_record_names_no_patient_the_member_may_not_see(client, site_staff_user, elsewhere_patient):
    client.force_login(site_staff_user)

    response = client.post(
        reverse("workspace:assessment-edit", kwargs={"record": "00000000-0000-0000-0000-000000000001"}),
        {"patient": str(elsewhere_patient.uuid)},
    )

    assert response.status_code == 404
    assert str(elsewhere_patient.uuid) not in response.content.decode()
