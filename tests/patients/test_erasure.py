"""Erasure on request (docs/consent.md, "Erasure"): confirmed twice, done by the policy in force,
logged without the erased data, and leaving none of it in the audit trail."""

import datetime as dt
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from assessments.models import Assessment, DynamometryMeasurement, Milestone
from assessments.services import assessment_create
from patients import erasure
from patients.models import (
    ConsentDocument,
    ConsentGrant,
    Diagnosis,
    EnrollmentEvent,
    Genotype,
    Patient,
    PatientIdentity,
    Treatment,
)
from patients.services import consent_grant, patient_change_status, patient_update
from portal.models import FollowUpReminder, Invitation, ReportDraft
from registry.audit import audit_log
from registry.dates import today
from registry.history import history_models
from registry.models import AuditEvent, IdempotencyKey
from research.cohort import cohort_clean, cohort_patient_ids
from tests.factories import DiagnosisFactory, GenotypeFactory, PatientFactory

pytestmark = pytest.mark.django_db

# What identifies the patient of the scene; none of it may be found anywhere after an erasure.
NAMES = ("Aurelia", "Quennell", "Q-Formerly", "aurelia.quennell@example.org", "+44 20 7946 0991", "NHS-4471", "AQ-987")


@pytest.fixture
def staff(staff_user):
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def scene(patient_user, staff_user):
    """A patient with identity, a login, every kind of clinical record, free text, portal records,
    consents, a history of identity changes, and a stored API response naming them."""
    patient_user.username, patient_user.email = "aurelia.quennell@example.org", "aurelia.quennell@example.org"
    patient_user.save()
    patient = PatientFactory(
        account=patient_user,
        time_zone="Europe/London",
        identity__given_name="Aurelia",
        identity__family_name="Q-Formerly",
        identity__email="aurelia.quennell@example.org",
        identity__phone="+44 20 7946 0991",
        identity__national_id="NHS-4471",
        identity__hospital_id="AQ-987",
    )
    # A change of name, so that the old one is only in the history.
    patient_update(patient=patient, expected_version=1, data={}, identity={"family_name": "Quennell"})
    patient_change_status(
        patient=patient, status="enrolled", effective_date=dt.date(2019, 1, 1), reason="Referred by Dr Quennell"
    )
    DiagnosisFactory(patient=patient)
    GenotypeFactory(patient=patient)
    Treatment.objects.create(patient=patient, kind="sialic_acid", start_date="2019-01-01", start_date_precision="year")
    assessment_create(
        patient=patient,
        data={"assessment_date": dt.date(2020, 3, 1), "source": "clinician", "ambulation_class": 2},
        dynamometry=[{"muscle_group": "hip_flexion", "side": "left", "kg": 12}],
    )
    assessment_create(
        patient=patient,
        data={
            "assessment_date": dt.date(2021, 3, 1),
            "source": "patient",
            "ambulation_class": 3,
            "comment": "Aurelia Quennell fell at her sister's in Leeds",
        },
    )
    document = ConsentDocument.objects.create(
        code="registry-consent",
        version="1",
        title="Consent",
        effective_from=dt.date(2018, 1, 1),
        purposes=["research", "recontact"],
    )
    consent_grant(
        patient=patient, document=document, purposes=["research", "recontact"], granted_on=dt.date(2019, 1, 1)
    )
    Invitation.objects.create(
        patient=patient, email="aurelia.quennell@example.org", token_hash="0" * 64, expires_at=timezone.now()
    )
    FollowUpReminder.objects.create(patient=patient, due_on=dt.date(2024, 1, 1), email="aurelia.quennell@example.org")
    ReportDraft.objects.create(patient=patient, step="falls", data={"comment": "Aurelia again"})
    IdempotencyKey.objects.create(
        user=staff_user,
        key="create-aurelia",
        fingerprint="f" * 64,
        response_status=201,
        response_body={"id": str(patient.uuid), "identity": {"given_name": "Aurelia"}},
    )
    audit_log("login", user=patient_user, via="page")
    audit_log("login_failed", username="aurelia.quennell@example.org", via="page")
    patient.refresh_from_db()
    return patient


def _erase(client, patient, registry_id=None):
    url = f"/api/v1/patients/{patient.uuid}/erasure/"
    first = client.post(url, {}, format="json")
    assert first.status_code == 202, first.json()
    token = first.json()["token"]
    return first, client.post(url, {"token": token, "registry_id": registry_id or str(patient.uuid)}, format="json")


def _everything_stored() -> str:
    """Every row of the audit trail, events included, as text."""
    rows = [list(model.objects.values()) for model in history_models()]
    rows.append(list(AuditEvent.objects.values()))
    rows.append(list(IdempotencyKey.objects.values()))
    return json.dumps(rows, default=str)


