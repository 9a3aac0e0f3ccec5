"""Idempotency-Key on creates: a retried request returns the first result instead of a duplicate."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from assessments.models import Assessment
from patients.models import Patient
from registry.models import IdempotencyKey
from tests import factories

ASSESSMENTS = "/api/v1/assessments/"


def assessment_body(patient, falls=1) -> dict:
    return {
        "patient": str(patient.uuid),
        "assessment_date": "2021-06-01",
        "source": "patient",
        "falls_count": falls,
        "grip_left_kg": 12.5,
    }


@pytest.mark.django_db
def test_the_same_key_and_body_replay_the_first_response(staff_client):
    patient = factories.PatientFactory()

    first = staff_client.post(ASSESSMENTS, assessment_body(patient), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = staff_client.post(ASSESSMENTS, assessment_body(patient), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["ETag"] == first["ETag"]
    assert again["Idempotent-Replayed"] == "true"
    assert Assessment.objects.filter(patient=patient).count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422_and_creates_nothing(staff_client):
    patient = factories.PatientFactory()
    staff_client.post(ASSESSMENTS, assessment_body(patient), format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    response = staff_client.post(
        ASSESSMENTS, assessment_body(patient, falls=5), format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert list(Assessment.objects.filter(patient=patient).values_list("falls_count", flat=True)) == [1]


@pytest.mark.django_db
def test_a_failed_request_does_not_use_up_its_key(staff_client):
    patient = factories.PatientFactory()
    invalid = assessment_body(patient) | {"falls_count": -1}

    refused = staff_client.post(ASSESSMENTS, invalid, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    corrected = staff_client.post(ASSESSMENTS, assessment_body(patient), format="json", HTTP_IDEMPOTENCY_KEY="k-3")

    assert (refused.status_code, corrected.status_code) == (400, 201)
    assert Assessment.objects.filter(patient=patient).count() == 1


@pytest.mark.django_db
def test_keys_belong_to_one_user(staff_client, staff_user):
    other_staff = APIClient()
    other_staff.force_authenticate(factories.UserFactory(username="staff.two", is_superuser=True))
    patient = factories.PatientFactory()

    for client in (staff_client, other_staff):
        response = client.post(ASSESSMENTS, assessment_body(patient), format="json", HTTP_IDEMPOTENCY_KEY="shared")
        assert response.status_code == 201

    assert Assessment.objects.filter(patient=patient).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_a_malformed_key_is_a_field_error(staff_client, key):
    patient = factories.PatientFactory()

    response = staff_client.post(ASSESSMENTS, assessment_body(patient), format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert not Assessment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/patients/", {"sex": "female", "country": "IL"}),
        ("/api/v1/treatments/", {"kind": "sialic_acid", "start_date": "2020"}),
        ("/api/v1/milestones/", {"kind": "cane", "date": "2015"}),
        ("/api/v1/diagnoses/", {"genetically_confirmed": True, "onset_date": "2005"}),
        ("/api/v1/genotypes/", {"allele1": "M712T", "allele2": "M712T"}),
    ],
)
def test_every_create_honours_the_key(staff_client, path, body):
    patient = factories.PatientFactory()
    if path != "/api/v1/patients/":
        body = body | {"patient": str(patient.uuid)}
    before = Patient.objects.count()

    responses = [staff_client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="same") for _ in range(3)]

    assert [r.status_code for r in responses] == [201, 201, 201], responses[0].content
    assert len({r.json()["id"] for r in responses}) == 1
    assert IdempotencyKey.objects.count() == 1
    if path == "/api/v1/patients/":
        assert Patient.objects.count() == before + 1


@pytest.mark.django_db
def test_a_status_change_replayed_is_recorded_once(staff_client):
    patient = factories.PatientFactory()
    body = {"status": "enrolled", "effective_date": "2020-01-01"}

    for _ in range(2):
        response = staff_client.post(
            f"/api/v1/patients/{patient.uuid}/status/", body, format="json", HTTP_IDEMPOTENCY_KEY="enrol"
        )
        assert response.status_code == 201

    assert patient.enrollment_events.count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_retries_create_one_row(staff_user):
    patient = factories.PatientFactory()
    body = assessment_body(patient)
    statuses, ids = [], []
    start = threading.Barrier(20)

    def send():
        client = APIClient()
        client.force_authenticate(staff_user)
        try:
            start.wait()
            response = client.post(ASSESSMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="parallel")
            statuses.append(response.status_code)
            ids.append(response.json().get("id"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [201] * 20
    assert len(set(ids)) == 1
    assert Assessment.objects.filter(patient=patient).count() == 1


@pytest.mark.django_db(transaction=True)
def test_without_a_key_parallel_posts_are_separate_creates(staff_user):
    """The control for the test above: the key, not chance, is what keeps the rows to one."""
    patient = factories.PatientFactory()
    body = assessment_body(patient)

    def send():
        client = APIClient()
        client.force_authenticate(staff_user)
        try:
            client.post(ASSESSMENTS, body, format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Assessment.objects.filter(patient=patient).count() == 5


@pytest.mark.django_db
def test_expired_keys_are_purged_by_the_daily_task_and_can_be_used_again(staff_client, staff_user, settings):
    from celery import current_app

    from registry.tasks import purge_idempotency_keys

    patient = factories.PatientFactory()
    staff_client.post(ASSESSMENTS, assessment_body(patient), format="json", HTTP_IDEMPOTENCY_KEY="old")
    staff_client.post(ASSESSMENTS, assessment_body(patient, falls=2), format="json", HTTP_IDEMPOTENCY_KEY="fresh")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - dt.timedelta(hours=25))

    assert purge_idempotency_keys.delay().get() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    reused = staff_client.post(
        ASSESSMENTS, assessment_body(patient, falls=3), format="json", HTTP_IDEMPOTENCY_KEY="old"
    )
    assert reused.status_code == 201
    schedule = current_app.conf.beat_schedule["purge-idempotency-keys"]
    assert schedule["task"] == purge_idempotency_keys.name
