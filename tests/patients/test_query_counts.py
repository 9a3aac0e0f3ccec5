"""Queries per request stay constant in page size (no N+1)."""

import pytest

from patients.models import Treatment
from tests.factories import DiagnosisFactory, GenotypeFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _cohort(size):
    for _ in range(size):
        patient = PatientFactory()
        DiagnosisFactory(patient=patient)
        GenotypeFactory(patient=patient)
        Treatment.objects.create(
            patient=patient, kind="sialic_acid", start_date="2019-01-01", start_date_precision="year"
        )


# token lookup with the user's roles + the staff member's site scope (none here: foundation-wide; read
# once per request to limit staff to their sites' patients, docs/sites.md) + the page's rows (+ prefetches
# named per endpoint)
BASE = 3
LIST_QUERIES = {
    "patients": BASE + 1,  # + enrollment events prefetch (identity and site are joined)
    "diagnoses": BASE,  # patient joined
    "genotypes": BASE,  # patient and both variants joined
    "treatments": BASE,
}


@pytest.mark.parametrize("resource", LIST_QUERIES)
@pytest.mark.parametrize("page_size", [3, 30])
def test_list_queries_do_not_grow_with_page_size(staff_client, django_assert_num_queries, resource, page_size):
    _cohort(30)
    with django_assert_num_queries(LIST_QUERIES[resource]):
        response = staff_client.get(f"/api/v1/{resource}/?page_size={page_size}")
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize(
    ("resource", "queries"),
    [
        # Each: the token with roles, then the site scope (docs/sites.md), then
        ("patients", 4),  # the patient with identity and site, enrollment events
        ("diagnoses", 3),  # the diagnosis with its patient
        ("genotypes", 3),  # the genotype with patient and variants
        ("treatments", 3),
    ],
)
def test_detail_queries(staff_client, django_assert_num_queries, resource, queries):
    _cohort(1)
    record_id = staff_client.get(f"/api/v1/{resource}/").json()["results"][0]["id"]
    with django_assert_num_queries(queries):
        response = staff_client.get(f"/api/v1/{resource}/{record_id}/")
    assert response.json()["id"] == record_id
