"""Patients' own reports through /api/v1/assessments/ (docs/patient-reports.md, "The API"): a patient
sends reports for their own record and corrects them within the window; nothing else. Staff keep
doing everything, as before."""

import datetime as dt
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from assessments.models import Assessment, Milestone, Source
from tests import factories

pytestmark = pytest.mark.django_db

ASSESSMENTS = "/api/v1/assessments/"
WINDOW = dt.timedelta(days=settings.REGISTRY_REPORT_CORRECTION_DAYS)


def body(patient, **fields) -> dict:
    return {"patient": str(patient.uuid), "assessment_date": "2024-03-01", "falls_count": 2} | fields


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["status"] == status
    return error


@pytest.fixture
def own_report(own_patient, patient_user):
    return factories.AssessmentFactory(patient=own_patient, source=Source.PATIENT, entered_by=patient_user)


def patch(client, assessment, version=1, **fields):
    return client.patch(f"{ASSESSMENTS}{assessment.uuid}/", fields, format="json", HTTP_IF_MATCH=f'"{version}"')


def _age(assessment, *, by: dt.timedelta) -> None:
    Assessment.objects.filter(pk=assessment.pk).update(created_at=timezone.now() - by)


# --- Sending -----------------------------------------------------------------------------------------


def test_a_patient_sends_a_report_for_their_own_record(patient_client, own_patient, patient_user):
    response = patient_client.post(
        ASSESSMENTS,
        body(own_patient, devices=["cane"], treatments_taken=["mannac"], comment="Stairs are harder."),
        format="json",
    )

    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["patient"], data["source"], data["treatments_taken"]) == (str(own_patient.uuid), "patient", ["mannac"])
    stored = Assessment.objects.get(uuid=data["id"])
    assert (stored.patient, stored.source, stored.entered_by) == (own_patient, Source.PATIENT, patient_user)
    assert (stored.falls_count, stored.devices, stored.comment) == (2, ["cane"], "Stairs are harder.")
    assert response["ETag"] == '"1"'


def test_another_patients_record_is_unknown_to_a_patient(patient_client, other_patient):
    error = error_of(patient_client.post(ASSESSMENTS, body(other_patient), format="json"), 400)

    assert error["fields"] == {"patient": [f"No record with id {other_patient.uuid}."]}
    assert not Assessment.objects.exists()


def test_fields_a_patient_does_not_report_are_refused_by_name(patient_client, own_patient):
    response = patient_client.post(
        ASSESSMENTS,
        body(own_patient, source="clinician", six_minute_walk_m=300, dynamometry=[], ibmfrs_total=40),
        format="json",
    )

    error = error_of(response, 400)
    assert set(error["fields"]) == {"source", "six_minute_walk_m", "dynamometry", "ibmfrs_total"}
    assert error["fields"]["six_minute_walk_m"] == ["Patients do not report this; the registry team records it."]
    assert not Assessment.objects.exists()


@pytest.mark.parametrize(
    "odd",
    [
        {"falls_count": "many"},
        {"falls_count": -1},
        {"treatments_taken": "mannac"},
        {"treatments_taken": ["mannac", "mannac"]},
        {"treatments_taken": ["homeopathy"]},
        {"comment": "x" * 2001},
        {"comment": ["not", "text"]},
        {"ambulation_class": 9},
        {"ibmfrs_walking": 5},
        {"assessment_date": "yesterday"},
        {"assessment_date": None},
    ],
)
def test_odd_input_is_a_field_error_never_a_server_error(patient_client, own_patient, odd):
    error = error_of(patient_client.post(ASSESSMENTS, body(own_patient, **odd), format="json"), 400)

    # A list's item is named by its path ("treatments_taken.0").
    assert {path.split(".")[0] for path in error["fields"]} == set(odd)
    assert not Assessment.objects.exists()


def test_a_patients_report_obeys_the_assessment_rules(patient_client, own_patient):
    error = error_of(patient_client.post(ASSESSMENTS, body(own_patient, injurious_falls_count=3), format="json"), 400)

    assert set(error["fields"]) == {"injurious_falls_count"}


def test_a_retried_report_is_not_stored_twice(patient_client, own_patient):
    first, retried = (
        patient_client.post(ASSESSMENTS, body(own_patient), format="json", HTTP_IDEMPOTENCY_KEY="report-1")
        for _ in range(2)
    )

    assert (first.status_code, retried.status_code) == (201, 201)
    assert retried["Idempotent-Replayed"] == "true"
    assert Assessment.objects.count() == 1


def test_a_patient_in_tokyo_sends_their_today_early_in_the_morning(patient_client, own_patient):
    own_patient.time_zone = "Asia/Tokyo"
    own_patient.save()
    late_evening_utc = dt.datetime(2024, 5, 9, 22, 30, tzinfo=dt.UTC)  # 07:30 on 10 May in Tokyo

    with mock.patch("django.utils.timezone.now", return_value=late_evening_utc):
        response = patient_client.post(ASSESSMENTS, body(own_patient, assessment_date="2024-05-10"), format="json")

    assert response.status_code == 201, response.content


# --- Correcting ----------------------------------------------------------------------------------


