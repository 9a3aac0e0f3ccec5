"""When a patient's next follow-up report is due, and what "today" is for them: the rules both
`/me/` and the reminder emails use.

The due date is the date of the latest assessment (whoever reported it: the patient, their clinic,
or an import) plus REGISTRY_FOLLOW_UP_MONTHS calendar months. A patient with no assessment has no
due date yet: they are asked for a first report when they are invited, not reminded.
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.conf import settings
from django.utils import timezone

from patients.models import Patient


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later (or earlier), on the month's last day when it is shorter.

    31 August plus six months is 28 (or 29) February, never 3 March: a reminder must not slip into
    the next month because February is short.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def follow_up_due_on(last_assessment_on: dt.date | None) -> dt.date | None:
    """The day the next follow-up report is due, or None when nothing has been reported yet."""
    if last_assessment_on is None:
        return None
    return add_months(last_assessment_on, settings.REGISTRY_FOLLOW_UP_MONTHS)


def patient_today(patient: Patient, *, now: dt.datetime | None = None) -> dt.date:
    """Today's date where the patient lives (at `now`, by default the present moment)."""
    return timezone.localdate(now or timezone.now(), timezone=patient.zone)


def reminder_email(patient: Patient) -> str:
    """Where reminders go: the email on the patient's record, else their login's; "" when neither.

    `patient` comes with identity and account joined (select_related), so this reads no row.
    """
    identity = getattr(patient, "identity", None)
    account = patient.account if patient.account_id else None
    return (identity.email if identity else "") or (account.email if account else "")
