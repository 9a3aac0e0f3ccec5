"""Pinned query counts (docs/architecture.md, "Pinned query counts"): list endpoints cost the same
at any page size (no N+1), and detail endpoints a fixed few. Each count is spelled out query by query."""

import datetime as dt

import pytest

from assessments.models import DynamometryMeasurement, ManualMuscleTest, Milestone
from tests import factories

pytestmark = pytest.mark.django_db


KINDS = ["afo", "cane", "walker", "wheelchair_part_time", "wheelchair_full_time"]


@pytest.fixture
def many_records():
    """Six patients with ten assessments each (dynamometry and manual muscle testing on every other
    one), and for each patient the five derived milestones (from their first five assessments) and
    five reported ones."""
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
                ManualMuscleTest.objects.bulk_create(
                    ManualMuscleTest(assessment=assessment, muscle=muscle, side=side, grade="4")
                    for muscle, side in (("ankle_dorsiflexion", "left"), ("ankle_dorsiflexion", "right"))
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


# Token authentication reads the token, its user and the user's roles (EXISTS per role) at once.
TOKEN = 'FROM "knox_authtoken" INNER JOIN "auth_user"'
# Staff only: whether the member is limited to some sites' patients (docs/sites.md), read once per request.
SITE_SCOPE = 'FROM "patients_staffsitescope"'


def assert_queries(captured, *fragments):
    """The queries run were these, in this order (each identified by a fragment of its SQL)."""
    sqls = [query["sql"] for query in captured.captured_queries]
    assert len(sqls) == len(fragments)
    for sql, fragment in zip(sqls, fragments, strict=True):
        assert fragment in sql, (fragment, sql)


ASSESSMENT_LIST = (
    TOKEN,
    'FROM "assessments_assessment" INNER JOIN "patients_patient"',
    'FROM "assessments_dynamometrymeasurement" WHERE "assessments_dynamometrymeasurement"."assessment_id" IN',
)
# What staff run: the same, with their site scope read after the token.
STAFF_ASSESSMENT_LIST = (TOKEN, SITE_SCOPE, *ASSESSMENT_LIST[1:])
# The child rows' query reads both tables at once.
CHILD_ROWS_UNION = ') UNION ALL (SELECT "assessments_manualmuscletest"."assessment_id"'


# Staff list of assessments, whatever the page size:
#   1. token authentication with the user and their roles (knox_authtoken joined to auth_user)
#   2. the staff member's site scope (none: foundation-wide), which narrows the rows to their sites'
#      patients (docs/sites.md); patients have no scope, so their lists skip this one
#   3. the page of assessments (one row more than the page, to know if there is a next page),
#      with their patient's public id joined in
#   4. the page's dynamometry rows and manual muscle testing grades, in one query (UNION ALL)
ASSESSMENT_LIST_QUERIES = 4


@pytest.mark.parametrize("page_size", [5, 50])
def test_assessment_list_query_count_does_not_grow_with_the_page(
    staff_client, many_records, django_assert_num_queries, page_size
):
    with django_assert_num_queries(ASSESSMENT_LIST_QUERIES) as captured:
        response = staff_client.get(f"/api/v1/assessments/?page_size={page_size}")

    assert_queries(captured, *STAFF_ASSESSMENT_LIST)
    assert CHILD_ROWS_UNION in captured.captured_queries[3]["sql"]
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == page_size
    assert any(row["dynamometry"] for row in results)
    assert any(row["manual_muscle_tests"] for row in results)
    assert all(row["patient"] for row in results)


def test_assessment_list_query_count_with_filters(staff_client, many_records, django_assert_num_queries):
    patient = many_records[0].patient

    # Same four queries: the filters go into the row query.
    with django_assert_num_queries(ASSESSMENT_LIST_QUERIES) as captured:
        response = staff_client.get(
            f"/api/v1/assessments/?patient={patient.uuid}&source=clinician&needs_review=false"
            "&date_from=2000-01-01&ordering=-assessment_date&page_size=50"
        )

    assert_queries(captured, *STAFF_ASSESSMENT_LIST)
    assert len(response.json()["results"]) == 10


@pytest.mark.parametrize("page_size", [5, 50])
def test_assessment_list_as_a_patient_costs_the_same(
    patient_client, own_patient, many_records, django_assert_num_queries, page_size
):
    for index in range(20):
        assessment = factories.AssessmentFactory(
            patient=own_patient, assessment_date=dt.date(2010, 1, 1) + dt.timedelta(days=index)
        )
        DynamometryMeasurement.objects.create(assessment=assessment, muscle_group="knee_flexion", side="left", kg=5)

    # One fewer than staff (no site scope to read); the patient filter is part of the row query.
    with django_assert_num_queries(ASSESSMENT_LIST_QUERIES - 1) as captured:
        response = patient_client.get(f"/api/v1/assessments/?page_size={page_size}")

    assert_queries(captured, *ASSESSMENT_LIST)
    assert '"patients_patient"."account_id" =' in captured.captured_queries[1]["sql"]
    assert len(response.json()["results"]) == min(page_size, 20)


def test_assessment_list_with_an_empty_page_skips_the_measurements(staff_client, django_assert_num_queries):
    # Token (with roles), the site scope, the (empty) page. With no rows there are no measurements to read.
    with django_assert_num_queries(3) as captured:
        response = staff_client.get("/api/v1/assessments/")

    assert_queries(captured, *STAFF_ASSESSMENT_LIST[:3])
    assert response.json()["results"] == []


# Staff detail of an assessment:
#   1. token authentication with the user and their roles
#   2. the staff member's site scope (docs/sites.md)
#   3. the assessment, with its patient's public id joined in
#   4. its dynamometry rows and manual muscle testing grades, in one query (UNION ALL)
ASSESSMENT_DETAIL_QUERIES = 4


def test_assessment_detail_query_count(staff_client, many_records, django_assert_num_queries):
    assessment = many_records[1]  # has dynamometry

    with django_assert_num_queries(ASSESSMENT_DETAIL_QUERIES) as captured:
        response = staff_client.get(f"/api/v1/assessments/{assessment.uuid}/")

    assert_queries(captured, *STAFF_ASSESSMENT_LIST)
    assert CHILD_ROWS_UNION in captured.captured_queries[3]["sql"]
    assert response.status_code == 200
    assert len(response.json()["dynamometry"]) == 4
    assert len(response.json()["manual_muscle_tests"]) == 2


# Staff list of milestones, whatever the page size:
#   1. token authentication with the user and their roles
#   2. the staff member's site scope (docs/sites.md)
#   3. the page of milestones (plus one row), with the public ids of their patient and of the
#      assessment they were derived from joined in
MILESTONE_LIST_QUERIES = 3


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
        SITE_SCOPE,
        'FROM "assessments_milestone" INNER JOIN "patients_patient"',
    )
    assert 'LEFT OUTER JOIN "assessments_assessment"' in captured.captured_queries[2]["sql"]
    results = response.json()["results"]
    assert len(results) == page_size
    assert any(row["derived_from"] for row in results)


# Staff detail of a milestone: token (with roles), the site scope (docs/sites.md), the milestone joined
# to patient and derived_from.
MILESTONE_DETAIL_QUERIES = 3


def test_milestone_detail_query_count(staff_client, many_records, django_assert_num_queries):
    milestone = Milestone.objects.filter(source="derived").first()

    with django_assert_num_queries(MILESTONE_DETAIL_QUERIES) as captured:
        response = staff_client.get(f"/api/v1/milestones/{milestone.uuid}/")

    assert_queries(captured, TOKEN, SITE_SCOPE, 'FROM "assessments_milestone" INNER JOIN "patients_patient"')
    assert response.json()["derived_from"] == str(milestone.derived_from.uuid)
