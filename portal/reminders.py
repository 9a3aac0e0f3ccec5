"""Follow-up reminders: one email per due date to each enrolled patient whose next report is due.

Who: patients enrolled today (never candidates, withdrawn, lost to follow-up or deceased) with at
least one assessment, whose due date (portal.followup) is today or past on their own calendar, and
who have an email address (the one on their record, else their login's). Run every hour by the
Celery beat task `portal.send_follow_up_reminders`; every run finds the same patients until they
report, and the FollowUpReminder row is what stops a second email.

Sent once, even when two runs overlap (a slow tick and the next one, or two workers): each email
is sent inside a transaction that first inserts the FollowUpReminder row for (patient, due date).
The unique constraint decides: the second inserter waits for the first transaction and then fails,
so only the first sends. If sending fails, the row goes with the rolled-back transaction and a
later run tries again. The SMTP call therefore happens inside the transaction, against the usual
rule, because here the row must not outlive a failed send; EMAIL_TIMEOUT bounds how long the row
stays locked.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from assessments.models import Assessment
from patients.models import EnrollmentStatus, Patient
from portal.followup import add_months, follow_up_due_on, patient_today, reminder_email
from portal.models import FollowUpReminder

logger = logging.getLogger(__name__)

# The zones furthest ahead of UTC (Kiribati, UTC+14) reach a date first: nobody's today is later
# than UTC's now plus this.
FURTHEST_AHEAD = dt.timedelta(hours=14)


@dataclass(frozen=True)
class DueReminder:
    patient: Patient
    due_on: dt.date
    email: str


def follow_up_reminders_due(*, now: dt.datetime | None = None) -> list[DueReminder]:
    """Reminders to send at `now`, found with one query whatever the number of patients.

    The query narrows the patients down by a date that is late enough for every time zone; each
    one's due date is then judged on their own calendar here, where their zone is known.
    """
    now = now or timezone.now()
    latest_today = (now + FURTHEST_AHEAD).astimezone(dt.UTC).date()
    # Three days of slack: a month-end date moved to a shorter month (31 August + 6 months is
    # 28 February) is due earlier than subtracting the months back would say.
    latest_last_assessment = add_months(latest_today, -settings.REGISTRY_FOLLOW_UP_MONTHS) + dt.timedelta(days=3)
    patients = (
        Patient.objects.filter(status=EnrollmentStatus.ENROLLED, identity__date_of_death__isnull=True)
        .select_related("identity", "account")
        .annotate(
            last_assessment_on=Subquery(
                Assessment.objects.filter(patient=OuterRef("pk"))
                .order_by("-assessment_date")
                .values("assessment_date")[:1]
            ),
            last_reminded_for=Subquery(
                FollowUpReminder.objects.filter(patient=OuterRef("pk")).order_by("-due_on").values("due_on")[:1]
            ),
        )
        .filter(last_assessment_on__lte=latest_last_assessment)
        # The same order in every run: overlapping runs wait for each other's rows one at a time,
        # never in a cycle (no deadlock).
        .order_by("pk")
    )
    due = []
    for patient in patients:
        due_on = follow_up_due_on(patient.last_assessment_on)
        email = reminder_email(patient)
        already_reminded = patient.last_reminded_for is not None and patient.last_reminded_for >= due_on
        if email and not already_reminded and due_on <= patient_today(patient, now=now):
            due.append(DueReminder(patient=patient, due_on=due_on, email=email))
    return due


def follow_up_reminder_send(*, reminder: DueReminder) -> bool:
    """Record and send one reminder; False when another run recorded it first.

    Raises what the email backend raises, with nothing recorded.
    """
    try:
        with transaction.atomic():
            FollowUpReminder.objects.create(patient=reminder.patient, due_on=reminder.due_on, email=reminder.email)
            subject, body = _reminder_message(reminder)
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [reminder.email])
    except IntegrityError:
        return False  # the unique (patient, due_on): someone else has sent it
    return True


def follow_up_reminders_send(*, now: dt.datetime | None = None) -> int:
    """Send every reminder due at `now`; returns how many were sent by this run.

    An email the mail server refuses or cannot take is logged and left for a later run; it does
    not stop the others.
    """
    sent = 0
    for reminder in follow_up_reminders_due(now=now):
        try:
            sent += follow_up_reminder_send(reminder=reminder)
        except (smtplib.SMTPException, OSError):
            logger.exception("Follow-up reminder to patient %s not sent; a later run retries.", reminder.patient.pk)
    return sent


def _reminder_message(reminder: DueReminder) -> tuple[str, str]:
    identity = getattr(reminder.patient, "identity", None)
    name = identity.given_name if identity and identity.given_name else ""
    link = settings.REGISTRY_PUBLIC_URL.rstrip("/") + reverse("portal:report-new")
    subject = _("Time for your GNE registry follow-up report")
    greeting = _("Dear %(name)s,") % {"name": name} if name else _("Hello,")
    body = "\n\n".join(
        [
            greeting,
            _(
                "Your next follow-up report for the GNE myopathy registry was due on %(day)s. It takes a few "
                "minutes: falls, walking aids, daily activities and treatments since your last report."
            )
            % {"day": reminder.due_on.isoformat()},
            _("Send it here (you can stop and continue later): %(link)s") % {"link": link},
            _("Thank you: every report helps researchers understand how GNE myopathy changes over time."),
            _("You receive this email because you take part in the GNE myopathy registry."),
        ]
    )
    return subject, body + "\n"
