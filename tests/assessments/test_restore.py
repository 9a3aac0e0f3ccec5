"""Restoring an assessment deleted through the API (docs/consent.md, "Restoring a deleted assessment"):
the values and measurements it had when deleted, checked again by the rules, milestones derived again."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from assessments import services
from assessments.models import Assessment, DynamometryMeasurement, ManualMuscleTest, Milestone
from patients.services import patient_change_status
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(staff_user):
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def patient():
    return PatientFactory()  # born 1980-06-15


def _create(client, patient, **fields):
    body = {"patient": str(patient.uuid), "source": "clinician"} | fields
    response = client.post("/api/v1/assessments/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _delete(client, body):
    response = client.delete(f"/api/v1/assessments/{body['id']}/", HTTP_IF_MATCH=f'"{body["version"]}"')
    assert response.status_code == 204


def _derived(patient) -> dict[str, tuple]:
    return {
        m.kind: (m.lower_bound_date, m.date, m.censoring, m.derived_from_id)
        for m in Milestone.objects.filter(patient=patient, source="derived")
    }


def test_a_deleted_assessment_comes_back_with_its_measurements_and_milestones(staff, staff_user, patient):
    _create(staff, patient, assessment_date="2019-05-01", ambulation_class=0, wheelchair_use="none")
    walker = _create(
        staff,
        patient,
        assessment_date="2021-05-01",
        ambulation_class=3,
        wheelchair_use="none",
        comment="Uses a walker outdoors.",
        dynamometry=[{"muscle_group": "hip_flexion", "side": "left", "kg": 11.5}],
        manual_muscle_tests=[{"muscle": "hip_flexion", "side": "left", "grade": "4-"}],
    )
    stored = Assessment.objects.get(uuid=walker["id"])
    milestones_before = _derived(patient)
    assert set(milestones_before) == {"cane", "walker"}
    _delete(staff, walker)
    assert _derived(patient) == {}

    response = staff.post(f"/api/v1/assessments/{walker['id']}/restore/")

    assert response.status_code == 201, response.json()
    restored = Assessment.objects.get(uuid=walker["id"])
    assert (restored.assessment_date, restored.ambulation_class, restored.comment) == (
        dt.date(2021, 5, 1),
        3,
        "Uses a walker outdoors.",
    )
    assert (restored.version, restored.created_at, restored.entered_by) == (2, stored.created_at, staff_user)
    assert list(DynamometryMeasurement.objects.filter(assessment=restored).values_list("muscle_group", "kg")) == [
        ("hip_flexion", 11.5)
    ]
    assert list(ManualMuscleTest.objects.filter(assessment=restored).values_list("muscle", "grade")) == [
        ("hip_flexion", "4-")
    ]
    # The same milestones as before the deletion, derived from the restored assessment.
    assert _derived(patient) == {
        kind: (lower, date, censoring, restored.pk) for kind, (lower, date, censoring, _) in milestones_before.items()
    }
    body = response.json()
    assert (body["id"], body["version"], body["comment"]) == (walker["id"], 2, "Uses a walker outdoors.")
    assert response["ETag"] == '"2"'
    assert [row["kg"] for row in body["dynamometry"]] == [11.5]
    # The trail tells the restore from a new entry, and who did it.
    created = restored.history.filter(history_type="+").latest("history_date")
    assert (created.history_change_reason, created.history_user_id) == ("restored", staff_user.pk)


def test_the_measurements_restored_are_those_of_the_last_version(staff, patient):
    body = _create(
        staff,
        patient,
        assessment_date="2021-05-01",
        ambulation_class=1,
        dynamometry=[{"muscle_group": "hip_flexion", "side": "left", "kg": 10}],
    )
    changed = staff.patch(
        f"/api/v1/assessments/{body['id']}/",
        {"dynamometry": [{"muscle_group": "knee_extension", "side": "right", "kg": 20}], "falls_count": 3},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert changed.status_code == 200, changed.json()
    _delete(staff, changed.json())

    services.assessment_restore(assessment_uuid=body["id"], restored_by=None)

    restored = Assessment.objects.get(uuid=body["id"])
    assert (restored.falls_count, restored.version) == (3, 3)
    assert list(restored.dynamometry.values_list("muscle_group", "side", "kg")) == [("knee_extension", "right", 20)]


def test_what_no_longer_fits_the_record_is_not_restored(staff, patient):
    body = _create(staff, patient, assessment_date="2021-05-01", ambulation_class=1)
    _delete(staff, body)
    # Withdrawn since, from a day before the deleted visit: that visit is now out of bounds.
    patient_change_status(patient=patient, status="withdrawn", effective_date=dt.date(2021, 1, 1))

    response = staff.post(f"/api/v1/assessments/{body['id']}/restore/")

    assert response.status_code == 400
    assert "withdrew" in response.json()["error"]["fields"]["assessment_date"][0]
    assert not Assessment.objects.filter(uuid=body["id"]).exists()


def test_only_a_deleted_assessment_can_be_restored_and_only_once(staff, patient):
    body = _create(staff, patient, assessment_date="2021-05-01", ambulation_class=1)

    never_deleted = staff.post(f"/api/v1/assessments/{body['id']}/restore/")
    unknown = staff.post("/api/v1/assessments/00000000-0000-0000-0000-000000000000/restore/")
    _delete(staff, body)
    first = staff.post(f"/api/v1/assessments/{body['id']}/restore/")
    second = staff.post(f"/api/v1/assessments/{body['id']}/restore/")

    assert (never_deleted.status_code, unknown.status_code, first.status_code, second.status_code) == (
        400,
        404,
        201,
        400,
    )
    assert "restored already" in second.json()["error"]["fields"]["id"][0]
    assert Assessment.objects.filter(uuid=body["id"]).count() == 1


def test_a_restored_self_report_does_not_reopen_the_correction_window(staff, patient_user, own_patient):
    reporter = APIClient()
    reporter.force_login(patient_user)
    report = reporter.post(
        "/api/v1/assessments/",
        {"patient": str(own_patient.uuid), "assessment_date": "2021-05-01", "falls_count": 1},
        format="json",
    )
    assert report.status_code == 201, report.json()
    sent_at = Assessment.objects.get(uuid=report.json()["id"]).created_at
    Assessment.objects.filter(uuid=report.json()["id"]).update(created_at=sent_at - dt.timedelta(days=30))
    _delete(staff, report.json())

    staff.post(f"/api/v1/assessments/{report.json()['id']}/restore/")
    correction = reporter.patch(
        f"/api/v1/assessments/{report.json()['id']}/", {"falls_count": 2}, format="json", HTTP_IF_MATCH='"2"'
    )

    restored = Assessment.objects.get(uuid=report.json()["id"])
    assert (restored.source, restored.created_at) == ("patient", sent_at - dt.timedelta(days=30))
    assert correction.status_code == 403
