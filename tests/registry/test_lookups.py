"""`__any_of` (registry.lookups): the rows of `__in`, sent to PostgreSQL as one array parameter."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments.models import Assessment
from patients.models import Patient
from tests.factories import AssessmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_any_of_selects_the_rows_of_in_with_one_array_parameter():
    patients = PatientFactory.create_batch(4)
    for patient in patients[:3]:
        AssessmentFactory(patient=patient)
    wanted = [patients[0].pk, patients[2].pk, patients[3].pk, 10**9]  # one that does not exist
    with CaptureQueriesContext(connection) as queries:
        found = set(Patient.objects.filter(id__any_of=wanted).values_list("pk", flat=True))
    assert found == set(Patient.objects.filter(id__in=wanted).values_list("pk", flat=True))
    assert found == {patients[0].pk, patients[2].pk, patients[3].pk}
    assert "= ANY(" in queries.captured_queries[0]["sql"]
    # On a relation too, by its column or its name.
    assert Assessment.objects.filter(patient_id__any_of=wanted).count() == 2
    assert Assessment.objects.filter(patient__any_of=wanted).count() == 2


def test_any_of_an_empty_list_selects_nothing():
    PatientFactory()
    assert not Patient.objects.filter(id__any_of=[]).exists()
