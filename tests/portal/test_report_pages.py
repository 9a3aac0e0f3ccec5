"""The report pages through Django's test client (docs/patient-reports.md): the steps, the draft
between them, errors, the session ending mid-report, sending, and correcting within the window."""

import datetime as dt
import itertools
import re
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assessments import services
from assessments.models import IBMFRS_ITEMS, Assessment, Source
from portal.models import ReportDraft
from portal.views.reports import STASH_KEY
from registry import roles
from tests import factories

pytestmark = pytest.mark.django_db

NEW = reverse("portal:report-new")
STEPS = ["when-and-falls", "mobility", "daily-activities", "treatments-and-comments", "check"]
# What a patient types at each step, as the browser sends it.
TYPED = {
    "when-and-falls": {
        "assessment_date": "2024-03-01",
        "falls_count": "3",
        "injurious_falls_count": "1",
        "fractures_count": "0",
        "falls_indoors_count": "2",
        "falls_outdoors_count": "1",
        "falls_transfer_count": "",
    },
    "mobility": {"ambulation_class": "2", "devices": ["afo", "cane"], "wheelchair_use": "none"},
    "daily-activities": {
        **dict.fromkeys(IBMFRS_ITEMS, "3"),
        "raise_arms_above_head": "with_difficulty",
        "rise_from_chair": "unable",
    },
    "treatments-and-comments": {"treatments_taken": ["mannac"], "comment": "  Ça va; 階段が大変です。  "},
}


def new_step(slug: str) -> str:
    return reverse("portal:report-new-step", kwargs={"step": slug})


def correct_step(report, slug: str) -> str:
    return reverse("portal:report-correct-step", kwargs={"report": report.uuid, "step": slug})


def detail(report) -> str:
    return reverse("portal:report-detail", kwargs={"report": report.uuid})


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_step(client, url, data, action="next"):
    return client.post(url, {**data, "action": action})


def fill_in(client, url_of, steps=STEPS[:-1], typed=TYPED):
    for slug in steps:
        response = post_step(client, url_of(slug), typed[slug])
        assert response.status_code == 302, response.content.decode()[:2000]


def html(response) -> str:
    return response.content.decode()


@pytest.fixture
def patient_page(patient_user, own_patient):
    return login(patient_user)


@pytest.fixture
def sent_report(own_patient, patient_user):
    data = {
        "assessment_date": dt.date(2024, 3, 1),
        "falls_count": 2,
        "ambulation_class": 2,
        "devices": ["cane"],
        "comment": "As sent",
    }
    return services.patient_report_create(patient=own_patient, data=data, entered_by=patient_user)


# --- A whole report ------------------------------------------------------------------------------


def test_a_patient_fills_in_every_step_and_sends_the_report(patient_page, own_patient, patient_user):
    assert patient_page.get(NEW)["Location"] == new_step("when-and-falls")
    first = patient_page.get(new_step("when-and-falls"))
    assert first.status_code == 200
    assert "Step 1 of 5" in html(first)
    assert re.search(r'<li aria-current="step"[^>]*>When, and falls</li>', html(first))

    for slug, following in itertools.pairwise(STEPS):
        response = post_step(patient_page, new_step(slug), TYPED[slug])
        assert response["Location"] == new_step(following)

    check = patient_page.get(new_step("check"))
    assert "I walk with a cane or crutch" in html(check)
    assert "Ankle-foot orthoses (leg braces); Cane or crutch" in html(check)
    assert f'href="{new_step("mobility")}"' in html(check)  # "Change" goes back to the step

    sent = patient_page.post(new_step("check"), {"action": "send"})

    report = Assessment.objects.get(patient=own_patient)
    assert sent["Location"] == detail(report)
    assert (report.source, report.entered_by, report.assessment_date) == (
        Source.PATIENT,
        patient_user,
        dt.date(2024, 3, 1),
    )
    assert (report.falls_count, report.injurious_falls_count, report.fractures_count) == (3, 1, 0)
    assert (report.falls_indoors_count, report.falls_outdoors_count, report.falls_transfer_count) == (2, 1, None)
    assert (report.ambulation_class, report.devices, report.wheelchair_use) == (2, ["afo", "cane"], "none")
    assert all(getattr(report, item) == 3 for item in IBMFRS_ITEMS)
    assert (report.ibmfrs_total, report.raise_arms_above_head, report.rise_from_chair) == (
        30,
        "with_difficulty",
        "unable",
    )
    assert (report.treatments_taken, report.comment) == (["mannac"], "Ça va; 階段が大変です。")
    assert not ReportDraft.objects.exists()
    shown = patient_page.get(detail(report))
    assert "Thank you: your report was sent to the registry." in html(shown)
    assert "Correct this report" in html(shown)