def _research_cohort() -> list[int]:
    return cohort_patient_ids(cohort_clean({}), on=today())


def test_deidentify_removes_identity_and_keeps_the_clinical_data(staff, staff_user, scene, settings):
    settings.REGISTRY_ERASURE_POLICY = "deidentify"
    account = scene.account
    assert scene.pk in _research_cohort()
    assert all(name in _everything_stored() for name in ("Q-Formerly", "Aurelia Quennell fell"))

    first, second = _erase(staff, scene)

    assert first.json()["policy"] == "deidentify"
    assert any("identity" in line for line in first.json()["removes"])
    assert any("de-identified clinical data" in line for line in first.json()["keeps"])
    assert second.status_code == 200, second.json()
    assert second.json() == {"patient": str(scene.uuid), "policy": "deidentify"}

    patient = Patient.objects.get(pk=scene.pk)
    identity = PatientIdentity.objects.get(patient=patient)
    assert [getattr(identity, name) for name in ("given_name", "family_name", "email", "phone", "national_id")] == [
        ""
    ] * 5
    assert (identity.date_of_birth, identity.date_of_death) == (None, None)
    assert patient.erased_at is not None and patient.account is None and patient.time_zone == ""
    account.refresh_from_db()
    assert (account.is_active, account.email, account.has_usable_password()) == (False, "", False)
    assert account.username == f"erased-{account.pk}"
    # The clinical data stays, de-identified.
    assert Diagnosis.objects.filter(patient=patient).exists() and Genotype.objects.filter(patient=patient).exists()
    assert Treatment.objects.filter(patient=patient).count() == 1
    assert sorted(Assessment.objects.filter(patient=patient).values_list("comment", flat=True)) == ["", ""]
    assert DynamometryMeasurement.objects.filter(assessment__patient=patient).count() == 1
    assert Milestone.objects.filter(patient=patient, source="derived").exists()
    assert [e.reason for e in EnrollmentEvent.objects.filter(patient=patient)] == [""]
    # Nobody may use it or reach the person any more.
    assert set(ConsentGrant.objects.filter(patient=patient).values_list("withdrawn_on", flat=True)) == {today()}
    assert not Invitation.objects.exists() and not FollowUpReminder.objects.exists()
    assert not ReportDraft.objects.exists()
    assert patient.pk not in _research_cohort()
    # Not a trace of the identity or the free text, in the history, the events or the stored responses.
    stored = _everything_stored()
    assert not [name for name in NAMES if name in stored]
    assert "Referred by" not in stored and "Leeds" not in stored and "Europe/London" not in stored
    assert not PatientIdentity.history.filter(patient_id=patient.pk).exists()
    assert Assessment.history.filter(patient_id=patient.pk).count() >= 2  # the clinical trail is kept
    shown = staff.get(f"/api/v1/patients/{patient.uuid}/").json()
    assert shown["erased_at"] is not None and shown["identity"]["family_name"] == ""
    event = AuditEvent.objects.get(kind="erasure")
    assert (event.user, event.target_type, event.target_id, event.detail) == (
        staff_user,
        "patients.patient",
        str(patient.uuid),
        {"policy": "deidentify"},
    )


def test_erase_deletes_the_patient_and_every_record_and_its_history(staff, staff_user, scene, settings):
    settings.REGISTRY_ERASURE_POLICY = "erase"
    patient_id, uuid, account = scene.pk, scene.uuid, scene.account

    first, second = _erase(staff, scene)

    assert first.json()["policy"] == "erase"
    assert second.status_code == 200, second.json()
    assert second.json() == {"patient": str(uuid), "policy": "erase"}
    assert not Patient.objects.filter(pk=patient_id).exists()
    for model in (PatientIdentity, Diagnosis, Genotype, Treatment, Assessment, Milestone, ConsentGrant):
        assert not model.objects.filter(patient_id=patient_id).exists(), model
    assert not DynamometryMeasurement.objects.exists()
    for history in history_models():  # every audited record of the patient, deleted ones included
        instance = history.instance_type
        if instance is Patient:
            assert not history.objects.filter(id=patient_id).exists()
        elif any(f.name == "patient" for f in history._meta.concrete_fields):
            assert not history.objects.filter(patient_id=patient_id).exists(), history
    assert not DynamometryMeasurement.history.exists()  # reached through the deleted assessments
    account.refresh_from_db()
    assert (account.is_active, account.email) == (False, "")
    stored = _everything_stored()
    assert not [name for name in NAMES if name in stored]
    assert "Leeds" not in stored
    event = AuditEvent.objects.get(kind="erasure")
    assert (event.user, event.target_id, event.detail) == (staff_user, str(uuid), {"policy": "erase"})
    assert ConsentDocument.objects.count() == 1  # reference data is not the patient's


