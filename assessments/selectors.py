"""Reads of assessments shared by the API and later exports."""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from django.db.models import Case, CharField, DateField, DecimalField, F, OuterRef, Q, Subquery, Value, When
from django.db.models.lookups import IsNull

from assessments.models import (
    AmbulationClass,
    Assessment,
    DynamometryMeasurement,
    ManualMuscleTest,
    Milestone,
    MilestoneCensoring,
    MilestoneKind,
    MilestoneSource,
    WheelchairUse,
)
from assessments.services import (
    MilestoneBounds,
    milestone_window,
    onset_window,
    reported_censoring,
    reported_milestone_conflicts,
)
from patients.models import Diagnosis
from registry.dates import DAYS_PER_YEAR


def assessments_attach_measurements(assessments: list[Assessment]) -> list[Assessment]:
    """Give each assessment its dynamometry rows as `.measurements` and its manual muscle testing
    grades as `.mmt_grades`, in one query for all (the two tables read with UNION ALL).

    Each row is a dict of its output fields (`muscle_group`, `side`, `kg`; `muscle`, `side`, `grade`),
    which the output serializers read by key. No model instance is built: a page of 50 assessments
    has about 300 of these rows, and building them as instances took half the time of this step.
    """
    by_assessment = defaultdict(list)
    mmt_by_assessment = defaultdict(list)
    ids = [a.pk for a in assessments]
    # Columns: assessment, muscle, side, kg, grade. A dynamometry row has no grade, an MMT row no kg.
    dynamometry = (
        DynamometryMeasurement.objects.filter(assessment_id__in=ids)
        .annotate(muscle=F("muscle_group"), grade=Value(None, output_field=CharField()))
        .values_list("assessment_id", "muscle", "side", "kg", "grade")
        .order_by()  # the union is ordered as a whole
    )
    grades = (
        ManualMuscleTest.objects.filter(assessment_id__in=ids)
        .annotate(kg=Value(None, output_field=DecimalField()))
        .values_list("assessment_id", "muscle", "side", "kg", "grade")
        .order_by()
    )
    rows = dynamometry.union(grades, all=True).order_by("assessment_id", "muscle", "side") if ids else []
    for assessment_id, muscle, side, kg, grade in rows:
        if grade is None:
            by_assessment[assessment_id].append({"muscle_group": muscle, "side": side, "kg": kg})
        else:
            mmt_by_assessment[assessment_id].append({"muscle": muscle, "side": side, "grade": grade})
    for assessment in assessments:
        assessment.measurements = by_assessment[assessment.pk]
        assessment.mmt_grades = mmt_by_assessment[assessment.pk]
    return assessments


class MilestoneInterval(NamedTuple):
    """When one patient reached one milestone, in years from symptom onset (docs/clinical-rules.md, "Milestones").

    Onset is the middle of its interval (`PartialDate.midpoint`, or of the year of the onset age).
    `censoring` says how to read the two bounds (T is the time of the event):

    - "exact": a reported day; lower_years == upper_years == T.
    - "interval": lower_years < T <= upper_years (derived: last visit below, first visit at or
      beyond; reported month, year or age: its first and last possible day).
    - "left": T <= upper_years, already reached at the first informative visit; lower_years None.
    - "right": T > lower_years, not reached by the last visit known below it; upper_years None.

    `source` is "reported", "derived", or "" (right-censored). Years are never below 0: a
    milestone does not precede onset, so a bound before the onset's midpoint is onset itself.

    A named tuple, not a dataclass: an export builds hundreds of thousands, and a frozen
    dataclass takes several times longer to build.
    """

    patient_id: int
    kind: str
    source: str
    lower_years: float | None
    upper_years: float | None
    censoring: str


# Given that no visit shows a milestone reached (it has no stored derived row), the visits that
# show it not reached are, by `services.milestone_reached`: AFO, class unaided (an AFO device or
# class would be reached); cane, class 0-1; walker, class 0-2; part-time wheelchair, no wheelchair
# or any class (a walking one, 4 and 5 being reached); full-time, any wheelchair use or class.
_NOT_REACHED = {
    MilestoneKind.AFO.value: Q(ambulation_class=AmbulationClass.UNAIDED),
    MilestoneKind.CANE.value: Q(ambulation_class__in=(AmbulationClass.UNAIDED, AmbulationClass.AFO_ONLY)),
    MilestoneKind.WALKER.value: Q(
        ambulation_class__in=(AmbulationClass.UNAIDED, AmbulationClass.AFO_ONLY, AmbulationClass.CANE)
    ),
    MilestoneKind.WHEELCHAIR_PART_TIME.value: Q(wheelchair_use=WheelchairUse.NONE) | Q(ambulation_class__isnull=False),
    MilestoneKind.WHEELCHAIR_FULL_TIME.value: ~Q(wheelchair_use="") | Q(ambulation_class__isnull=False),
}
_KINDS = tuple(MilestoneKind.values)


def _last_visits_below() -> dict[str, Case]:
    """Per kind, for a patient (an OuterRef "patient_id") with no stored derived milestone of it: the
    date of the last visit showing it not reached. Latest visit first, through the (patient, date)
    index: the first visit that matches is usually the last one, so few visits are read."""
    derived = Milestone.objects.filter(patient_id=OuterRef("patient_id"), source=MilestoneSource.DERIVED).order_by()
    visits = Assessment.objects.filter(patient_id=OuterRef("patient_id")).order_by("-assessment_date")
    return {
        kind: Case(
            # A scalar subquery, not NOT EXISTS: PostgreSQL would hash the whole milestone table.
            When(
                IsNull(Subquery(derived.filter(kind=kind).values("pk")[:1]), True),
                then=Subquery(visits.filter(_NOT_REACHED[kind]).values("assessment_date")[:1]),
            ),
            default=None,
            output_field=DateField(),
        )
        for kind in _KINDS
    }


