"""The patient's home, `/me/`: who may see it, what it shows of their own record (and nothing of
anyone else's), its chart and table, the follow-up date, and withdrawing a consent through it,
down to the research exports that must then leave the patient out."""

import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assessments.models import AmbulationClass, Source
from patients.models import ConsentDocument, ConsentGrant, ConsentPurpose, EnrollmentStatus, Patient
from patients.services import consent_grant, genotype_create
from portal.drafts import draft_save_step
from registry import roles
from research.cohort import cohort_clean, cohort_patient_ids
from tests import factories

ME = reverse("portal:me")
CONSENT = reverse("portal:consent")
SETTINGS = reverse("portal:settings")

pytestmark = pytest.mark.django_db


# --- Scene ------------------------------------------------------------------------------------


def login(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def consent_document(db):
    return ConsentDocument.objects.create(
        code="registry-consent",
        version="1.0",
        title="GNE registry participation",
        effective_from=dt.date(2010, 1, 1),
        purposes=list(ConsentPurpose.values),
    )


@pytest.fixture
def record(own_patient, consent_document):
    """The logged-in patient: enrolled, homozygous M712T (entered in the legacy numbering), onset
    in 2005, consent to research and recontact (not trial matching)."""
    own_patient.status = EnrollmentStatus.ENROLLED
    own_patient.save(update_fields=["status"])
    factories.GenotypeFactory(patient=own_patient)
    factories.DiagnosisFactory(
        patient=own_patient, genetic_diagnosis_date=dt.date(2009, 5, 1), genetic_diagnosis_date_precision="month"
    )
    consent_grant(
        patient=own_patient,
        document=consent_document,
        purposes=[ConsentPurpose.RESEARCH, ConsentPurpose.RECONTACT],
        granted_on=dt.date(2020, 1, 6),
    )
    return own_patient


@pytest.fixture
def someone_else(other_patient, consent_document):
    """Another patient, compound heterozygous V572L/D176V, with reports of their own."""
    genotype_create(
        patient=other_patient,
        data={"allele1": "c.620A>T", "allele1_numbering": "current", "allele2": "c.1807G>C"},
    )
    factories.AssessmentFactory(patient=other_patient, assessment_date=dt.date(2023, 11, 17), source=Source.PATIENT)
    return other_patient


def add_reports(patient, count: int, *, first=dt.date(2020, 1, 15)):
    return [
        factories.AssessmentFactory(
            patient=patient,
            assessment_date=first + dt.timedelta(days=180 * number),
            source=Source.PATIENT if number % 2 == 0 else Source.CLINICIAN,
            ambulation_class=min(number // 2, AmbulationClass.WHEELCHAIR_FULL_TIME),
            falls_count=number,
            ibmfrs_total=38 - number,
        )
        for number in range(count)
    ]


def page_text(response) -> str:
    """The page's text with tags dropped and spaces collapsed, for phrases split by markup."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


# --- Who may see it ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", [ME, SETTINGS])
def test_anonymous_visitors_are_sent_to_log_in(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response.url.startswith(f"{reverse('login')}?next=")


@pytest.mark.parametrize("persona", ["staff", "researcher"])
@pytest.mark.parametrize(("method", "url"), [("get", ME), ("get", SETTINGS), ("post", CONSENT)])
def test_staff_and_researchers_are_refused(persona, method, url, staff_user, researcher_user, record):
    user = {"staff": staff_user, "researcher": researcher_user}[persona]
    response = getattr(login(user), method)(url, {"purpose": "research", "confirm": "on"})
    assert response.status_code == 403
    assert ConsentGrant.objects.filter(withdrawn_on__isnull=False).count() == 0


def test_a_patient_login_without_a_record_gets_a_page_that_says_so(db):
    user = factories.UserFactory(username="patient.new")
    user.groups.add(Group.objects.get_or_create(name=roles.PATIENT)[0])
    response = login(user).get(ME)
    assert response.status_code == 200
    assert "Your login is not linked to a record yet" in response.content.decode()
    assert "invitation" in response.content.decode()


# --- What it shows ----------------------------------------------------------------------------


def test_shows_the_patients_own_genotype_in_both_numberings_and_nobody_elses(patient_user, record, someone_else):
    response = login(patient_user).get(ME)
    text = page_text(response)
    assert response.status_code == 200
    assert "Homozygous" in text
    assert "M712T (older numbering)" in text  # exactly as the report gave it
    assert "p.(Met743Thr)" in text  # current numbering
    assert "p.(Met712Thr)" in text  # legacy numbering
    for theirs in ("c.620A>T", "c.1807G>C", "Asp207Val", "V572L", "17 November 2023"):
        assert theirs not in text


def test_shows_the_diagnosis(patient_user, record):
    response = login(patient_user).get(ME)
    text = page_text(response)
    # Known to the year only: no day or month invented.
    assert '<time datetime="2005">2005</time>, at age 24' in response.content.decode()
    assert "Genetic diagnosis May 2009 (confirmed by genetic testing)" in text
    assert "Unknown" in text  # first symptom as recorded


def test_shows_consent_by_purpose_with_a_withdraw_button_for_each_active_one(patient_user, record):
    response = login(patient_user).get(ME)
    content = response.content.decode()
    text = page_text(response)
    assert "Research use of de-identified data Given since 6 January 2020" in text
    assert "Recontact about the registry and studies Given since 6 January 2020" in text
    assert "Matching to clinical trials Not given" in text
    offered = re.findall(r'name="purpose" value="([a-z_]+)"', content)
    assert offered == ["research", "recontact"]


def test_lists_past_reports_with_links_to_the_patients_own(patient_user, record):
    mine, clinic = add_reports(record, 2)
    text = page_text(login(patient_user).get(ME))
    content = login(patient_user).get(ME).content.decode()
    assert reverse("portal:report-detail", kwargs={"report": mine.uuid}) in content
    assert str(clinic.uuid) not in content  # a clinic's assessment has no page in the portal
    assert "15 January 2020 You View your report of 15 January 2020" in text
    assert "13 July 2020 Your clinic Kept by your clinic" in text
    assert f'href="{reverse("portal:report-new")}"' in content


def test_the_next_follow_up_is_the_last_report_plus_the_interval(patient_user, record, settings):
    settings.REGISTRY_FOLLOW_UP_MONTHS = 6
    today = timezone.localdate()
    factories.AssessmentFactory(patient=record, assessment_date=today - dt.timedelta(days=400))
    factories.AssessmentFactory(patient=record, assessment_date=today - dt.timedelta(days=10))
    response = login(patient_user).get(ME)
    due = response.context["home"].follow_up_due_on
    last = today - dt.timedelta(days=10)
    assert (due.year * 12 + due.month) - (last.year * 12 + last.month) == 6
    assert f"Your next follow-up report is due on {due:%-d %B %Y}" in page_text(response)


def test_an_overdue_follow_up_says_so(patient_user, record):
    factories.AssessmentFactory(patient=record, assessment_date=dt.date(2020, 1, 31))
    text = page_text(login(patient_user).get(ME))
    assert "Your follow-up report was due on 31 July 2020 . Please send it when you can." in text


def test_no_report_yet_means_no_follow_up_date_and_no_chart(patient_user, record):
    response = login(patient_user).get(ME)
    text = page_text(response)
    assert response.context["home"].follow_up_due_on is None
    assert "There is no report in your record yet" in text
    assert "<svg" not in response.content.decode()


def test_the_chart_and_its_table_carry_the_reports_values(patient_user, record, someone_else):
    add_reports(record, 3)
    record.assessments.filter(assessment_date=dt.date(2020, 7, 13)).update(ibmfrs_total=None, falls_count=None)
    content = login(patient_user).get(ME).content.decode()
    svg = content[content.index("<svg") : content.rindex("</svg>")]
    # One dot per report with an ambulation class, one per complete IBMFRS (the second is not).
    assert svg.count('class="chart__point"') == 3 + 2
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    table = content[content.index('id="course-caption"') : content.index("</table>", content.index("course-caption"))]
    rows = [page_text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)][1:]
    assert rows == [
        "15 Jan 2020 Walks unaided 0 38",
        "13 Jul 2020 Walks unaided Not reported Not complete",
        "9 Jan 2021 Walks with ankle-foot orthoses only 2 36",
    ]
    assert '<th scope="row">' in table and '<th scope="col"' in table


def page_text_of(markup: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)).strip()


@pytest.mark.parametrize("count", [1, 12])
def test_the_page_reads_a_fixed_number_of_queries(count, patient_user, record, django_assert_max_num_queries):
    add_reports(record, count)
    client = login(patient_user)
    # Session, user, the user's roles, the patient with identity, diagnosis and genotype joined,
    # their consents, their reports, a report draft in progress: seven, whatever the number of reports.
    with django_assert_max_num_queries(7):
        response = client.get(ME)
    assert len(response.context["home"].reports) == count


def test_a_report_in_progress_is_offered_to_continue(patient_user, record):
    client = login(patient_user)
    assert "Continue your report" not in page_text(client.get(ME))

    draft_save_step(patient=record, answers={"falls_count": 2}, resume_at="mobility")

    text = page_text(client.get(ME))
    assert "You have a report in progress" in text and "Continue your report" in text


# --- Withdrawing a consent --------------------------------------------------------------------


def test_withdrawal_explains_its_effect_before_anything_changes(patient_user, record):
    response = login(patient_user).post(CONSENT, {"purpose": "research"})
    text = page_text(response)
    assert response.status_code == 200
    assert "Withdraw your consent to “Research use of de-identified data”?" in text
    assert "Research exports made from today on will leave your data out" in text
    assert "cannot be recalled" in text
    assert 'name="confirm" value="on"' in response.content.decode()
    assert not ConsentGrant.objects.filter(patient=record, withdrawn_on__isnull=False).exists()


def test_withdrawing_research_use_removes_the_patient_from_later_exports(patient_user, record):
    cohort = cohort_clean({})
    today = timezone.localdate()
    assert record.pk in cohort_patient_ids(cohort, on=today)

    response = login(patient_user).post(CONSENT, {"purpose": "research", "confirm": "on"}, follow=True)

    assert response.redirect_chain == [(ME, 302)]
    assert "You have withdrawn your consent to “Research use of de-identified data”." in page_text(response)
    grant = ConsentGrant.objects.get(patient=record, purpose=ConsentPurpose.RESEARCH)
    assert grant.withdrawn_on == today
    # The other purposes are untouched.
    assert ConsentGrant.objects.get(patient=record, purpose=ConsentPurpose.RECONTACT).withdrawn_on is None
    assert record.pk not in cohort_patient_ids(cohort, on=today)
    # The page now shows it withdrawn, with no button for it.
    text = page_text(response)
    assert f"Research use of de-identified data Withdrawn on {today:%-d %B %Y}" in text
    assert re.findall(r'name="purpose" value="([a-z_]+)"', response.content.decode()) == ["recontact"]


def test_withdrawing_a_consent_that_is_not_active_changes_nothing(patient_user, record):
    response = login(patient_user).post(CONSENT, {"purpose": "trial_matching", "confirm": "on"}, follow=True)
    assert "is not active; nothing changed" in page_text(response)
    assert not ConsentGrant.objects.filter(patient=record, purpose="trial_matching").exists()


def test_withdrawal_accepts_only_a_post_of_a_known_purpose_with_a_csrf_token(patient_user, record):
    client = login(patient_user)
    assert client.get(CONSENT).status_code == 405
    assert client.post(CONSENT, {"purpose": "everything", "confirm": "on"}).status_code == 400
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(patient_user)
    assert strict.post(CONSENT, {"purpose": "research", "confirm": "on"}).status_code == 403
    assert not ConsentGrant.objects.filter(withdrawn_on__isnull=False).exists()


def test_withdrawal_touches_only_the_logged_in_patients_consent(patient_user, record, someone_else, consent_document):
    consent_grant(
        patient=someone_else, document=consent_document, purposes=["research"], granted_on=dt.date(2020, 1, 6)
    )
    login(patient_user).post(CONSENT, {"purpose": "research", "confirm": "on", "patient": someone_else.pk})
    assert ConsentGrant.objects.get(patient=someone_else, purpose="research").withdrawn_on is None
    assert ConsentGrant.objects.get(patient=record, purpose="research").withdrawn_on is not None


# --- The demo patient -------------------------------------------------------------------------


def test_the_demo_patient_sees_a_chart_of_recent_self_reports_at_once(settings):
    settings.DEBUG = True  # demo users are refused otherwise
    call_command("seed_demo", patients=20, demo_users=True, stdout=io.StringIO())
    call_command("seed_demo", patients=20, if_empty=True, demo_users=True, stdout=io.StringIO())  # make run, again
    user = get_user_model().objects.get(username="demo.patient")
    patient = Patient.objects.select_related("identity").get(account=user)
    today = timezone.localdate()

    assert patient.status == EnrollmentStatus.ENROLLED and patient.identity.email
    active = ConsentGrant.objects.filter(patient=patient, withdrawn_on__isnull=True)
    assert set(active.values_list("purpose", flat=True)) == set(ConsentPurpose.values)
    recent = patient.assessments.filter(source=Source.PATIENT, assessment_date__gte=today - dt.timedelta(days=730))
    assert recent.count() >= 3
    # Run twice, the seeder added nothing the second time: at most one report per planned day.
    dates = list(patient.assessments.values_list("assessment_date", flat=True))
    assert len(dates) == len(set(dates))

    response = login(user).get(ME)
    assert response.status_code == 200
    assert len(response.context["home"].points) == patient.assessments.count()
    assert response.content.decode().count('class="chart__point"') >= recent.count()
