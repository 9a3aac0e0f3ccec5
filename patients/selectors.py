"""Reads about patients that other apps and the API rely on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from patients.models import ConsentGrant, EnrollmentStatus, Patient


@dataclass(frozen=True)
class DateLimits:
    """Dates that bound when clinical events can have happened for one patient."""

    birth: dt.date | None
    death: dt.date | None
    withdrawn_from: dt.date | None


def patient_date_limits(patient: Patient) -> DateLimits:
    identity = getattr(patient, "identity", None)
    withdrawal = None
    if patient.status == EnrollmentStatus.WITHDRAWN:
        event = patient.enrollment_events.filter(status=EnrollmentStatus.WITHDRAWN).order_by("-effective_date").first()
        withdrawal = event.effective_date if event else None
    return DateLimits(
        birth=identity.date_of_birth if identity else None,
        death=identity.date_of_death if identity else None,
        withdrawn_from=withdrawal,
    )


def consent_is_active(*, patient: Patient, purpose: str, on: dt.date) -> bool:
    """Whether the patient had consented to a purpose on a given day (and not withdrawn by then)."""
    return (
        ConsentGrant.objects.filter(patient=patient, purpose=purpose, granted_on__lte=on)
        .exclude(withdrawn_on__lte=on)
        .exists()
    )
