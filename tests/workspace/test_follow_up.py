"""The follow-up list (`/staff/follow-up/`): enrolled patients whose next assessment is due, the
longest overdue first, by site; site-limited staff see only theirs; fixed queries per page."""

import pytest
from django.urls import reverse

from patients.models import EnrollmentStatus
from portal.followup import add_months
from registry.dates import today
from tests import factories

pytestmark = pytest.mark.django_db

FOLLOW_UP = reverse("workspace:follow-up")


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def sites(db):
    return {
        "london": factories.SiteFactory(code="london"),
        "tel-aviv": factories.SiteFactory(code="tel-aviv", name="Tel Aviv clinic", country="IL"),
    }


def _patient(site, *, months_ago, status=EnrollmentStatus.ENROLLED, **extra):
    patient = factories.PatientFactory(site=site, status=status, **extra)
    if months_ago is not None:
        factories.AssessmentFactory(patient=patient, assessment_date=add_months(today(), -months_ago))
        # An older visit does not count: the due date runs from the latest one.
        factories.AssessmentFactory(patient=patient, assessment_date=add_months(today(), -months_ago - 12))
    return patient


@pytest.fixture
def cohort(sites):
    london, tel_aviv = sites["london"], sites["tel-aviv"]
    return {
        "long_overdue": _patient(tel_aviv, months_ago=20),
        "overdue": _patient(london, months_ago=8),
        "due_today": _patient(london, months_ago=6),
        "recent": _patient(london, months_ago=2),
        "never_assessed": _patient(london, months_ago=None),
        "withdrawn": _patient(london, months_ago=10, status=EnrollmentStatus.WITHDRAWN),
        "deceased": _patient(london, months_ago=10, status=EnrollmentStatus.DECEASED),
        "candidate": _patient(london, months_ago=10, status=EnrollmentStatus.CANDIDATE),
        "erased": _patient(london, months_ago=10, erased_at="2024-01-01T00:00:00Z"),
    }


def _listed(response) -> list:
    return [row.patient for row in response.context["rows"]]


def test_lists_enrolled_patients_due_the_longest_overdue_first(staff, cohort):
    response = staff.get(FOLLOW_UP)
    assert response.status_code == 200
    assert _listed(response) == [cohort["long_overdue"], cohort["overdue"], cohort["due_today"]]
    rows = response.context["rows"]
    assert rows[1].due_on == add_months(add_months(today(), -8), 6)
    assert rows[1].days_overdue == (today() - rows[1].due_on).days > 0
    assert rows[2].days_overdue == 0
    html = response.content.decode()
    assert reverse("workspace:patient", kwargs={"patient": cohort["overdue"].uuid}) in html


def test_counts_by_site_and_a_filter_for_one_site(staff, cohort, sites):
    response = staff.get(FOLLOW_UP)
    assert [(row["site__name"], row["due"]) for row in response.context["by_site"]] == [
        ("London neuromuscular centre", 2),
        ("Tel Aviv clinic", 1),
    ]
    response = staff.get(FOLLOW_UP, {"site": sites["london"].pk})
    assert _listed(response) == [cohort["overdue"], cohort["due_today"]]
    assert "2 patients due at London neuromuscular centre" in response.content.decode()


def test_site_limited_staff_see_only_their_sites(client, site_staff_user, cohort, sites):
    client.force_login(site_staff_user)
    response = client.get(FOLLOW_UP)
    assert _listed(response) == [cohort["overdue"], cohort["due_today"]]
    assert [row["site__name"] for row in response.context["by_site"]] == ["London neuromuscular centre"]
    # Another site's id is not a choice they have: refused, and nothing of that site shown.
    response = client.get(FOLLOW_UP, {"site": sites["tel-aviv"].pk})
    assert response.context["form"].errors["site"]
    assert cohort["long_overdue"] not in _listed(response)


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get(FOLLOW_UP)["Location"].startswith(reverse("login"))


# Session, user, roles, the site scope; the number due; one page of them (identity and site joined,
# the latest assessment as a subquery); the patients due per site; the sites offered in the filter.
FOLLOW_UP_QUERIES = (
    'FROM "django_session"',
    'FROM "auth_user"',
    'FROM "auth_group"',
    'FROM "patients_staffsitescope"',
    "SELECT COUNT(*)",
    '"patients_patient"."id" ASC LIMIT',
    'WHERE "patients_patient"."id" IN',
    "GROUP BY",
    'FROM "patients_site"',
)


@pytest.mark.parametrize("page_size", [3, 30])
def test_queries_do_not_grow_with_the_page(staff, sites, monkeypatch, django_assert_num_queries, page_size):
    monkeypatch.setattr("workspace.views.followup.PAGE_SIZE", page_size)
    for number in range(30):
        _patient(sites["london" if number % 2 else "tel-aviv"], months_ago=7 + number)
    with django_assert_num_queries(len(FOLLOW_UP_QUERIES)) as captured:
        response = staff.get(FOLLOW_UP)
    assert len(response.context["rows"]) == page_size
    for query, fragment in zip(captured.captured_queries, FOLLOW_UP_QUERIES, strict=True):
        assert fragment in query["sql"], (fragment, query["sql"])
