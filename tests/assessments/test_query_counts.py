"""Pinned query counts (STYLE.md 6): list endpoints cost the same at any page size (no N+1), and
detail endpoints a fixed few. Each count is spelled out query by query."""

import datetime as dt

import pytest

from assessments.models import DynamometryMeasurement, Milestone
from tests import factories

pytestmark = pytest.mark.django_db


KINDS = ["afo", "cane", "walker", "wheelchair_part_time", "wheelchair_full_time"]


@pytest.fixture
def many_records():
    """Six patients with ten assessments each (dynamometry on every other one), and for each
    patient the five derived milestones (from their first five assessments) and five reported ones."""
    assessments = []
    for _ in range(6):
        patient = factories.PatientFactory()
        for index in range(10):
            assessment = factories.AssessmentFactory(
                patient=patient, assessment_date=dt.date(2000, 1, 1) + dt.timedelta(days=100 * index)
            )
            assessments.append(assessment)
            if index % 2:
                DynamometryMeasurement.objects.bulk_create(
                    DynamometryMeasurement(assessment=assessment, muscle_group=group, side=side, kg=10)
                    for group in ("knee_flexion", "hip_flexion")
                    for side in ("left", "right")
                )
        for kind, assessment in zip(KINDS, assessments[-10:], strict=False):
            Milestone.objects.create(
                patient=patient,
                kind=kind,
                source="derived",
                date=assessment.assessment_date,
                date_precision="day",
                derived_from=assessment,
            )
            Milestone.objects.create(
                patient=patient, kind=kind, source="reported", date=dt.date(1999, 1, 1), date_precision="year"
            )
    return assessments


TOKEN = 'FROM "authtoken_token" INNER JOIN "auth_user"'
GROUPS = 'FROM "auth_group" INNER JOIN "auth_user_groups"'


def assert_queries(captured, *fragments):
    """The queries run were these, in this order (each identified by a fragment of its SQL)."""
    sqls = [query["sql"] for query in captured.captured_queries]
    assert len(sqls) == len(fragments)
    for sql, fragment in zip(sqls, fragments, strict=True):
        assert fragment in sql, (fragment, sql)


ASSESSMENT_LIST = (
    TOKEN,
    GROUPS,
    'SELECT COUNT(*) AS "__count" FROM "assessments_assessment"',
    'FROM "assessments_assessment" INNER JOIN "patients_patient"',
    'FROM "assessments_dynamometrymeasurement" WHERE "assessments_dynamometrymeasurement"."assessment_id" IN',
)


# Staff list of assessments, whatever the page size:
#   1. token authentication (authtoken_token joined to auth_user)
#   2. the user's groups, for the role check (cached on the user for the rest of the request)
#   3. COUNT(*) for the paginator
#   4. the page of assessments joined to their patient (select_related)
#   5. the page's dynamometry rows (prefetch_related)
ASSESSMENT_LIST_QUERIES = 5


@pytest.mark.parametrize("page_size", [5, 50])
def test_assessment_list_query_count_does_not_grow_with_the_page(
    staff_client, many_records, django_assert_num_queries, page_size
):
    with django_assert_num_queries(ASSESSMENT_LIST_QUERIES) as captured:
        response = staff_client.get(f"/api/v1/assessments/?page_size={page_size}")

    assert_queries(captured, *ASSESSMENT_LIST)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == page_size
    assert any(row["dynamometry"] for row in results)
    assert all(row["patient"] for row in results)


def test_assessment_list_query_count_with_filters(staff_client, many_records, django_assert_num_queries):
    patient = many_records[0].patient

    # Same five queries: the filters go into the count and row queries.
    with django_assert_num_queries(ASSESSMENT_LIST_QUERIES) as captured:
        response = staff_client.get(
            f"/api/v1/assessments/?patient={patient.uuid}&source=clinician&needs_review=false"
            "&date_from=2000-01-01&ordering=-assessment_date&page_size=50"
        )

    assert_queries(captured, *ASSESSMENT_LIST)
    assert response.json()["count"] == 10


