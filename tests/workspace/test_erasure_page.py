"""Erasure on request from the staff workspace, confirmed twice (docs/consent.md, "Erasure")."""

import pytest
from django.urls import reverse

from patients.models import Patient, PatientIdentity
from registry.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def _url(patient):
    return reverse("workspace:patient-erasure", kwargs={"patient": patient.uuid})


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def patient():
    patient = factories.PatientFactory(status="enrolled")
    factories.AssessmentFactory(patient=patient, comment="Her neighbour Ruth drove her in.")
    return patient


def test_the_page_says_what_goes_and_what_stays_before_anything_changes(staff, patient, settings):
    settings.REGISTRY_ERASURE_POLICY = "deidentify"

    response = staff.get(_url(patient))

    assert response.status_code == 200
    page = response.content.decode()
    assert "What will be removed" in page and "de-identified clinical data" in page
    assert response.context["token"]
    assert PatientIdentity.objects.get(patient=patient).family_name  # nothing changed yet


def test_typing_the_registry_id_erases_under_deidentify(staff, staff_user, patient, settings):
    settings.REGISTRY_ERASURE_POLICY = "deidentify"
    token = staff.get(_url(patient)).context["token"]

    response = staff.post(_url(patient), {"token": token, "registry_id": str(patient.uuid)})

    assert response.status_code == 302 and response["Location"] == reverse(
        "workspace:patient", kwargs={"patient": patient.uuid}
    )
    patient.refresh_from_db()
    assert patient.erased_at is not None
    assert PatientIdentity.objects.get(patient=patient).family_name == ""
    assert patient.assessments.get().comment == ""
    event = AuditEvent.objects.get(kind="erasure")
    assert (event.user, event.via, event.target_id, event.detail) == (
        staff_user,
        "page",
        str(patient.uuid),
        {"policy": "deidentify"},
    )


def test_under_erase_nothing_of_the_record_is_left(staff, patient, settings):
    settings.REGISTRY_ERASURE_POLICY = "erase"
    token = staff.get(_url(patient)).context["token"]

    response = staff.post(_url(patient), {"token": token, "registry_id": str(patient.uuid).upper()})

    assert response.status_code == 302 and response["Location"] == reverse("workspace:find")
    assert not Patient.objects.filter(pk=patient.pk).exists()


def test_a_wrong_registry_id_or_a_forged_confirmation_changes_nothing(staff, patient):
    token = staff.get(_url(patient)).context["token"]

    wrong_id = staff.post(_url(patient), {"token": token, "registry_id": "not-the-id"})
    forged = staff.post(_url(patient), {"token": token + "x", "registry_id": str(patient.uuid)})

    assert wrong_id.status_code == 400
    assert wrong_id.context["form"].errors["registry_id"] == [
        "This is not the registry id of the patient being erased."
    ]
    assert 'value="not-the-id"' in wrong_id.content.decode()  # what was typed is kept
    assert forged.status_code == 400
    assert forged.context["form"].non_field_errors() == ["This is not a confirmation issued by the registry."]
    patient.refresh_from_db()
    assert patient.erased_at is None and not AuditEvent.objects.filter(kind="erasure").exists()


def test_another_members_confirmation_is_refused(client, staff, patient, db):
    token = staff.get(_url(patient)).context["token"]
    colleague = factories.UserFactory(username="staff.other")
    colleague.groups.add(*staff.get(_url(patient)).wsgi_request.user.groups.all())
    client.force_login(colleague)

    response = client.post(_url(patient), {"token": token, "registry_id": str(patient.uuid)})

    assert response.status_code == 400
    patient.refresh_from_db()
    assert patient.erased_at is None


def test_an_erased_patient_is_not_erased_twice(staff, patient, settings):
    settings.REGISTRY_ERASURE_POLICY = "deidentify"
    token = staff.get(_url(patient)).context["token"]
    staff.post(_url(patient), {"token": token, "registry_id": str(patient.uuid)})

    again = staff.get(_url(patient))

    assert again.status_code == 302
    assert AuditEvent.objects.filter(kind="erasure").count() == 1