def _nothing_changed(patient):
    patient.refresh_from_db()
    assert patient.erased_at is None and patient.account is not None
    assert PatientIdentity.objects.get(patient=patient).family_name == "Quennell"
    assert PatientIdentity.history.filter(patient_id=patient.pk, family_name="Q-Formerly").exists()
    assert not AuditEvent.objects.filter(kind="erasure").exists()


@pytest.mark.parametrize(
    "confirmation",
    [
        {"token": "not-a-token", "registry_id": "{uuid}"},
        {"token": "{token}", "registry_id": "00000000-0000-0000-0000-000000000000"},  # another id typed
        {"token": "{token}", "registry_id": ""},
        {"token": "{token}"},
        {"token": "{token}x", "registry_id": "{uuid}"},  # tampered with
        {"token": "{other_token}", "registry_id": "{uuid}"},  # issued for another patient
    ],
)
def test_a_wrong_confirmation_is_refused_and_nothing_changes(staff, scene, confirmation):
    url = f"/api/v1/patients/{scene.uuid}/erasure/"
    token = staff.post(url, {}, format="json").json()["token"]
    other = PatientFactory()
    other_token = staff.post(f"/api/v1/patients/{other.uuid}/erasure/", {}, format="json").json()["token"]
    body = {
        key: value.format(token=token, other_token=other_token, uuid=scene.uuid) for key, value in confirmation.items()
    }

    response = staff.post(url, body, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) & {"token", "registry_id"}
    _nothing_changed(scene)


def test_an_expired_confirmation_is_refused(staff, scene, monkeypatch):
    url = f"/api/v1/patients/{scene.uuid}/erasure/"
    token = staff.post(url, {}, format="json").json()["token"]
    monkeypatch.setattr(erasure, "CONFIRMATION_MAX_AGE", dt.timedelta(seconds=-1))

    response = staff.post(url, {"token": token, "registry_id": str(scene.uuid)}, format="json")

    assert response.status_code == 400
    assert "expired" in response.json()["error"]["fields"]["token"][0]
    _nothing_changed(scene)


def test_a_confirmation_is_for_the_staff_member_who_asked(staff, scene, db):
    from tests.conftest import _user_with_role

    colleague = APIClient()
    colleague.force_login(_user_with_role("staff.kim", "staff"))
    url = f"/api/v1/patients/{scene.uuid}/erasure/"
    token = staff.post(url, {}, format="json").json()["token"]

    response = colleague.post(url, {"token": token, "registry_id": str(scene.uuid)}, format="json")

    assert response.status_code == 400
    _nothing_changed(scene)


def test_a_confirmation_from_before_a_policy_change_is_refused(staff, scene, settings):
    url = f"/api/v1/patients/{scene.uuid}/erasure/"
    token = staff.post(url, {}, format="json").json()["token"]  # shown what "deidentify" removes
    settings.REGISTRY_ERASURE_POLICY = "erase"

    response = staff.post(url, {"token": token, "registry_id": str(scene.uuid)}, format="json")

    assert response.status_code == 400
    _nothing_changed(scene)


def test_the_first_step_changes_nothing_and_an_erased_patient_cannot_be_erased_again(staff, scene):
    url = f"/api/v1/patients/{scene.uuid}/erasure/"
    staff.post(url, {}, format="json")
    _nothing_changed(scene)

    _erase(staff, scene)
    again = staff.post(url, {}, format="json")

    assert again.status_code == 400
    assert "already erased" in again.json()["error"]["fields"]["patient"][0]
    assert AuditEvent.objects.filter(kind="erasure").count() == 1


def test_no_consent_can_be_recorded_for_an_erased_patient(staff, scene):
    _erase(staff, scene)
    document = ConsentDocument.objects.get()

    response = staff.post(
        "/api/v1/consents/",
        {"patient": str(scene.uuid), "document": document.pk, "purposes": ["research"], "granted_on": "2024-01-01"},
        format="json",
    )

    assert response.status_code == 400
    assert "erased" in response.json()["error"]["fields"]["patient"][0]


@pytest.mark.parametrize("role", ["patient", "researcher", "anonymous"])
def test_only_staff_erase(scene, patient_user, researcher_user, role):
    client = APIClient()
    user = {"patient": patient_user, "researcher": researcher_user, "anonymous": None}[role]
    if user:
        client.force_login(user)

    response = client.post(f"/api/v1/patients/{scene.uuid}/erasure/", {}, format="json")

    assert response.status_code == {"patient": 403, "researcher": 403, "anonymous": 401}[role]
    _nothing_changed(scene)