def test_the_report_date_defaults_to_today_where_the_patient_lives(patient_page, own_patient):
    own_patient.time_zone = "Asia/Tokyo"
    own_patient.save()
    late_evening_utc = dt.datetime(2024, 5, 9, 22, 30, tzinfo=dt.UTC)  # 10 May in Tokyo

    with mock.patch("django.utils.timezone.now", return_value=late_evening_utc):
        page = patient_page.get(new_step("when-and-falls"))
        fill_in(
            patient_page,
            new_step,
            typed=TYPED | {"when-and-falls": TYPED["when-and-falls"] | {"assessment_date": "2024-05-10"}},
        )
        patient_page.post(new_step("check"), {"action": "send"})

    assert 'value="2024-05-10"' in html(page)
    assert 'max="2024-05-10"' in html(page)
    assert Assessment.objects.get(patient=own_patient).assessment_date == dt.date(2024, 5, 10)


def test_pressing_send_twice_makes_one_report(patient_page, own_patient):
    fill_in(patient_page, new_step)

    first = patient_page.post(new_step("check"), {"action": "send"})
    second = patient_page.post(new_step("check"), {"action": "send"})

    assert Assessment.objects.filter(patient=own_patient).count() == 1
    assert first["Location"].startswith("/me/reports/")
    assert second["Location"] == new_step("when-and-falls")  # nothing left to send: a new report starts


# --- Errors ------------------------------------------------------------------------------------


def test_a_step_with_an_error_shows_everything_typed_again(patient_page):
    typed = TYPED["when-and-falls"] | {"falls_count": "lots", "fractures_count": "-1"}

    response = post_step(patient_page, new_step("when-and-falls"), typed)

    assert response.status_code == 200
    page = html(response)
    assert "There is a problem" in page
    assert 'href="#id_falls_count"' in page  # the summary links to the field
    assert "Enter a whole number, such as 0, 1 or 2." in page
    assert "Enter 0 or more." in page
    for value in ("lots", "-1", "2024-03-01", "2"):
        assert f'value="{value}"' in page
    assert not ReportDraft.objects.exists()


@pytest.mark.parametrize(
    ("slug", "odd"),
    [
        ("mobility", {"ambulation_class": "99", "devices": ["rocket"], "wheelchair_use": "sometimes"}),
        ("daily-activities", {"ibmfrs_walking": "7", "rise_from_chair": ["able", "unable"]}),
        ("treatments-and-comments", {"treatments_taken": ["mannac", "x" * 300], "comment": "ü" * 5000}),
        (
            "when-and-falls",
            {"assessment_date": "31/31/2024", "falls_count": "1" * 400, "injurious_falls_count": "\x00"},
        ),
    ],
)
def test_odd_input_is_an_error_on_the_page_never_a_server_error(patient_page, slug, odd):
    response = post_step(patient_page, new_step(slug), odd)

    assert response.status_code == 200
    assert "There is a problem" in html(response)
    assert not ReportDraft.objects.exists()


