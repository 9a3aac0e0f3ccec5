"""Follow-up reminders (portal/reminders.py, portal/tasks.py): one email per due date, only to
enrolled patients, judged on their own calendar, never twice even when two runs overlap, and
retried by a later run when the mail server fails."""

import datetime as dt
import smtplib
import threading
import time

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.utils import timezone

from patients.models import EnrollmentStatus, PatientIdentity
from portal import tasks
from portal.models import FollowUpReminder
from portal.reminders import follow_up_reminders_due, follow_up_reminders_send
from tests import factories

# 20:00 UTC on 30 June 2024: still 30 June in UTC, already 1 July in Tokyo.
NOW = dt.datetime(2024, 6, 30, 20, 0, tzinfo=dt.UTC)
# A report on this day makes the next one due on 30 June 2024 (six months later).
DUE_TODAY = dt.date(2023, 12, 30)


def make_patient(*, status=EnrollmentStatus.ENROLLED, last_report=DUE_TODAY, time_zone="", email="pat@example.org"):
    patient = factories.PatientFactory(status=status, time_zone=time_zone, identity__email=email)
    if last_report:
        factories.AssessmentFactory(patient=patient, assessment_date=last_report - dt.timedelta(days=200))
        factories.AssessmentFactory(patient=patient, assessment_date=last_report)
    return patient


def sent_to() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


class FailingBackend(EmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class SlowBackend(EmailBackend):
    """Holds each reminder's transaction open a while, so overlapping runs really collide."""

    def send_messages(self, messages):
        time.sleep(0.3)
        return super().send_messages(messages)


# --- Who gets one -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_due_patient_gets_one_email_and_a_record_of_it(mailoutbox, settings):
    settings.REGISTRY_PUBLIC_URL = "https://registry.example.org/"
    patient = make_patient()
    patient.identity.given_name = "Noa"
    patient.identity.save()

    assert follow_up_reminders_send(now=NOW) == 1

    (message,) = mailoutbox
    assert message.to == ["pat@example.org"]
    assert message.from_email == django_settings.DEFAULT_FROM_EMAIL
    assert message.subject == "Time for your GNE registry follow-up report"
    assert "Dear Noa," in message.body
    assert "https://registry.example.org/me/reports/new/" in message.body
    assert "was due on 2024-06-30" in message.body
    reminder = FollowUpReminder.objects.get()
    assert (reminder.patient_id, reminder.due_on, reminder.email) == (
        patient.pk,
        dt.date(2024, 6, 30),
        "pat@example.org",
    )


@pytest.mark.django_db
def test_a_second_run_sends_nothing(mailoutbox):
    make_patient()
    assert follow_up_reminders_send(now=NOW) == 1
    assert follow_up_reminders_send(now=NOW) == 0
    assert follow_up_reminders_send(now=NOW + dt.timedelta(days=20)) == 0  # still the same due date
    assert len(mailoutbox) == 1 and FollowUpReminder.objects.count() == 1


@pytest.mark.django_db
def test_a_new_report_brings_a_new_due_date_and_a_new_reminder(mailoutbox):
    patient = make_patient()
    follow_up_reminders_send(now=NOW)
    factories.AssessmentFactory(patient=patient, assessment_date=dt.date(2024, 7, 2))
    assert follow_up_reminders_send(now=NOW + dt.timedelta(days=30)) == 0  # not due again until January
    assert follow_up_reminders_send(now=dt.datetime(2025, 1, 2, 9, tzinfo=dt.UTC)) == 1
    assert sorted(FollowUpReminder.objects.values_list("due_on", flat=True)) == [
        dt.date(2024, 6, 30),
        dt.date(2025, 1, 2),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status",
    [
        EnrollmentStatus.WITHDRAWN,
        EnrollmentStatus.DECEASED,
        EnrollmentStatus.CANDIDATE,
        EnrollmentStatus.LOST_TO_FOLLOW_UP,
    ],
)
def test_only_enrolled_patients_are_reminded(mailoutbox, status):
    make_patient(status=status)
    assert follow_up_reminders_send(now=NOW) == 0
    assert mailoutbox == [] and not FollowUpReminder.objects.exists()


@pytest.mark.django_db
def test_a_patient_with_a_date_of_death_is_not_reminded_whatever_the_status(mailoutbox):
    patient = make_patient()
    PatientIdentity.objects.filter(patient=patient).update(date_of_death=dt.date(2024, 6, 1))
    assert follow_up_reminders_send(now=NOW) == 0


@pytest.mark.django_db
def test_no_reminder_before_the_due_date_nor_without_any_report(mailoutbox):
    make_patient(last_report=dt.date(2024, 1, 1), email="tomorrow@example.org")  # due on 1 July
    make_patient(last_report=None, email="never-reported@example.org")
    assert follow_up_reminders_send(now=NOW) == 0
    assert follow_up_reminders_send(now=NOW + dt.timedelta(days=1)) == 1
    assert sent_to() == ["tomorrow@example.org"]


@pytest.mark.django_db
def test_due_is_judged_on_the_patients_own_calendar(mailoutbox):
    # Due on 1 July: already today in Tokyo, still tomorrow in UTC and in Los Angeles.
    make_patient(last_report=dt.date(2024, 1, 1), time_zone="Asia/Tokyo", email="tokyo@example.org")
    make_patient(last_report=dt.date(2024, 1, 1), time_zone="", email="utc@example.org")
    make_patient(last_report=dt.date(2024, 1, 1), time_zone="America/Los_Angeles", email="la@example.org")
    assert follow_up_reminders_send(now=NOW) == 1
    assert sent_to() == ["tokyo@example.org"]


@pytest.mark.django_db
def test_the_record_email_comes_first_then_the_login_email_and_without_either_no_reminder(mailoutbox):
    account = factories.UserFactory(username="patient.acc", email="login@example.org")
    with_login = make_patient(email="")
    with_login.account = account
    with_login.save(update_fields=["account"])
    make_patient(email="")  # nowhere to send it
    assert follow_up_reminders_send(now=NOW) == 1
    assert sent_to() == ["login@example.org"]


@pytest.mark.django_db
def test_month_ends_fall_due_in_the_shorter_month(mailoutbox):
    make_patient(last_report=dt.date(2023, 8, 31))  # + 6 months: 29 February 2024 (a leap year)
    assert follow_up_reminders_send(now=dt.datetime(2024, 2, 28, 12, tzinfo=dt.UTC)) == 0
    assert follow_up_reminders_send(now=dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC)) == 1
    assert FollowUpReminder.objects.get().due_on == dt.date(2024, 2, 29)


