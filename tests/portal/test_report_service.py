"""Patients' own reports through the services (docs/patient-reports.md): what a patient may report,
the source, the correction window, the patient's own time zone, and the drafts kept between steps."""

import datetime as dt
import threading
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from assessments import services
from assessments.models import Assessment, Source
from portal import drafts
from portal.models import ReportDraft
from registry.errors import StaleVersionError, ValidationError
from tests import factories

pytestmark = pytest.mark.django_db

WINDOW = dt.timedelta(days=settings.REGISTRY_REPORT_CORRECTION_DAYS)


# --- Scene ---------------------------------------------------------------------------------------


@pytest.fixture
def user(db):
    return factories.UserFactory(username="patient.noa")


@pytest.fixture
def patient(user):
    """Born 1980-06-15, no diagnosis; their own login is `user`."""
    return factories.PatientFactory(account=user)


def report(**fields) -> dict:
    return {"assessment_date": dt.date(2024, 3, 1), "falls_count": 2} | fields


def sent(patient, user, **fields) -> Assessment:
    return services.patient_report_create(patient=patient, data=report(**fields), entered_by=user)


def refused_fields(call) -> dict:
    """The call raises ValidationError; its messages by field."""
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.message_dict


def at(moment: dt.datetime):
    """Freeze "now" (and so every "today") at an aware moment."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


# --- Creating ------------------------------------------------------------------------------------


def test_a_report_is_stored_as_the_patients_own(patient, user):
    created = sent(patient, user, devices=["cane"], treatments_taken=["mannac"], comment="  Tired lately.  ")

    stored = Assessment.objects.get(pk=created.pk)
    assert (stored.source, stored.entered_by, stored.patient) == (Source.PATIENT, user, patient)
    assert (stored.falls_count, stored.devices, stored.treatments_taken) == (2, ["cane"], ["mannac"])
    assert stored.comment == "Tired lately."  # stripped


def test_the_source_is_always_patient(patient, user):
    assert sent(patient, user, source="patient").source == Source.PATIENT
    assert refused_fields(lambda: sent(patient, user, source="clinician")) == {
        "source": ["A patient's own report is always recorded as a self-report."]
    }
    assert Assessment.objects.filter(patient=patient).count() == 1


@pytest.mark.parametrize(
    "field", ["six_minute_walk_m", "grip_left_kg", "ck_u_per_l", "ambulation_regain_confirmed", "ibmfrs_total"]
)
def test_a_patient_reports_only_what_a_patient_can_observe(patient, user, field):
    errors = refused_fields(lambda: sent(patient, user, **{field: 1}))

    assert list(errors) == [field]
    assert not Assessment.objects.exists()


def test_the_ibmfrs_total_is_computed_from_the_ten_items(patient, user):
    items = dict.fromkeys(services.IBMFRS_ITEMS, 3)

    assert sent(patient, user, **items).ibmfrs_total == 30


def test_every_assessment_rule_applies_to_a_patients_report(patient, user):
    errors = refused_fields(lambda: sent(patient, user, falls_count=1, injurious_falls_count=2))

    assert list(errors) == ["injurious_falls_count"]


def test_a_report_needs_its_date_and_says_so(patient, user):
    errors = refused_fields(
        lambda: services.patient_report_create(patient=patient, data={"falls_count": 0}, entered_by=user)
    )

    assert errors == {"assessment_date": ["Enter the date of the assessment."]}


@pytest.mark.parametrize(
    ("treatments", "accepted"),
    [
        ([], True),
        (["sialic_acid", "mannac"], True),
        (["mannac", "mannac"], False),
        (["aspirin"], False),
        ("mannac", False),
        ([1], False),
    ],
)
def test_treatments_taken_are_known_codes_each_once(patient, user, treatments, accepted):
    if accepted:
        assert sent(patient, user, treatments_taken=treatments).treatments_taken == treatments
    else:
        assert list(refused_fields(lambda: sent(patient, user, treatments_taken=treatments))) == ["treatments_taken"]


def test_the_comment_is_bounded_text(patient, user):
    limit = services.COMMENT_MAX_LENGTH

    assert len(sent(patient, user, comment="é" * limit).comment) == limit
    assert sent(patient, user, comment=" " * 5000 + "ok").comment == "ok"  # judged once stripped
    assert list(refused_fields(lambda: sent(patient, user, comment="x" * (limit + 1)))) == ["comment"]
    assert list(refused_fields(lambda: sent(patient, user, comment=42))) == ["comment"]


def test_the_staff_path_stores_the_new_fields_too(patient, staff_user):
    created = services.assessment_create(
        patient=patient,
        data=report(source=Source.CLINICIAN, treatments_taken=["sialic_acid_er"], comment="Seen in clinic."),
        entered_by=staff_user,
    )

    assert (created.treatments_taken, created.comment) == (["sialic_acid_er"], "Seen in clinic.")


# --- The patient's own time zone ---------------------------------------------------------------

# 22:30 UTC on 9 May is 07:30 on 10 May in Tokyo.
LATE_EVENING_UTC = dt.datetime(2024, 5, 9, 22, 30, tzinfo=dt.UTC)
TOKYO_TODAY = dt.date(2024, 5, 10)


def test_a_patient_east_of_utc_can_enter_their_own_today(user):
    tokyo = factories.PatientFactory(account=user, time_zone="Asia/Tokyo")

    with at(LATE_EVENING_UTC):
        created = services.patient_report_create(
            patient=tokyo, data=report(assessment_date=TOKYO_TODAY), entered_by=user
        )

    assert created.assessment_date == TOKYO_TODAY


def test_the_same_date_is_in_the_future_for_a_patient_in_utc(patient, user):
    assert patient.time_zone == ""  # the registry's own: UTC

    with at(LATE_EVENING_UTC):
        errors = refused_fields(lambda: sent(patient, user, assessment_date=TOKYO_TODAY))

    assert errors == {"assessment_date": ["The assessment date cannot be in the future."]}


def test_every_path_judges_a_patients_dates_in_their_zone(staff_user):
    """Staff entering the Tokyo patient's visit (API, admin, import) see the same today as the patient."""
    tokyo = factories.PatientFactory(time_zone="Asia/Tokyo")
    earlier = factories.AssessmentFactory(patient=tokyo)

    with at(LATE_EVENING_UTC):
        created = services.assessment_create(
            patient=tokyo, data=report(assessment_date=TOKYO_TODAY, source=Source.CLINICIAN), entered_by=staff_user
        )
        moved = services.assessment_update(
            assessment=earlier, expected_version=1, data={"assessment_date": TOKYO_TODAY}
        )
        with pytest.raises(ValidationError):
            services.assessment_create(
                patient=tokyo,
                data=report(assessment_date=TOKYO_TODAY + dt.timedelta(days=1), source=Source.CLINICIAN),
            )

    assert (created.assessment_date, moved.assessment_date) == (TOKYO_TODAY, TOKYO_TODAY)
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE  # the override ended with the call