def test_a_report_the_rules_refuse_takes_the_patient_to_the_step_concerned(patient_page, own_patient):
    # 5 injurious falls out of 3: each step's form accepts it; the assessment rules do not.
    fill_in(
        patient_page,
        new_step,
        typed=TYPED | {"when-and-falls": TYPED["when-and-falls"] | {"injurious_falls_count": "5"}},
    )

    refused = patient_page.post(new_step("check"), {"action": "send"})

    assert refused["Location"] == new_step("when-and-falls")
    step = patient_page.get(new_step("when-and-falls"))
    page = html(step)
    assert "Injurious falls (5) cannot exceed falls (3)." in page
    assert 'href="#id_injurious_falls_count"' in page
    assert 'value="5"' in page and 'value="2024-03-01"' in page
    assert not Assessment.objects.exists()
    assert ReportDraft.objects.get(patient=own_patient).data["comment"] == "Ça va; 階段が大変です。"

    fixed = post_step(patient_page, new_step("when-and-falls"), TYPED["when-and-falls"])
    assert fixed["Location"] == new_step("mobility")
    patient_page.post(new_step("check"), {"action": "send"})
    assert Assessment.objects.get(patient=own_patient).injurious_falls_count == 1


def test_a_future_date_is_refused_in_the_patients_words(patient_page):
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    fill_in(
        patient_page,
        new_step,
        typed=TYPED | {"when-and-falls": TYPED["when-and-falls"] | {"assessment_date": tomorrow}},
    )

    patient_page.post(new_step("check"), {"action": "send"})

    assert "The assessment date cannot be in the future." in html(patient_page.get(new_step("when-and-falls")))
    assert not Assessment.objects.exists()


def test_a_skipped_step_is_asked_for_before_sending(patient_page):
    fill_in(patient_page, new_step, steps=["mobility", "daily-activities"])

    refused = patient_page.post(new_step("check"), {"action": "send"})

    assert refused["Location"] == new_step("when-and-falls")
    assert "Enter the date of this report." in html(patient_page.get(new_step("when-and-falls")))
    assert not Assessment.objects.exists()


# --- The draft -----------------------------------------------------------------------------------


def test_back_saves_what_was_typed_and_goes_to_the_previous_step(patient_page, own_patient):
    response = post_step(patient_page, new_step("mobility"), TYPED["mobility"], action="back")

    assert response["Location"] == new_step("when-and-falls")
    draft = ReportDraft.objects.get(patient=own_patient)
    assert (draft.data["devices"], draft.step) == (["afo", "cane"], "when-and-falls")
    again = html(patient_page.get(new_step("mobility")))
    assert re.search(r'value="cane"[^>]*checked', again)


def test_a_draft_resumes_after_logging_out_and_in_on_another_device(patient_page, patient_user):
    fill_in(patient_page, new_step, steps=["when-and-falls", "mobility"])
    patient_page.post(reverse("logout"))

    other_device = login(patient_user)
    resumed = other_device.get(NEW)

    assert resumed["Location"] == new_step("daily-activities")
    first = html(other_device.get(new_step("when-and-falls")))
    assert 'value="2024-03-01"' in first and 'value="3"' in first


def test_answers_sent_after_the_session_ended_are_kept_through_login(patient_page, patient_user, own_patient):
    page = html(patient_page.get(new_step("mobility")))
    owner = re.search(r'name="report_owner" value="([^"]+)"', page).group(1)
    Session.objects.all().delete()  # the session ends (expiry, or the server forgot it)

    typed = TYPED["mobility"] | {"report_owner": owner, "csrfmiddlewaretoken": "a-token"}
    response = post_step(patient_page, new_step("mobility"), typed)

    assert response.status_code == 302
    assert response["Location"] == f"{settings.LOGIN_URL}?next={new_step('mobility')}"
    assert not ReportDraft.objects.exists()
    kept = patient_page.session[STASH_KEY][new_step("mobility")]
    assert "csrfmiddlewaretoken" not in kept and "action" not in kept
    assert kept["devices"] == ["afo", "cane"]

    patient_page.force_login(patient_user)  # logging in keeps the new session's data
    back = patient_page.get(new_step("mobility"))

    assert back.status_code == 200
    assert re.search(r'value="2"[^>]*checked', html(back))
    assert re.search(r'value="cane"[^>]*checked', html(back))
    assert "Your answers from before your session ended are below" in html(back)
    draft = ReportDraft.objects.get(patient=own_patient)
    assert (draft.data["ambulation_class"], draft.data["devices"]) == (2, ["afo", "cane"])
    assert STASH_KEY not in patient_page.session or not patient_page.session[STASH_KEY]