@pytest.mark.django_db
@pytest.mark.parametrize("patients", [1, 6])
def test_finding_the_due_patients_is_one_query(patients, django_assert_num_queries):
    for number in range(patients):
        make_patient(email=f"p{number}@example.org", time_zone=["", "Asia/Tokyo", "Europe/Paris"][number % 3])
    factories.PatientFactory(status=EnrollmentStatus.WITHDRAWN)
    with django_assert_num_queries(1):
        due = follow_up_reminders_due(now=NOW)
    assert len(due) == patients


# --- Failures and overlapping runs ------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_mail_server_leaves_no_record_and_a_later_run_sends(mailoutbox, settings):
    make_patient(email="first@example.org")
    make_patient(email="second@example.org")
    settings.EMAIL_BACKEND = "tests.portal.test_reminders.FailingBackend"

    assert follow_up_reminders_send(now=NOW) == 0  # both failed; neither stopped the other

    assert not FollowUpReminder.objects.exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert follow_up_reminders_send(now=NOW + dt.timedelta(hours=1)) == 2
    assert sent_to() == ["first@example.org", "second@example.org"]
    assert FollowUpReminder.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_runs_send_exactly_one_email_per_patient(mailoutbox, settings):
    settings.EMAIL_BACKEND = "tests.portal.test_reminders.SlowBackend"
    addresses = [f"patient{number}@example.org" for number in range(4)]
    for address in addresses:
        make_patient(email=address)
    start = threading.Barrier(2)
    counts, errors = [], []

    def run():
        try:
            start.wait()
            counts.append(follow_up_reminders_send(now=NOW))
        except Exception as error:  # surfaced below; a thread's exception is otherwise lost
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(counts) == len(addresses)
    assert sent_to() == addresses  # each exactly once
    assert FollowUpReminder.objects.count() == len(addresses)


# --- The beat task ----------------------------------------------------------------------------


def test_the_task_is_the_one_the_beat_schedule_names():
    schedule = django_settings.CELERY_BEAT_SCHEDULE["send-follow-up-reminders"]
    assert tasks.send_follow_up_reminders.name == schedule["task"] == "portal.send_follow_up_reminders"


@pytest.mark.django_db
def test_the_task_sends_the_reminders_due_now(mailoutbox):
    today = timezone.localdate()
    make_patient(last_report=today.replace(day=1) - dt.timedelta(days=400))
    assert tasks.send_follow_up_reminders.apply().get() == 1
    assert tasks.send_follow_up_reminders.apply().get() == 0
    assert len(mailoutbox) == 1
