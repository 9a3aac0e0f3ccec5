"""Reads of assessments shared by the API and later exports."""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import CharField, DecimalField, F, Q, Value

from assessments.models import (
    Assessment,
    DynamometryMeasurement,
    ManualMuscleTest,
    Milestone,
    MilestoneKind,
    MilestoneSource,
)
from assessments.services import (
    HISTORY_FIELDS,
    derived_milestone_bounds,
    milestone_window,
    onset_window,
    reported_censoring,
    reported_milestone_conflicts,
)
from patients.models import Diagnosis
from registry.dates import years_between


def assessments_attach_measurements(assessments: list[Assessment]) -> list[Assessment]:
    """Give each assessment its dynamometry rows as `.measurements` and its manual muscle testing
    grades as `.mmt_grades`, in one query for all (the two tables read with UNION ALL).

    Cheaper than prefetch_related for a page of rows: no related manager is built per row.
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
            by_assessment[assessment_id].append(
                DynamometryMeasurement(assessment_id=assessment_id, muscle_group=muscle, side=side, kg=kg)
            )
        else:
            mmt_by_assessment[assessment_id].append(
                ManualMuscleTest(assessment_id=assessment_id, muscle=muscle, side=side, grade=grade)
            )
    for assessment in assessments:
        assessment.measurements = by_assessment[assessment.pk]
        assessment.mmt_grades = mmt_by_assessment[assessment.pk]
    return assessments


@dataclass(frozen=True)
class MilestoneInterval:
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
    """

    patient_id: int
    kind: str
    source: str
    lower_years: float | None
    upper_years: float | None
    censoring: str


def milestone_intervals(*, patient_ids: Iterable[int] | None = None) -> list[MilestoneInterval]:
    """Every milestone kind of every patient whose onset is known (a date or an age), as an interval.

    Kinds the visits say nothing about and no usable report gives are left out. A reported
    milestone is preferred when it is consistent with onset and the visits
    (`services.reported_milestone_conflicts`); else the visits decide (`derived_milestone_bounds`,
    the same derivation as the stored derived milestones). Three queries, whatever the number of
    patients: diagnoses (with the date of birth), assessments, reported milestones.
    """
    diagnoses = Diagnosis.objects.filter(Q(onset_date__isnull=False) | Q(onset_age__isnull=False))
    if patient_ids is not None:
        diagnoses = diagnoses.filter(patient_id__in=list(patient_ids))
    people = {
        row["patient_id"]: row
        for row in diagnoses.values(
            "patient_id", "onset_date", "onset_date_precision", "onset_age", birth=F("patient__identity__date_of_birth")
        )
    }
    if not people:
        return []
    in_scope = diagnoses.values("patient_id")
    visits = defaultdict(list)
    for row in Assessment.objects.filter(patient_id__in=in_scope).values("patient_id", *HISTORY_FIELDS):
        visits[row["patient_id"]].append(row)
    reports = defaultdict(dict)
    reported_rows = Milestone.objects.filter(
        patient_id__in=in_scope, source=MilestoneSource.REPORTED, skipped=False
    ).values("patient_id", "kind", "date", "date_precision", "age_years")
    for row in reported_rows:
        reports[row["patient_id"]][row["kind"]] = row

    intervals = []
    for patient_id in sorted(people):
        person = people[patient_id]
        birth = person["birth"]
        onset = onset_window(
            onset_date=person["onset_date"],
            onset_date_precision=person["onset_date_precision"],
            onset_age=person["onset_age"],
            birth=birth,
        )
        if onset is None:  # an onset age without a date of birth
            continue
        # The unbiased estimate of an imprecise onset: the middle of its interval (of the year of
        # age, when only the age is known), as `PartialDate.midpoint` takes it.
        onset_middle = onset[0] + (onset[1] - onset[0]) / 2

        def years(day: dt.date, onset_middle: dt.date = onset_middle) -> float:
            return max(0.0, years_between(onset_middle, day))

        bounds_by_kind = derived_milestone_bounds(visits[patient_id])
        for kind in MilestoneKind:
            bounds, reported = bounds_by_kind.get(kind.value), reports[patient_id].get(kind.value)
            window = reported and milestone_window(reported, birth)
            if window and not reported_milestone_conflicts(window, onset=onset, bounds=bounds):
                source, censoring = MilestoneSource.REPORTED, reported_censoring(reported)
                lower, upper = years(window[0]), years(window[1])
            elif bounds and bounds.upper:
                source, censoring = MilestoneSource.DERIVED, bounds.censoring
                lower, upper = (years(bounds.lower) if bounds.lower else None), years(bounds.upper)
            elif bounds:
                source, censoring, lower, upper = "", "right", years(bounds.lower), None
            else:
                continue
            intervals.append(MilestoneInterval(patient_id, kind.value, str(source), lower, upper, str(censoring)))
    return intervals