def test_a_patient_corrects_their_own_report_within_the_window(patient_client, own_report):
    _age(own_report, by=WINDOW - dt.timedelta(minutes=1))

    response = patch(patient_client, own_report, falls_count=0, comment="I miscounted.")

    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"'
    own_report.refresh_from_db()
    assert (own_report.falls_count, own_report.comment, own_report.source) == (0, "I miscounted.", Source.PATIENT)


def test_after_the_window_corrections_go_through_the_registry_team(patient_client, own_report):
    _age(own_report, by=WINDOW + dt.timedelta(minutes=1))

    error = error_of(patch(patient_client, own_report, falls_count=0), 403)

    assert error["code"] == "permission_denied"
    assert "now go through the registry team" in error["message"]
    own_report.refresh_from_db()
    assert (own_report.falls_count, own_report.version) == (2, 1)


def test_a_patient_cannot_correct_an_assessment_the_registry_team_entered(patient_client, own_patient):
    clinicians = factories.AssessmentFactory(patient=own_patient, source=Source.CLINICIAN)

    error = error_of(patch(patient_client, clinicians, falls_count=0), 403)

    assert "entered by the registry team" in error["message"]


def test_another_patients_report_is_not_found(patient_client, other_patient):
    theirs = factories.AssessmentFactory(patient=other_patient, source=Source.PATIENT)

    error_of(patch(patient_client, theirs, falls_count=0), 404)
    theirs.refresh_from_db()
    assert theirs.version == 1


def test_a_correction_needs_the_version_it_started_from(patient_client, own_report):
    patch(patient_client, own_report, falls_count=1)

    stale = patch(patient_client, own_report, version=1, falls_count=5)
    missing = patient_client.patch(f"{ASSESSMENTS}{own_report.uuid}/", {"falls_count": 5}, format="json")

    error_of(stale, 412)
    error_of(missing, 428)
    own_report.refresh_from_db()
    assert (own_report.falls_count, own_report.version) == (1, 2)


def test_a_correction_may_not_reach_beyond_the_report_fields(patient_client, own_report):
    error = error_of(patch(patient_client, own_report, six_minute_walk_m=100, manual_muscle_tests=[]), 400)

    assert set(error["fields"]) == {"six_minute_walk_m", "manual_muscle_tests"}


def test_a_full_replacement_by_put_works_as_for_staff(patient_client, own_report):
    response = patient_client.put(
        f"{ASSESSMENTS}{own_report.uuid}/",
        {"assessment_date": "2020-03-02", "falls_count": 0},
        format="json",
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 200, response.content
    own_report.refresh_from_db()
    assert (own_report.assessment_date, own_report.falls_count) == (dt.date(2020, 3, 2), 0)


# --- Still refused ------------------------------------------------------------------------------------


def test_a_patient_deletes_nothing(patient_client, own_report):
    error = error_of(patient_client.delete(f"{ASSESSMENTS}{own_report.uuid}/", HTTP_IF_MATCH='"1"'), 403)

    assert error["code"] == "permission_denied"
    assert Assessment.objects.filter(pk=own_report.pk).exists()


def test_milestones_stay_read_only_for_a_patient(patient_client, own_patient):
    response = patient_client.post(
        "/api/v1/milestones/", {"patient": str(own_patient.uuid), "kind": "cane", "date": "2016"}, format="json"
    )

    error_of(response, 403)
    assert not Milestone.objects.exists()


@pytest.mark.parametrize("role", ["researcher", "anonymous"])
def test_other_roles_send_no_reports(persona_clients, own_patient, role):
    response = persona_clients[role].post(ASSESSMENTS, body(own_patient), format="json")

    error_of(response, 403 if role == "researcher" else 401)
    assert not Assessment.objects.exists()


# --- Staff, unchanged ----------------------------------------------------------------------------


def test_staff_record_any_field_and_correct_after_the_window(staff_client, own_patient, own_report):
    _age(own_report, by=WINDOW * 10)

    created = staff_client.post(
        ASSESSMENTS,
        body(own_patient, source="clinician", six_minute_walk_m=350, treatments_taken=["sialic_acid"]),
        format="json",
    )
    corrected = patch(staff_client, own_report, falls_count=7, six_minute_walk_m=200)

    assert (created.status_code, corrected.status_code) == (201, 200), (created.content, corrected.content)
    assert created.json()["source"] == "clinician"
    own_report.refresh_from_db()
    assert (own_report.falls_count, own_report.six_minute_walk_m, own_report.source) == (7, 200, Source.PATIENT)


def test_staff_still_need_a_source(staff_client, own_patient):
    error = error_of(staff_client.post(ASSESSMENTS, body(own_patient), format="json"), 400)

    assert set(error["fields"]) == {"source"}


def test_the_schema_describes_the_new_fields_and_the_patient_rule(client):
    schema = client.get("/api/schema/?format=json").json()

    components = schema["components"]["schemas"]
    output = components["AssessmentOutput"]["properties"]
    treatment_kinds = components[output["treatments_taken"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert treatment_kinds["enum"] == ["sialic_acid", "sialic_acid_er", "mannac", "investigational", "other"]
    assert output["comment"]["maxLength"] == 2000
    create = schema["paths"]["/api/v1/assessments/"]["post"]
    assert "A patient sends a report for their own patient record only" in create["description"]
    assert "403" in schema["paths"]["/api/v1/assessments/{id}/"]["patch"]["responses"]