def test_answers_kept_from_an_ended_session_go_to_no_one_else(patient_page, own_patient):
    page = html(patient_page.get(new_step("mobility")))
    owner = re.search(r'name="report_owner" value="([^"]+)"', page).group(1)
    Session.objects.all().delete()
    post_step(patient_page, new_step("mobility"), TYPED["mobility"] | {"report_owner": owner})

    someone_else = factories.UserFactory(username="patient.next")
    someone_else.groups.add(Group.objects.get_or_create(name=roles.PATIENT)[0])
    factories.PatientFactory(account=someone_else)
    patient_page.force_login(someone_else)
    shown = html(patient_page.get(new_step("mobility")))

    assert "cane" not in re.findall(r'value="(\w+)"[^>]*checked', shown)
    assert not ReportDraft.objects.exists()


# --- Sent reports and corrections ------------------------------------------------------------------


def test_a_correction_within_the_window_updates_the_report(patient_page, sent_report):
    start = patient_page.get(reverse("portal:report-correct", kwargs={"report": sent_report.uuid}))
    assert start["Location"] == correct_step(sent_report, "when-and-falls")
    seeded = html(patient_page.get(correct_step(sent_report, "when-and-falls")))
    assert 'value="2"' in seeded and 'value="2024-03-01"' in seeded

    post_step(patient_page, correct_step(sent_report, "when-and-falls"), TYPED["when-and-falls"] | {"falls_count": "4"})
    check = html(patient_page.get(correct_step(sent_report, "check")))
    assert "As sent" in check  # answers not touched are the report's own
    sent = patient_page.post(correct_step(sent_report, "check"), {"action": "send"})

    assert sent["Location"] == detail(sent_report)
    sent_report.refresh_from_db()
    assert (sent_report.falls_count, sent_report.devices, sent_report.comment) == (4, ["cane"], "As sent")
    assert (sent_report.version, sent_report.source) == (2, Source.PATIENT)
    assert Assessment.objects.count() == 1
    assert not ReportDraft.objects.exists()


def test_a_correction_is_refused_after_the_window(patient_page, sent_report):
    days = settings.REGISTRY_REPORT_CORRECTION_DAYS
    Assessment.objects.filter(pk=sent_report.pk).update(created_at=timezone.now() - dt.timedelta(days=days, seconds=1))

    shown = html(patient_page.get(detail(sent_report)))
    started = patient_page.get(reverse("portal:report-correct", kwargs={"report": sent_report.uuid}))
    posted = post_step(patient_page, correct_step(sent_report, "when-and-falls"), TYPED["when-and-falls"])

    assert "corrections to this one now go through the registry team" in shown
    assert "Correct this report" not in shown
    assert started["Location"] == posted["Location"] == detail(sent_report)
    sent_report.refresh_from_db()
    assert (sent_report.falls_count, sent_report.version) == (2, 1)
    assert not ReportDraft.objects.exists()


def test_the_window_closing_while_correcting_keeps_the_report_as_it_was(patient_page, sent_report):
    post_step(patient_page, correct_step(sent_report, "when-and-falls"), TYPED["when-and-falls"])
    later = sent_report.created_at + dt.timedelta(days=settings.REGISTRY_REPORT_CORRECTION_DAYS)

    with mock.patch("django.utils.timezone.now", return_value=later):
        sent = patient_page.post(correct_step(sent_report, "check"), {"action": "send"})

    assert sent["Location"] == detail(sent_report)
    sent_report.refresh_from_db()
    assert sent_report.version == 1


