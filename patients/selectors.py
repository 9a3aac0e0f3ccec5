"""Reads about patients that other apps and the API rely on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from patients.models import ConsentGrant, EnrollmentStatus, Patient
from registry.dates import PartialDate, add_years, age_in_years, years_between


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


@dataclass(frozen=True)
class DiagnosisTimeline:
    """Onset and genetic diagnosis as intervals, and the figures computed from them.

    A partial date ("2010") or an age at onset (24) is an interval of possible days. Point figures
    use the interval's midpoint (unbiased when any day is as likely as another); the range beside
    them says how far off they can be. See docs/clinical-rules.md, "Partial dates".
    """

    onset: tuple[dt.date, dt.date] | None
    genetic_diagnosis: tuple[dt.date, dt.date] | None
    onset_age_years: float | None  # from the date of birth to the onset's midpoint
    onset_age_range: tuple[int, int] | None  # completed years on the first and last possible day
    diagnostic_delay_years: float | None
    diagnostic_delay_range: tuple[float, float] | None
    diagnosis_before_onset: bool  # certainly: the whole diagnosis interval precedes the onset's


def _midpoint(interval: tuple[dt.date, dt.date]) -> dt.date:
    return interval[0] + (interval[1] - interval[0]) / 2


def onset_interval(
    onset: PartialDate | None, onset_age: int | None, birth: dt.date | None
) -> tuple[dt.date, dt.date] | None:
    """The days on which symptoms may have begun: the onset date's interval, else the year of age."""
    if onset:
        return onset.earliest, onset.latest
    if onset_age is not None and birth:
        return add_years(birth, onset_age), add_years(birth, onset_age + 1) - dt.timedelta(days=1)
    return None


def diagnosis_timeline(
    *,
    onset: PartialDate | None,
    onset_age: int | None,
    genetic_diagnosis: PartialDate | None,
    birth: dt.date | None,
) -> DiagnosisTimeline:
    onset_days = onset_interval(onset, onset_age, birth)
    dx_days = (genetic_diagnosis.earliest, genetic_diagnosis.latest) if genetic_diagnosis else None
    age_years = age_range = None
    if onset_days and birth:
        age_years = round(years_between(birth, _midpoint(onset_days)), 1)
        age_range = (age_in_years(birth, onset_days[0]), age_in_years(birth, onset_days[1]))
    delay = delay_range = None
    before = False
    if onset_days and dx_days:
        before = dx_days[1] < onset_days[0]
        if not before:
            # Overlapping intervals: the diagnosis came at or after onset, so only those days count.
            dx_days = (max(dx_days[0], onset_days[0]), dx_days[1])
            onset_days = (onset_days[0], min(onset_days[1], dx_days[1]))
        delay = round(years_between(_midpoint(onset_days), _midpoint(dx_days)), 1)
        delay_range = (
            round(years_between(onset_days[1], dx_days[0]), 1),
            round(years_between(onset_days[0], dx_days[1]), 1),
        )
        if not before:
            delay_range = (max(0.0, delay_range[0]), delay_range[1])
    return DiagnosisTimeline(
        onset=onset_interval(onset, onset_age, birth),
        genetic_diagnosis=(genetic_diagnosis.earliest, genetic_diagnosis.latest) if genetic_diagnosis else None,
        onset_age_years=age_years,
        onset_age_range=age_range,
        diagnostic_delay_years=delay,
        diagnostic_delay_range=delay_range,
        diagnosis_before_onset=before,
    )