@pytest.mark.parametrize("page_size", [5, 50])
def test_assessment_list_as_a_patient_costs_the_same(
    patient_client, own_patient, many_records, django_assert_num_queries, page_size
):
    for index in range(20):
        assessment = factories.AssessmentFactory(
            patient=own_patient, assessment_date=dt.date(2010, 1, 1) + dt.timedelta(days=index)
        )
        DynamometryMeasurement.objects.create(assessment=assessment, muscle_group="knee_flexion", side="left", kg=5)

    # Same five: the patient filter is part of the count and row queries.
    with django_assert_num_queries(ASSESSMENT_LIST_QUERIES) as captured:
        response = patient_client.get(f"/api/v1/assessments/?page_size={page_size}")

    assert_queries(captured, *ASSESSMENT_LIST)
    assert '"patients_patient"."account_id" =' in captured.captured_queries[2]["sql"]
    assert response.json()["count"] == 20
    assert len(response.json()["results"]) == min(page_size, 20)


def test_assessment_list_with_an_empty_page_skips_the_rows_and_the_prefetch(staff_client, django_assert_num_queries):
    # Token, groups, count. With a count of 0 the paginator's slice is [0:0], which Django answers
    # without asking the database, and there is nothing to prefetch for.
    with django_assert_num_queries(3) as captured:
        response = staff_client.get("/api/v1/assessments/")

    assert_queries(captured, *ASSESSMENT_LIST[:3])
    assert response.json()["count"] == 0


# Staff detail of an assessment:
#   1. token authentication
#   2. the user's groups, for the role check
#   3. the assessment joined to its patient
#   4. its dynamometry rows (prefetch)
ASSESSMENT_DETAIL_QUERIES = 4


def test_assessment_detail_query_count(staff_client, many_records, django_assert_num_queries):
    assessment = many_records[1]  # has dynamometry

    with django_assert_num_queries(ASSESSMENT_DETAIL_QUERIES) as captured:
        response = staff_client.get(f"/api/v1/assessments/{assessment.uuid}/")

    assert_queries(captured, TOKEN, GROUPS, *ASSESSMENT_LIST[3:])
    assert response.status_code == 200
    assert len(response.json()["dynamometry"]) == 4


# Staff list of milestones, whatever the page size:
#   1. token authentication
#   2. the user's groups, for the role check
#   3. COUNT(*) for the paginator
#   4. the page of milestones joined to their patient and derived_from assessment (select_related)
MILESTONE_LIST_QUERIES = 4


@pytest.mark.parametrize("page_size", [5, 50])
def test_milestone_list_query_count_does_not_grow_with_the_page(
    staff_client, many_records, django_assert_num_queries, page_size
):
    assert Milestone.objects.count() >= 50

    with django_assert_num_queries(MILESTONE_LIST_QUERIES) as captured:
        response = staff_client.get(f"/api/v1/milestones/?page_size={page_size}&ordering=-date")

    assert_queries(
        captured,
        TOKEN,
        GROUPS,
        'SELECT COUNT(*) AS "__count" FROM "assessments_milestone"',
        'FROM "assessments_milestone" INNER JOIN "patients_patient"',
    )
    assert 'LEFT OUTER JOIN "assessments_assessment"' in captured.captured_queries[3]["sql"]
    results = response.json()["results"]
    assert len(results) == page_size
    assert any(row["derived_from"] for row in results)


# Staff detail of a milestone: token, groups, the milestone joined to patient and derived_from.
MILESTONE_DETAIL_QUERIES = 3


def test_milestone_detail_query_count(staff_client, many_records, django_assert_num_queries):
    milestone = Milestone.objects.filter(source="derived").first()

    with django_assert_num_queries(MILESTONE_DETAIL_QUERIES) as captured:
        response = staff_client.get(f"/api/v1/milestones/{milestone.uuid}/")

    assert_queries(captured, TOKEN, GROUPS, 'FROM "assessments_milestone" INNER JOIN "patients_patient"')
    assert response.json()["derived_from"] == str(milestone.derived_from.uuid)
