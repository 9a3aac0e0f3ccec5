"""Finding a patient (`/staff/`): search by name, registry id, email and hospital id; the filters;
site-limited staff see only their sites' patients; a fixed number of queries per page."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from assessments.models import AmbulationClass
from patients.models import EnrollmentStatus, PatientIdentity
from patients.services import genotype_create
from portal.followup import add_months, follow_up_due_on
from registry import roles
from registry.dates import today
from tests import factories
from workspace.models import ReviewDecision
from workspace.selectors import follow_up_cutoff

pytestmark = pytest.mark.django_db

FIND = reverse("workspace:find")


def _person(given, family, *, site=None, email="", hospital_id="", status=EnrollmentStatus.ENROLLED, **patient):
    record = factories.PatientFactory(identity=None, site=site, status=status, **patient)
    PatientIdentity.objects.create(
        patient=record,
        given_name=given,
        family_name=family,
        date_of_birth=dt.date(1980, 6, 15),
        email=email,
        hospital_id=hospital_id,
    )
    return record


def _found(client, **params) -> list[str]:
    """The registry ids of the result rows (each row links to the patient's page)."""
    response = client.get(FIND, params)
    assert response.status_code == 200
    return [str(patient.uuid) for patient, _ in response.context["rows"]]


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def people(db):
    london = factories.SiteFactory(code="london")
    tel_aviv = factories.SiteFactory(code="tel-aviv", name="Tel Aviv clinic", country="IL")
    return {
        "noa": _person("Noa", "Ben-David", site=tel_aviv, email="noa.bd@example.org", hospital_id="TA-1001"),
        "yuki": _person("Yuki", "Tanaka", site=london, email="yuki@example.org", country="JP"),
        "ahmed": _person("Ahmed", "Khan", site=london, hospital_id="LDN-77", status=EnrollmentStatus.CANDIDATE),
    }


def test_search_matches_names_in_any_case_and_order(staff, people):
    assert _found(staff, q="ben-david") == [str(people["noa"].uuid)]
    assert _found(staff, q="david NOA") == [str(people["noa"].uuid)]
    assert _found(staff, q="tanaka yuki") == [str(people["yuki"].uuid)]
    assert _found(staff, q="Noa Tanaka") == []  # every word must match the same person


def test_search_matches_email_hospital_id_and_registry_id(staff, people):
    noa = people["noa"]
    assert _found(staff, q="noa.bd@example.org") == [str(noa.uuid)]
    assert _found(staff, q="ldn-77") == [str(people["ahmed"].uuid)]
    assert _found(staff, q=str(noa.uuid)) == [str(noa.uuid)]
    assert _found(staff, q=str(noa.uuid)[:8]) == [str(noa.uuid)]


def test_an_empty_search_lists_everyone_by_family_name(staff, people):
    assert _found(staff) == [str(people[name].uuid) for name in ("noa", "ahmed", "yuki")]


def test_filters_by_status_site_and_country(staff, people):
    assert _found(staff, status="candidate") == [str(people["ahmed"].uuid)]
    london = people["yuki"].site
    assert _found(staff, site=london.pk) == [str(people["ahmed"].uuid), str(people["yuki"].uuid)]
    assert _found(staff, country="JP") == [str(people["yuki"].uuid)]


def test_genotype_filter_reads_a_variant_in_either_numbering(staff, people):
    genotype_create(patient=people["noa"], data={"allele1": "M712T", "allele2": "M712T", "allele1_numbering": "legacy"})
    genotype_create(patient=people["yuki"], data={"allele1": "c.1807G>C", "allele2": "c.620A>T"})
    noa = [str(people["noa"].uuid)]
    assert _found(staff, genotype="M712T") == noa  # legacy short name
    assert _found(staff, genotype="p.Met743Thr") == noa  # current numbering, protein
    assert _found(staff, genotype="c.2228T>C") == noa  # current numbering, DNA
    assert _found(staff, genotype="NM_005476.5:c.2135T>C") == noa  # legacy numbering, DNA
    assert _found(staff, genotype="c.620A>T") == [str(people["yuki"].uuid)]  # the second allele counts too


def test_a_variant_that_cannot_be_read_is_a_field_error_not_a_failure(staff, people):
    response = staff.get(FIND, {"genotype": "not a variant", "q": "noa"})
    assert response.status_code == 200
    assert response.context["form"].errors["genotype"]
    assert response.context["page"] is None
    assert 'value="not a variant"' in response.content.decode()  # what was typed is kept


def test_ambulation_filter_reads_the_latest_visit_that_records_a_class(staff, people):
    yuki, noa = people["yuki"], people["noa"]
    factories.AssessmentFactory(
        patient=yuki, assessment_date=dt.date(2020, 1, 1), ambulation_class=AmbulationClass.CANE
    )
    factories.AssessmentFactory(
        patient=yuki, assessment_date=dt.date(2022, 1, 1), ambulation_class=AmbulationClass.WALKER
    )
    # A later self-report without a class does not hide the walker.
    factories.AssessmentFactory(patient=yuki, assessment_date=dt.date(2023, 1, 1), ambulation_class=None)
    factories.AssessmentFactory(patient=noa, assessment_date=dt.date(2022, 1, 1), ambulation_class=AmbulationClass.CANE)
    assert _found(staff, ambulation_class=AmbulationClass.WALKER) == [str(yuki.uuid)]
    assert _found(staff, ambulation_class=AmbulationClass.CANE) == [str(noa.uuid)]


def test_follow_up_filter_lists_enrolled_patients_whose_next_assessment_is_due(staff, people):
    day = today()
    factories.AssessmentFactory(patient=people["noa"], assessment_date=add_months(day, -7))  # due a month ago
    factories.AssessmentFactory(patient=people["yuki"], assessment_date=add_months(day, -1))  # not due yet
    factories.AssessmentFactory(patient=people["ahmed"], assessment_date=add_months(day, -9))  # a candidate
    response = staff.get(FIND, {"follow_up_overdue": "on"})
    assert [str(patient.uuid) for patient, _ in response.context["rows"]] == [str(people["noa"].uuid)]
    assert response.context["rows"][0][1] is True  # the row's badge
    assert "Follow-up due" in response.content.decode()


def test_review_filter_lists_patients_with_a_flagged_record(staff, people):
    flag = {"code": "ambulation_wheelchair_mismatch", "field": "wheelchair_use", "message": "Check."}
    factories.AssessmentFactory(patient=people["yuki"], review_flags=[flag])
    factories.AssessmentFactory(patient=people["noa"], review_flags=[])
    factories.DiagnosisFactory(patient=people["ahmed"], review_flags=[flag])
    assert sorted(_found(staff, review_flags="on")) == sorted([str(people["yuki"].uuid), str(people["ahmed"].uuid)])


def test_a_patient_whose_flags_are_all_resolved_is_not_listed_for_review(staff, staff_user, people):
    flags = [
        {"code": "ambulation_wheelchair_mismatch", "field": "wheelchair_use", "message": "Check."},
        {"code": "wheelchair_but_walked", "field": "six_minute_walk_m", "message": "Check."},
    ]
    visit = factories.AssessmentFactory(patient=people["yuki"], review_flags=flags)

    def decide(flag):
        ReviewDecision.objects.create(
            patient=people["yuki"],
            target_type="assessment",
            target_uuid=visit.uuid,
            code=flag["code"],
            field=flag["field"],
            outcome="confirmed",
            note="Checked.",
            decided_by=staff_user,
        )

    decide(flags[0])
    assert _found(staff, review_flags="on") == [str(people["yuki"].uuid)]  # one flag still open
    assert staff.get(FIND, {"q": "yuki"}).context["rows"][0][0].has_review_flags is True
    decide(flags[1])
    assert _found(staff, review_flags="on") == []
    assert staff.get(FIND, {"q": "yuki"}).context["rows"][0][0].has_review_flags is False


def test_the_results_table_shows_what_identifies_each_row(staff, people):
    genotype_create(patient=people["noa"], data={"allele1": "M712T", "allele2": "M712T"})
    factories.AssessmentFactory(patient=people["noa"], assessment_date=dt.date(2021, 5, 4))
    html = staff.get(FIND, {"q": "noa"}).content.decode()
    assert "Ben-David, Noa" in html
    assert str(people["noa"].uuid)[:8] in html
    assert "Tel Aviv clinic" in html
    assert "p.(Met743Thr) / p.(Met743Thr)" in html
    assert "4 May 2021" in html
    assert reverse("workspace:patient", kwargs={"patient": people["noa"].uuid}) in html


def test_site_limited_staff_find_only_their_sites_patients(client, site_staff_user, people):
    client.force_login(site_staff_user)
    assert sorted(_found(client)) == sorted([str(people["yuki"].uuid), str(people["ahmed"].uuid)])
    assert _found(client, q="noa") == []
    assert _found(client, q=str(people["noa"].uuid)) == []
    response = client.get(FIND)
    assert [site.code for site in response.context["form"].fields["site"].queryset] == ["london"]
    # Another site's id in the URL is refused as a choice, not applied.
    response = client.get(FIND, {"site": people["noa"].site.pk})
    assert "site" in response.context["form"].errors
    assert "Ben-David" not in response.content.decode()


@pytest.mark.parametrize("role", [roles.PATIENT, roles.RESEARCHER])
def test_only_staff_reach_the_page(client, role):
    user = factories.UserFactory(username=f"someone.{role}")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    client.force_login(user)
    assert client.get(FIND).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(FIND)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# The request's session and user, the user's roles, the staff member's site scope (docs/sites.md),
# the countries offered in the form, the number of results, one page of them (identity, site and
# genotype joined; latest assessment and review flags as subqueries), the sites offered in the form.
FIND_QUERIES = (
    'FROM "django_session"',
    'FROM "auth_user"',
    'FROM "auth_group"',
    'FROM "patients_staffsitescope"',
    'SELECT DISTINCT "patients_patient"."country"',
    "SELECT COUNT(*)",
    'ORDER BY "patients_patientidentity"."family_name" ASC',
    'WHERE "patients_patient"."id" IN',
    'FROM "patients_site"',
)


@pytest.mark.parametrize("page_size", [3, 30])
def test_queries_do_not_grow_with_the_page(staff, monkeypatch, django_assert_num_queries, page_size):
    monkeypatch.setattr("workspace.views.find.PAGE_SIZE", page_size)
    for number in range(30):
        patient = _person(f"Given{number}", f"Family{number}", site=factories.SiteFactory(code="london"))
        factories.GenotypeFactory(patient=patient)
        factories.AssessmentFactory(patient=patient)
    with django_assert_num_queries(len(FIND_QUERIES)) as captured:
        response = staff.get(FIND, {"q": "family", "genotype": "M712T", "follow_up_overdue": "on"})
    assert len(response.context["rows"]) == page_size
    sqls = [query["sql"] for query in captured.captured_queries]
    for sql, fragment in zip(sqls, FIND_QUERIES, strict=True):
        assert fragment in sql, (fragment, sql)


def test_follow_up_cutoff_agrees_with_the_due_date_of_the_portal():
    """`last <= follow_up_cutoff(today)` exactly when the portal's due date is today or past,
    month ends included (31 August + 6 months is 28 February)."""
    for today_ in (dt.date(2027, 2, 28), dt.date(2028, 2, 29), dt.date(2027, 3, 15), dt.date(2027, 4, 30)):
        cutoff = follow_up_cutoff(today_)
        for offset in range(150, 250):
            last = today_ - dt.timedelta(days=offset)
            assert (last <= cutoff) == (follow_up_due_on(last) <= today_), (today_, last)
