"""Reads about patients that other apps and the API rely on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet

from patients.models import ConsentDocument, ConsentGrant, ConsentPurpose, EnrollmentStatus, Patient
from registry.dates import PartialDate, add_years, age_in_years, today, years_between


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


def consent_grants_active(on: dt.date) -> Q:
    """`consent_is_active` as a filter on grants: given by `on` and not withdrawn by then."""
    return Q(granted_on__lte=on) & (Q(withdrawn_on__isnull=True) | Q(withdrawn_on__gt=on))


def patients_needing_reconsent(document: ConsentDocument) -> QuerySet:
    """Patients asked to consent again by a new version that requires it, with the purposes to re-consent to.

    Those with a consent active today under an earlier version of the same code (earlier by
    `effective_from`) for a purpose this version asks for, and no grant at all under this version
    (a grant later withdrawn is still an answer). Erased and deceased patients cannot be asked.

    One query, ready to paginate: a row per patient, in the order they were registered, with
    `patient_uuid` and a count per purpose (`reconsent_purposes` reads them). Counts rather than an
    array aggregate, which PostgreSQL has and the SQLite database of `make run` does not.
    """
    if not document.requires_reconsent:
        return ConsentGrant.objects.none()
    answered = ConsentGrant.objects.filter(patient=OuterRef("patient"), document=document)
    per_purpose = {
        _PENDING.format(purpose): Count("id", filter=Q(purpose=purpose)) for purpose in ConsentPurpose.values
    }
    return (
        ConsentGrant.objects.filter(
            consent_grants_active(today()),
            document__code=document.code,
            document__effective_from__lt=document.effective_from,
            purpose__in=document.purposes,
            patient__erased_at__isnull=True,
        )
        .exclude(patient__status=EnrollmentStatus.DECEASED)
        .exclude(Exists(answered))
        .values("patient_id")
        .annotate(patient_uuid=F("patient__uuid"), **per_purpose)
        .order_by("patient_id")
    )


_PENDING = "pending_{}"


def reconsent_purposes(row: dict) -> list[str]:
    """The purposes to ask about again, from a row of `patients_needing_reconsent`, in the registry's order."""
    return [purpose for purpose in ConsentPurpose.values if row.get(_PENDING.format(purpose))]


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