def test_an_unknown_zone_name_falls_back_to_the_registrys(user):
    patient = factories.PatientFactory(account=user, time_zone="Mars/Olympus_Mons")

    with at(LATE_EVENING_UTC):
        errors = refused_fields(lambda: sent(patient, user, assessment_date=TOKYO_TODAY))

    assert list(errors) == ["assessment_date"]


# --- Correcting ------------------------------------------------------------------------------------


def correct(assessment, user, **fields) -> Assessment:
    return services.patient_report_correct(
        assessment=assessment, expected_version=assessment.version, data=fields, corrected_by=user
    )


def test_a_patient_corrects_their_own_report(patient, user):
    created = sent(patient, user, comment="First")

    corrected = correct(created, user, falls_count=3, comment="Second")

    stored = Assessment.objects.get(pk=created.pk)
    assert (stored.falls_count, stored.comment, stored.version, stored.source) == (3, "Second", 2, Source.PATIENT)
    assert corrected.version == 2


@pytest.mark.parametrize(
    ("after", "allowed"),
    [
        (dt.timedelta(0), True),
        (WINDOW - dt.timedelta(microseconds=1), True),
        (WINDOW, False),
        (WINDOW + dt.timedelta(days=300), False),
    ],
)
def test_the_correction_window_is_counted_from_sending(patient, user, after, allowed):
    created = sent(patient, user)

    with at(created.created_at + after):
        if allowed:
            assert correct(created, user, falls_count=5).falls_count == 5
            return
        with pytest.raises(services.ReportCorrectionRefused) as info:
            correct(created, user, falls_count=5)

    assert "corrections to this one now go through the registry team" in str(info.value)
    assert Assessment.objects.get(pk=created.pk).falls_count == 2