def test_a_change_by_the_registry_team_meanwhile_is_not_overwritten_unseen(patient_page, sent_report):
    post_step(patient_page, correct_step(sent_report, "when-and-falls"), TYPED["when-and-falls"] | {"falls_count": "4"})
    services.assessment_update(assessment=sent_report, expected_version=1, data={"fractures_count": 0})

    first = patient_page.post(correct_step(sent_report, "check"), {"action": "send"})

    assert first["Location"] == correct_step(sent_report, "check")
    assert "The registry team changed this report" in html(patient_page.get(first["Location"]))
    sent_report.refresh_from_db()
    assert (sent_report.falls_count, sent_report.version) == (2, 2)

    again = patient_page.post(correct_step(sent_report, "check"), {"action": "send"})  # seen, and sent again

    assert again["Location"] == detail(sent_report)
    sent_report.refresh_from_db()
    assert (sent_report.falls_count, sent_report.version) == (4, 3)


def test_a_correction_asks_for_a_required_answer_the_report_lacks(patient_page, own_patient, patient_user):
    """A report sent through the API may lack what the pages require: the correction asks for it."""
    bare = services.patient_report_create(
        patient=own_patient, data={"assessment_date": dt.date(2024, 3, 1), "falls_count": 0}, entered_by=patient_user
    )
    post_step(patient_page, correct_step(bare, "treatments-and-comments"), {"comment": "Forgot the cane"})

    sent = patient_page.post(correct_step(bare, "check"), {"action": "send"})

    assert sent["Location"] == correct_step(bare, "mobility")
    assert "Choose one of the answers." in html(patient_page.get(sent["Location"]))
    bare.refresh_from_db()
    assert (bare.version, bare.comment) == (1, "")


def test_a_clinicians_assessment_is_shown_but_not_correctable(patient_page, own_patient):
    clinicians = factories.AssessmentFactory(patient=own_patient, source=Source.CLINICIAN)

    shown = html(patient_page.get(detail(clinicians)))
    started = patient_page.get(reverse("portal:report-correct", kwargs={"report": clinicians.uuid}))

    assert "entered by the registry team" in shown
    assert started["Location"] == detail(clinicians)


# --- Who may see these pages -------------------------------------------------------------------------


def test_another_patients_report_is_not_found(patient_page, other_patient):
    theirs = factories.AssessmentFactory(patient=other_patient, source=Source.PATIENT)

    for url in (
        detail(theirs),
        reverse("portal:report-correct", kwargs={"report": theirs.uuid}),
        correct_step(theirs, "when-and-falls"),
    ):
        assert patient_page.get(url).status_code == 404
    assert post_step(patient_page, correct_step(theirs, "when-and-falls"), TYPED["when-and-falls"]).status_code == 404
    theirs.refresh_from_db()
    assert theirs.version == 1


def test_an_unknown_step_is_not_found(patient_page):
    assert patient_page.get(new_step("step-six")).status_code == 404
    assert post_step(patient_page, new_step("step-six"), {}).status_code == 404


@pytest.mark.parametrize("persona", ["staff", "researcher"])
def test_staff_and_researchers_are_refused(persona, staff_user, researcher_user, sent_report):
    client = login({"staff": staff_user, "researcher": researcher_user}[persona])

    for url in (NEW, new_step("mobility"), detail(sent_report)):
        assert client.get(url).status_code == 403
    assert post_step(client, new_step("mobility"), TYPED["mobility"]).status_code == 403
    assert not ReportDraft.objects.exists()


def test_anonymous_visitors_are_asked_to_log_in(sent_report):
    for url in (NEW, new_step("mobility"), detail(sent_report)):
        response = Client().get(url)
        assert response["Location"] == f"{settings.LOGIN_URL}?next={url}"