def _years_from_onset(onset_middle: dt.date, day: dt.date) -> float:
    """Years from onset to a milestone bound (`registry.dates.years_between`, inlined: an export
    takes hundreds of thousands); never below 0, as a milestone does not precede onset."""
    days = (day - onset_middle).days
    return days / DAYS_PER_YEAR if days > 0 else 0.0


def milestone_intervals(*, patient_ids: Iterable[int] | None = None) -> list[MilestoneInterval]:
    """Every milestone kind of every patient whose onset is known (a date or an age), as an interval.

    Kinds the visits say nothing about and no usable report gives are left out. A reported
    milestone is preferred when it is consistent with onset and the visits
    (`services.reported_milestone_conflicts`); else the visits decide: the stored derived
    milestones (`services.milestones_derive` keeps them in line with `derived_milestone_bounds`),
    and for a kind no visit shows reached, the last visit showing it not reached (right-censored).
    Three queries, whatever the number of patients: diagnoses (with the date of birth and the last
    visit below each milestone no visit shows reached), derived milestones, reported milestones.
    """
    diagnoses = Diagnosis.objects.filter(Q(onset_date__isnull=False) | Q(onset_age__isnull=False))
    if patient_ids is not None:
        diagnoses = diagnoses.filter(patient_id__any_of=list(patient_ids))
    people = sorted(
        diagnoses.annotate(**_last_visits_below())
        .values_list(
            "patient_id", "onset_date", "onset_date_precision", "onset_age", "patient__identity__date_of_birth", *_KINDS
        )
        .order_by()
    )
    if not people:
        return []
    # Given patients: their ids, so that each table is read through its patient index; else all.
    if patient_ids is not None:
        lookup, in_scope = "patient_id__any_of", [person[0] for person in people]
    else:
        lookup, in_scope = "patient_id__in", diagnoses.values("patient_id")
    # patient -> kind -> (upper, lower) of the milestones a visit shows reached (the stored derived rows).
    bounds_by_patient: dict[int, dict[str, tuple]] = defaultdict(dict)
    derived_rows = Milestone.objects.filter(**{lookup: in_scope}, source=MilestoneSource.DERIVED).values_list(
        "patient_id", "kind", "date", "lower_bound_date"
    )
    for patient_id, kind, upper, lower in derived_rows.order_by():
        bounds_by_patient[patient_id][kind] = (upper, lower)
    reports: dict[int, dict[str, dict]] = defaultdict(dict)
    reported_rows = Milestone.objects.filter(
        **{lookup: in_scope}, source=MilestoneSource.REPORTED, skipped=False
    ).values("patient_id", "kind", "date", "date_precision", "age_years")
    for row in reported_rows.order_by():
        reports[row["patient_id"]][row["kind"]] = row

    reported_source, derived_source = MilestoneSource.REPORTED.value, MilestoneSource.DERIVED.value
    interval, left = MilestoneCensoring.INTERVAL.value, MilestoneCensoring.LEFT.value
    intervals = []
    no_bounds: dict[str, tuple] = {}
    no_reports: dict[str, dict] = {}
    for patient_id, onset_date, onset_date_precision, onset_age, birth, *last_below in people:
        bounds_by_kind = bounds_by_patient.get(patient_id, no_bounds)
        reported_by_kind = reports.get(patient_id, no_reports)
        if not bounds_by_kind and not reported_by_kind and not any(last_below):
            continue
        onset = onset_window(
            onset_date=onset_date, onset_date_precision=onset_date_precision, onset_age=onset_age, birth=birth
        )
        if onset is None:  # an onset age without a date of birth
            continue
        # The unbiased estimate of an imprecise onset: the middle of its interval (of the year of
        # age, when only the age is known), as `PartialDate.midpoint` takes it.
        onset_middle = onset[0] + (onset[1] - onset[0]) / 2
        for kind, below in zip(_KINDS, last_below, strict=True):
            upper, lower = bounds_by_kind.get(kind) or (None, below)
            if (reported := reported_by_kind.get(kind)) and (window := milestone_window(reported, birth)):
                bounds = MilestoneBounds(upper=upper, upper_id=None, lower=lower)
                if not reported_milestone_conflicts(window, onset=onset, bounds=bounds):
                    intervals.append(
                        MilestoneInterval(
                            patient_id,
                            kind,
                            reported_source,
                            _years_from_onset(onset_middle, window[0]),
                            _years_from_onset(onset_middle, window[1]),
                            str(reported_censoring(reported)),
                        )
                    )
                    continue
            if upper:
                lower_years = _years_from_onset(onset_middle, lower) if lower else None
                upper_years = _years_from_onset(onset_middle, upper)
                censoring = interval if lower else left
                intervals.append(
                    MilestoneInterval(patient_id, kind, derived_source, lower_years, upper_years, censoring)
                )
            elif lower:
                lower_years = _years_from_onset(onset_middle, lower)
                intervals.append(MilestoneInterval(patient_id, kind, "", lower_years, None, "right"))
    return intervals
