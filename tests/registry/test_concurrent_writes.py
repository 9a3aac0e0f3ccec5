"""Requests racing on one record: the loser gets a 404 or 412 in the error shape, never a 500.

Real threads on real PostgreSQL connections, so the row locks are the ones production takes.
"""

import datetime as dt
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from assessments.models import Assessment, Milestone
from patients.models import Treatment
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

TRIALS = 6


def make_record(resource: str, patient):
    if resource == "assessments":
        return factories.AssessmentFactory(patient=patient, assessment_date=dt.date(2020, 1, 1))
    if resource == "milestones":
        return Milestone.objects.create(
            patient=patient, kind="cane", source="reported", date=dt.date(2015, 1, 1), date_precision="year"
        )
    return Treatment.objects.create(
        patient=patient, kind="sialic_acid", start_date=dt.date(2019, 1, 1), start_date_precision="year"
    )


PATCHES = {"assessments": {"falls_count": 4}, "milestones": {"date": "2016"}, "treatments": {"stop_date": "2021"}}
MODELS = {"assessments": Assessment, "milestones": Milestone, "treatments": Treatment}


def race(user, *requests) -> list[int]:
    """Send the requests at the same moment, each from its own client and connection."""
    statuses = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def send(index, method, url, body):
        client = APIClient(raise_request_exception=False)
        client.force_authenticate(user)
        try:
            start.wait()
            response = getattr(client, method)(url, body, format="json", HTTP_IF_MATCH='"1"')
            statuses[index] = response.status_code
            if response.status_code >= 400:
                assert response.json()["error"]["status"] == response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i, *request)) for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.parametrize("resource", ["assessments", "milestones", "treatments"])
def test_delete_racing_a_patch_or_a_delete(staff_user, resource):
    for _ in range(TRIALS):
        patient = factories.PatientFactory()  # one reported milestone of a kind per patient
        record = make_record(resource, patient)
        url = f"/api/v1/{resource}/{record.uuid}/"

        deleted_twice = race(staff_user, ("delete", url, None), ("delete", url, None))
        assert sorted(deleted_twice) in ([204, 404], [204, 412]), deleted_twice

        record = make_record(resource, factories.PatientFactory())
        url = f"/api/v1/{resource}/{record.uuid}/"
        patched_and_deleted = race(staff_user, ("patch", url, PATCHES[resource]), ("delete", url, None))
        # Either the delete wins (the patch finds nothing: 404) or the patch wins (the delete holds
        # a stale version: 412); never both, never a 500.
        assert tuple(patched_and_deleted) in ((404, 204), (200, 412)), patched_and_deleted
        assert MODELS[resource].objects.filter(pk=record.pk).exists() == (patched_and_deleted[0] == 200)