def test_a_clinicians_assessment_is_not_the_patients_to_correct(patient, user):
    clinicians = factories.AssessmentFactory(patient=patient, source=Source.CLINICIAN)

    with pytest.raises(services.ReportCorrectionRefused, match="entered by the registry team"):
        correct(clinicians, user, falls_count=0)


def test_only_the_patient_themself_corrects_their_report(patient, user):
    created = sent(patient, user)
    somebody_else = factories.UserFactory(username="patient.other")

    with pytest.raises(services.ReportCorrectionRefused, match="not one of your reports"):
        correct(created, somebody_else, falls_count=0)


def test_a_correction_changes_only_what_a_patient_reports(patient, user):
    created = sent(patient, user)

    assert set(refused_fields(lambda: correct(created, user, source="clinician", grip_left_kg=30))) == {
        "source",
        "grip_left_kg",
    }
    assert Assessment.objects.get(pk=created.pk).version == 1


def test_a_correction_from_an_old_version_is_refused(patient, user):
    created = sent(patient, user)
    correct(created, user, falls_count=3)

    with pytest.raises(StaleVersionError):
        services.patient_report_correct(assessment=created, expected_version=1, data={}, corrected_by=user)


# --- Drafts ------------------------------------------------------------------------------------------


def test_a_draft_collects_the_steps_and_remembers_where_to_resume(patient):
    drafts.draft_save_step(
        patient=patient, answers={"assessment_date": dt.date(2024, 3, 1), "falls_count": 1}, resume_at="mobility"
    )
    drafts.draft_save_step(patient=patient, answers={"devices": ["cane"]}, resume_at="daily-activities")

    draft = ReportDraft.objects.get(patient=patient)
    assert draft.assessment is None
    assert draft.step == "daily-activities"
    assert draft.data == {"assessment_date": "2024-03-01", "falls_count": 1, "devices": ["cane"]}


def test_a_correction_draft_starts_from_the_report_and_its_version(patient, user):
    created = sent(patient, user, devices=["afo"])

    drafts.draft_save_step(patient=patient, assessment=created, answers={"falls_count": 4}, resume_at="check")

    draft = ReportDraft.objects.get(assessment=created)
    assert draft.data[drafts.CORRECTED_VERSION] == 1
    assert (draft.data["assessment_date"], draft.data["devices"], draft.data["falls_count"]) == (
        "2024-03-01",
        ["afo"],
        4,
    )
    # A new report's draft and a correction's live side by side.
    drafts.draft_save_step(patient=patient, answers={"falls_count": 0}, resume_at="mobility")
    assert ReportDraft.objects.filter(patient=patient).count() == 2


def test_sending_writes_the_report_and_discards_the_draft_together(patient, user):
    drafts.draft_save_step(patient=patient, answers={"falls_count": 1}, resume_at="check")

    created = drafts.draft_submit(patient=patient, data=report(), user=user)

    assert created.source == Source.PATIENT
    assert not ReportDraft.objects.exists()
    with pytest.raises(drafts.DraftGone):  # a second click on Send makes no second report
        drafts.draft_submit(patient=patient, data=report(), user=user)
    assert Assessment.objects.count() == 1


def test_a_refused_report_keeps_its_draft(patient, user):
    drafts.draft_save_step(patient=patient, answers={"falls_count": 1}, resume_at="check")

    with pytest.raises(ValidationError):
        drafts.draft_submit(patient=patient, data=report(injurious_falls_count=9), user=user)

    assert ReportDraft.objects.get(patient=patient).data == {"falls_count": 1}
    assert not Assessment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_tabs_saving_their_first_step_at_once_share_one_draft():
    """Both insert at once: the partial unique constraint makes one wait and then find the other's row."""
    for trial in range(6):
        patient = factories.PatientFactory()
        start = threading.Barrier(2)
        failures = []

        def save(answers, patient=patient, start=start, failures=failures):
            try:
                start.wait()
                drafts.draft_save_step(patient=patient, answers=answers, resume_at="mobility")
            except Exception as error:  # reported below, with the trial
                failures.append(error)
            finally:
                connection.close()

        tabs = [
            threading.Thread(target=save, args=({"falls_count": 1},)),
            threading.Thread(target=save, args=({"devices": ["cane"]},)),
        ]
        for tab in tabs:
            tab.start()
        for tab in tabs:
            tab.join()

        assert failures == [], f"trial {trial}"
        assert ReportDraft.objects.get(patient=patient).data == {"falls_count": 1, "devices": ["cane"]}
