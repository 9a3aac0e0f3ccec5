"""Writes to assessments and milestones, with the validation rules of docs/clinical-rules.md.

Hard errors (impossible data) raise ValidationError with field messages. Plausible-but-odd data
(contradictions between measures, unusual onset) is stored with review flags for staff to check,
because a patient's self-report should not be thrown away over a contradiction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from assessments.models import (
    DYNAMOMETRY_MAX_KG,
    IBMFRS_ITEMS,
    IBMFRS_MAX_ITEM_SCORE,
    MILESTONE_ORDER,
    MILESTONE_STAGE,
    SIX_MINUTE_WALK_MAX_M,
    AmbulationClass,
    Assessment,
    Device,
    DynamometryMeasurement,
    Milestone,
    MilestoneSource,
    SixMinuteWalk,
    Source,
    WheelchairUse,
)
from patients.models import Diagnosis, Patient
from patients.selectors import DateLimits, patient_date_limits
from patients.services import patient_lock
from registry.dates import MAX_AGE_YEARS, PartialDate, age_in_years, life_date_error, today
from registry.errors import ValidationError
from registry.records import apply_changes, lock_for_update

ASSESSMENT_FIELDS = (
    "assessment_date",
    "source",
    "ibmfrs_version",
    "falls_count",
    "injurious_falls_count",
    "fractures_count",
    "devices",
    "ambulation_class",
    "wheelchair_use",
    "ambulation_regain_confirmed",
    *IBMFRS_ITEMS,
    "raise_arms_above_head",
    "rise_from_chair",
    "six_minute_walk_status",
    "six_minute_walk_m",
    "grip_left_kg",
    "grip_right_kg",
    "fvc_percent_predicted",
    "ck_u_per_l",
)

# Plausible ranges for measured values; outside them the entry is a typing error.
MEASURE_RANGES = {
    "six_minute_walk_m": (0, SIX_MINUTE_WALK_MAX_M),
    "grip_left_kg": (0, 100),
    "grip_right_kg": (0, 100),
    "fvc_percent_predicted": (0, 200),
    "ck_u_per_l": (0, 100_000),
}
DYNAMOMETRY_RANGE_KG = (Decimal(0), Decimal(DYNAMOMETRY_MAX_KG))


def mobility_stage(ambulation_class: int | None, wheelchair_use: str) -> int | None:
    """The highest stage that an assessment shows, from the ambulation class and wheelchair use."""
    stages = [ambulation_class] if ambulation_class is not None else []
    if wheelchair_use == WheelchairUse.PART_TIME:
        stages.append(AmbulationClass.WHEELCHAIR_PART_TIME)
    elif wheelchair_use == WheelchairUse.FULL_TIME:
        stages.append(AmbulationClass.WHEELCHAIR_FULL_TIME)
    return max(stages) if stages else None


def _is_full_time_wheelchair(values: dict) -> bool:
    return mobility_stage(values.get("ambulation_class"), values.get("wheelchair_use") or "") == (
        AmbulationClass.WHEELCHAIR_FULL_TIME
    )


def _walks(values: dict) -> bool:
    """Whether an assessment records the patient walking (with or without aids)."""
    ambulation = values.get("ambulation_class")
    walking_class = ambulation is not None and ambulation <= AmbulationClass.WALKER
    walked_test = (
        values.get("six_minute_walk_status") == SixMinuteWalk.DONE and (values.get("six_minute_walk_m") or 0) > 0
    )
    return walking_class or walked_test


def _check_dates(limits: DateLimits, when: dt.date, diagnosis: Diagnosis | None) -> dict:
    errors = {}
    if when > today():
        errors["assessment_date"] = "The assessment date cannot be in the future."
    elif limits.birth and when < limits.birth:
        errors["assessment_date"] = f"The assessment date is before the date of birth ({limits.birth})."
    elif limits.birth and age_in_years(limits.birth, when) > MAX_AGE_YEARS:
        errors["assessment_date"] = f"The patient would be over {MAX_AGE_YEARS} on this date."
    elif limits.death and when > limits.death:
        errors["assessment_date"] = f"The patient died on {limits.death}; no assessment can follow."
    elif limits.withdrawn_from and when > limits.withdrawn_from:
        # The withdrawal day is the last day of participation, as in `patient_change_status`.
        errors["assessment_date"] = f"The patient withdrew from the registry on {limits.withdrawn_from}."
    elif diagnosis is not None:
        onset = PartialDate.from_stored(diagnosis.onset_date, diagnosis.onset_date_precision)
        if onset and when < onset.earliest:
            errors["assessment_date"] = f"The assessment is before symptom onset ({onset})."
        elif (
            diagnosis.onset_age is not None and limits.birth and age_in_years(limits.birth, when) < diagnosis.onset_age
        ):
            errors["assessment_date"] = f"The patient was younger than the age at onset ({diagnosis.onset_age})."
    return errors


def _check_ranges(values: dict, dynamometry: list[dict]) -> dict:
    errors = {}
    for name in IBMFRS_ITEMS:
        score = values.get(name)
        if score is not None and not 0 <= score <= IBMFRS_MAX_ITEM_SCORE:
            errors[name] = f"IBMFRS items are scored 0 to {IBMFRS_MAX_ITEM_SCORE}."
    for name, (low, high) in MEASURE_RANGES.items():
        value = values.get(name)
        if value is not None and not low <= value <= high:
            errors[name] = f"Enter a value from {low} to {high}."
    falls, injurious, fractures = (values.get(k) for k in ("falls_count", "injurious_falls_count", "fractures_count"))
    if injurious is not None and falls is not None and injurious > falls:
        errors["injurious_falls_count"] = f"Injurious falls ({injurious}) cannot exceed falls ({falls})."
    if fractures is not None and injurious is not None and fractures > injurious:
        errors["fractures_count"] = f"Fractures ({fractures}) cannot exceed injurious falls ({injurious})."
    devices = values.get("devices") or []
    if len(set(devices)) != len(devices) or not set(devices) <= set(Device.values):
        errors["devices"] = "List each device once, from: " + ", ".join(Device.values) + "."
    status, metres = values.get("six_minute_walk_status"), values.get("six_minute_walk_m")
    if status == SixMinuteWalk.UNABLE and metres:
        errors["six_minute_walk_m"] = "A distance was entered but the test is marked 'unable'."
    if status == SixMinuteWalk.DONE and metres is None:
        errors["six_minute_walk_m"] = "Enter the distance walked, or mark the test 'unable'."
    seen = set()
    for index, row in enumerate(dynamometry):
        key = (row["muscle_group"], row["side"])
        low, high = DYNAMOMETRY_RANGE_KG
        if key in seen:
            errors[f"dynamometry.{index}"] = f"{row['muscle_group']} {row['side']} is entered twice."
        elif not low <= row["kg"] <= high:
            errors[f"dynamometry.{index}.kg"] = f"Enter a force from {low} to {high} kg."
        seen.add(key)
    return errors


def assessment_review_flags(values: dict) -> list[dict]:
    """docs/clinical-rules.md, rule 3: full-time wheelchair use contradicts walking results; flag, do not refuse."""
    flags = []
    ambulation, wheelchair = values.get("ambulation_class"), values.get("wheelchair_use") or ""
    if _is_full_time_wheelchair(values):
        if values.get("six_minute_walk_status") == SixMinuteWalk.DONE and (values.get("six_minute_walk_m") or 0) > 0:
            flags.append(
                {
                    "code": "wheelchair_but_walked",
                    "field": "six_minute_walk_m",
                    "message": "Full-time wheelchair use, but a 6-minute walk distance was recorded.",
                }
            )
        if values.get("ibmfrs_walking"):
            flags.append(
                {
                    "code": "wheelchair_but_ibmfrs_walking",
                    "field": "ibmfrs_walking",
                    "message": "Full-time wheelchair use implies IBMFRS walking 0.",
                }
            )
    if ambulation is not None and wheelchair:
        expected = {
            AmbulationClass.WHEELCHAIR_FULL_TIME: WheelchairUse.FULL_TIME,
            AmbulationClass.WHEELCHAIR_PART_TIME: WheelchairUse.PART_TIME,
        }.get(ambulation, WheelchairUse.NONE)
        if wheelchair != expected:
            flags.append(
                {
                    "code": "ambulation_wheelchair_mismatch",
                    "field": "wheelchair_use",
                    "message": f"Ambulation class {AmbulationClass(ambulation).label!r} does not match "
                    f"wheelchair use {wheelchair!r}.",
                }
            )
    return flags


@dataclass
class PatientRecord:
    """What the rules need to know of a patient's other records, read once per write."""

    assessments: list[dict]  # HISTORY_FIELDS of every stored assessment
    milestones: list[Milestone]

    @classmethod
    def load(cls, patient: Patient) -> PatientRecord:
        return cls(
            assessments=list(Assessment.objects.filter(patient=patient).values(*HISTORY_FIELDS)),
            milestones=list(Milestone.objects.filter(patient=patient)),
        )

    def assessments_except(self, assessment_id: int | None) -> list[dict]:
        return [row for row in self.assessments if row["id"] != assessment_id]


HISTORY_FIELDS = (
    "id",
    "assessment_date",
    "ambulation_class",
    "wheelchair_use",
    "six_minute_walk_status",
    "six_minute_walk_m",
    "ambulation_regain_confirmed",
)


def _check_regain(others: list[dict], values: dict) -> tuple[dict, list[dict]]:
    """docs/clinical-rules.md, rule 2: walking again after full-time wheelchair needs a clinician's confirmation.

    Checked both ways, since records arrive out of date order: a walking assessment after a
    full-time one, and a full-time assessment entered before walking ones already stored.
    """
    when = values["assessment_date"]
    if _is_full_time_wheelchair(values):
        later = [
            row["assessment_date"]
            for row in others
            if row["assessment_date"] > when and _walks(row) and not row["ambulation_regain_confirmed"]
        ]
        if not later:
            return {}, []
        message = f"A later assessment ({min(later)}) records walking again without clinician confirmation."
        return {}, [{"code": "later_walking_unconfirmed", "field": "ambulation_class", "message": message}]

    if not _walks(values) or values.get("ambulation_regain_confirmed"):
        return {}, []
    earlier = [
        row["assessment_date"] for row in others if row["assessment_date"] < when and _is_full_time_wheelchair(row)
    ]
    if not earlier:
        return {}, []
    message = f"The patient used a wheelchair full-time on {max(earlier)}; walking again needs clinician confirmation."
    if values.get("source") == Source.PATIENT:
        return {}, [{"code": "ambulation_regained_unconfirmed", "field": "ambulation_class", "message": message}]
    return {"ambulation_regain_confirmed": message + " Set ambulation_regain_confirmed if it is right."}, []


def _reported_milestone_flags(milestones: list[Milestone], values: dict, birth: dt.date | None) -> list[dict]:
    """An assessment showing a stage before the reported date of reaching it contradicts the report."""
    stage = mobility_stage(values.get("ambulation_class"), values.get("wheelchair_use") or "")
    if stage is None:
        return []
    flags = []
    for milestone in milestones:
        if milestone.source != MilestoneSource.REPORTED or milestone.skipped:
            continue
        window = _milestone_window(
            {"date": milestone.date, "date_precision": milestone.date_precision, "age_years": milestone.age_years},
            birth,
        )
        if window and MILESTONE_STAGE[milestone.kind] <= stage and values["assessment_date"] < window[0]:
            flags.append(
                {
                    "code": "before_reported_milestone",
                    "field": "ambulation_class",
                    "message": f"This assessment already shows {AmbulationClass(stage).label.lower()}, "
                    f"but the reported {milestone.get_kind_display().lower()} is later "
                    f"({milestone.date or milestone.age_years}).",
                }
            )
    return flags


def assessment_computed_fields(values: dict, dynamometry: list[dict]) -> dict:
    """Totals and composites are computed here, never typed in (docs/clinical-rules.md, rule 5)."""
    scores = [values.get(name) for name in IBMFRS_ITEMS]
    composites = settings.REGISTRY_HHD_COMPOSITES
    forces = {(row["muscle_group"], row["side"]): row["kg"] for row in dynamometry}

    def composite(groups) -> Decimal | None:
        keys = [(group, side) for group in groups for side in ("left", "right")]
        # Only a complete set is comparable between visits; a partial sum would look like weakness.
        return sum((forces[key] for key in keys), Decimal(0)) if all(key in forces for key in keys) else None

    return {
        "ibmfrs_total": sum(scores) if all(score is not None for score in scores) else None,
        "hhd_upper_composite_kg": composite(composites["upper"]),
        "hhd_lower_composite_kg": composite(composites["lower"]),
    }


def assessment_validate(
    patient: Patient,
    values: dict,
    dynamometry: list[dict],
    exclude_id: int | None = None,
    record: PatientRecord | None = None,
) -> dict:
    """Check one assessment's values; return the computed fields and review flags to store.

    `patient` should come with identity and diagnosis joined (as `patient_lock` gives it);
    `record` is the rest of the patient's data, read here when the caller has not read it.
    """
    if values.get("six_minute_walk_m") is not None and not values.get("six_minute_walk_status"):
        values["six_minute_walk_status"] = SixMinuteWalk.DONE
    record = record or PatientRecord.load(patient)
    limits = patient_date_limits(patient)
    errors = _check_dates(limits, values["assessment_date"], getattr(patient, "diagnosis", None))
    errors |= _check_ranges(values, dynamometry)
    regain_errors, regain_flags = _check_regain(record.assessments_except(exclude_id), values)
    errors |= regain_errors
    if errors:
        raise ValidationError(errors)
    flags = assessment_review_flags(values) + regain_flags
    flags += _reported_milestone_flags(record.milestones, values, limits.birth)
    return assessment_computed_fields(values, dynamometry) | {"review_flags": flags}


def _replace_dynamometry(assessment: Assessment, dynamometry: list[dict]) -> None:
    assessment.dynamometry.all().delete()
    DynamometryMeasurement.objects.bulk_create(
        DynamometryMeasurement(assessment=assessment, **row) for row in dynamometry
    )


@transaction.atomic
def assessment_create(*, patient: Patient, data: dict, dynamometry: list[dict] = (), entered_by=None) -> Assessment:
    """Record one assessment and update the milestones derived from it."""
    # One writer per patient at a time: derived milestones depend on all of their assessments.
    patient = patient_lock(patient_id=patient.pk)
    record = PatientRecord.load(patient)
    values = {name: data[name] for name in ASSESSMENT_FIELDS if name in data}
    dynamometry = list(dynamometry)
    values |= assessment_validate(patient, values, dynamometry, record=record)
    assessment = Assessment.objects.create(patient=patient, entered_by=entered_by, **values)
    if dynamometry:
        _replace_dynamometry(assessment, dynamometry)
    record.assessments.append({name: getattr(assessment, name) for name in HISTORY_FIELDS})
    milestones_derive(patient=patient, record=record)
    return assessment


@transaction.atomic
def assessment_update(
    *, assessment: Assessment, expected_version: int, data: dict, dynamometry: list[dict] | None = None
) -> Assessment:
    """Change an assessment; `dynamometry`, when given, replaces all of its measurements."""
    patient = patient_lock(patient_id=assessment.patient_id)
    assessment = lock_for_update(assessment, expected_version)
    assessment.patient = patient  # loaded and locked above; saves a query for whoever reads it next
    record = PatientRecord.load(patient)
    values = {name: getattr(assessment, name) for name in ASSESSMENT_FIELDS}
    values |= {name: data[name] for name in ASSESSMENT_FIELDS if name in data}
    replacing = dynamometry is not None
    dynamometry = list(dynamometry) if replacing else list(assessment.dynamometry.values("muscle_group", "side", "kg"))
    values |= assessment_validate(patient, values, dynamometry, exclude_id=assessment.pk, record=record)
    if replacing:
        _replace_dynamometry(assessment, dynamometry)
    apply_changes(assessment, values)
    assessment.version += 1
    assessment.save()
    record.assessments = record.assessments_except(assessment.pk)
    record.assessments.append({name: getattr(assessment, name) for name in HISTORY_FIELDS})
    milestones_derive(patient=patient, record=record)
    return assessment


@transaction.atomic
def assessment_delete(*, assessment: Assessment, expected_version: int) -> None:
    patient = patient_lock(patient_id=assessment.patient_id)
    lock_for_update(assessment, expected_version).delete()
    milestones_derive(patient=patient)


# --- Milestones -------------------------------------------------------------------------------


def derived_milestone_dates(assessments: list[tuple[int, dt.date, int | None, str]]) -> dict[str, tuple[dt.date, int]]:
    """First date each stage was reached or passed, from (id, date, ambulation_class, wheelchair_use).

    "Reached or passed" keeps derived milestones in order: a patient first seen with a walker has
    reached the cane stage by then too (an upper bound on its date, as left-censored data is).
    """
    reached: dict[str, tuple[dt.date, int]] = {}
    for assessment_id, when, ambulation_class, wheelchair_use in sorted(assessments, key=lambda row: (row[1], row[0])):
        stage = mobility_stage(ambulation_class, wheelchair_use)
        if stage is None:
            continue
        for kind in MILESTONE_ORDER:
            if stage >= MILESTONE_STAGE[kind] and kind not in reached:
                reached[kind] = (when, assessment_id)
    return reached


def derived_milestone(*, patient_id: int, kind: str, reached_on: dt.date, assessment_id: int) -> Milestone:
    """An unsaved derived milestone: first seen at this stage or beyond on `reached_on`."""
    return Milestone(
        patient_id=patient_id,
        kind=kind,
        source=MilestoneSource.DERIVED,
        date=reached_on,
        date_precision="day",
        derived_from_id=assessment_id,
    )


def milestones_derive(*, patient: Patient, record: PatientRecord | None = None) -> None:
    """Bring the patient's derived milestones in line with their assessments (caller holds the lock).

    `record`, when given, is the patient's current assessments and milestones, already read.
    """
    record = record or PatientRecord.load(patient)
    rows = [
        (row["id"], row["assessment_date"], row["ambulation_class"], row["wheelchair_use"])
        for row in record.assessments
    ]
    reached = derived_milestone_dates(rows)
    existing = {m.kind: m for m in record.milestones if m.source == MilestoneSource.DERIVED}
    stale = [m.pk for kind, m in existing.items() if kind not in reached]
    if stale:
        Milestone.objects.filter(pk__in=stale).delete()
    for kind, (when, assessment_id) in reached.items():
        milestone = existing.get(kind)
        if milestone is None:
            derived_milestone(patient_id=patient.pk, kind=kind, reached_on=when, assessment_id=assessment_id).save()
        elif (milestone.date, milestone.derived_from_id) != (when, assessment_id):
            milestone.date, milestone.derived_from_id = when, assessment_id
            milestone.version += 1
            milestone.save(update_fields=["date", "derived_from", "version", "updated_at"])


def _milestone_window(milestone_values: dict, birth: dt.date | None) -> tuple[dt.date, dt.date] | None:
    """Earliest and latest day a milestone can have happened, or None when unknowable."""
    partial = PartialDate.from_stored(milestone_values.get("date"), milestone_values.get("date_precision"))
    if partial:
        return partial.earliest, partial.latest
    age = milestone_values.get("age_years")
    if age is not None and birth:
        start = _add_years(birth, age)
        return start, _add_years(birth, age + 1) - dt.timedelta(days=1)
    return None


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _check_milestone(patient: Patient, values: dict, exclude_id: int | None) -> None:
    """docs/clinical-rules.md, rule 2: AFO <= cane <= walker <= part-time <= full-time wheelchair, unless skipped."""
    # A lazy queryset: read only when the order has to be checked.
    others = Milestone.objects.filter(patient=patient, skipped=False).exclude(pk=exclude_id)
    limits = patient_date_limits(patient)
    _milestone_rules(values, birth=limits.birth, death=limits.death, others=others)


def _milestone_rules(
    values: dict, *, birth: dt.date | None, death: dt.date | None = None, others: Iterable[Milestone]
) -> None:
    """`_check_milestone` on given dates of birth and death and the patient's other, not skipped, milestones."""
    errors = {}
    if values.get("skipped"):
        if values.get("date") or values.get("age_years") is not None:
            errors["skipped"] = "A skipped step has no date or age."
    elif not values.get("date") and values.get("age_years") is None:
        errors["date"] = "Enter the date (or at least the year), or the age, or mark the step as skipped."
    partial = PartialDate.from_stored(values.get("date"), values.get("date_precision"))
    error = partial and life_date_error(partial, birth=birth, death=death)
    if error:
        errors["date"] = error
    age = values.get("age_years")
    if age is not None and birth and age > age_in_years(birth, today()):
        errors["age_years"] = "The age is above the patient's current age."
    if errors:
        raise ValidationError(errors)
    if values.get("skipped"):
        return

    window = _milestone_window(values, birth)
    if window is None:
        return
    rank = MILESTONE_ORDER.index(values["kind"])
    for other in others:
        other_window = _milestone_window(
            {"date": other.date, "date_precision": other.date_precision, "age_years": other.age_years}, birth
        )
        if other_window is None or other.kind == values["kind"]:
            continue
        other_rank = MILESTONE_ORDER.index(other.kind)
        # Derived dates are upper bounds ("first seen at or beyond"): they only contradict a
        # reported earlier stage that is certainly later than them.
        if other_rank > rank and other_window[1] < window[0]:
            raise ValidationError(
                {
                    "date": f"{values['kind']} cannot come after {other.kind} "
                    f"({other.get_source_display().lower()}, {other.date or other.age_years}); "
                    "correct the dates, or mark this step as skipped if it never happened."
                }
            )
        if other_rank < rank and other.source == MilestoneSource.REPORTED and other_window[0] > window[1]:
            raise ValidationError(
                {
                    "date": f"{values['kind']} cannot come before {other.kind} "
                    f"(reported, {other.date or other.age_years}); correct the dates, or mark "
                    f"{other.kind} as skipped if it never happened."
                }
            )


MILESTONE_FIELDS = ("kind", "date", "date_precision", "age_years", "skipped")


@transaction.atomic
def milestone_report(*, patient: Patient, data: dict) -> Milestone:
    """Record a milestone reported retrospectively (by the patient or from their records)."""
    patient = patient_lock(patient_id=patient.pk)
    values = {name: data.get(name) for name in MILESTONE_FIELDS}
    values["skipped"] = bool(values["skipped"])
    values["date_precision"] = values["date_precision"] or ""
    if Milestone.objects.filter(patient=patient, kind=values["kind"], source=MilestoneSource.REPORTED).exists():
        raise ValidationError({"kind": f"A reported {values['kind']} milestone exists already; update it instead."})
    _check_milestone(patient, values, exclude_id=None)
    return Milestone.objects.create(patient=patient, source=MilestoneSource.REPORTED, **values)


def _refuse_derived(milestone: Milestone) -> None:
    if milestone.source == MilestoneSource.DERIVED:
        raise ValidationError({"source": "Derived milestones follow the assessments; change those instead."})


@transaction.atomic
def milestone_update(*, milestone: Milestone, expected_version: int, data: dict) -> Milestone:
    _refuse_derived(milestone)
    patient = patient_lock(patient_id=milestone.patient_id)
    milestone = lock_for_update(milestone, expected_version)
    values = {name: getattr(milestone, name) for name in MILESTONE_FIELDS}
    values |= {name: data[name] for name in MILESTONE_FIELDS if name in data}
    if values["kind"] != milestone.kind:
        raise ValidationError({"kind": "The kind of a milestone cannot change; delete it and report another."})
    values["date_precision"] = values["date_precision"] or ""
    _check_milestone(patient, values, exclude_id=milestone.pk)
    apply_changes(milestone, values)
    milestone.version += 1
    milestone.save()
    return milestone


@transaction.atomic
def milestone_delete(*, milestone: Milestone, expected_version: int) -> None:
    _refuse_derived(milestone)
    lock_for_update(milestone, expected_version).delete()


# --- Bulk inserts of new patients' histories (the demo cohort) ---------------------------------


def milestones_reported_build(*, patient: Patient, entries: list[dict]) -> list[Milestone]:
    """Unsaved reported milestones of a new patient, each checked as `milestone_report` checks it.

    The entries (the input `milestone_report` takes) are checked in the order given, each against
    the ones before it, as if reported one by one before any visit was entered; `assessments_build`
    then flags visits that contradict them (pass them as its `reported_milestones`). `patient` comes
    with its identity attached: the date of birth is read from it, without a query.
    """
    identity = getattr(patient, "identity", None)
    birth, death = (identity.date_of_birth, identity.date_of_death) if identity else (None, None)
    built: list[Milestone] = []
    for data in entries:
        values = {name: data.get(name) for name in MILESTONE_FIELDS}
        values["skipped"] = bool(values["skipped"])
        values["date_precision"] = values["date_precision"] or ""
        if any(milestone.kind == values["kind"] for milestone in built):
            raise ValidationError({"kind": f"A reported {values['kind']} milestone exists already; update it instead."})
        _milestone_rules(
            values, birth=birth, death=death, others=[milestone for milestone in built if not milestone.skipped]
        )
        built.append(Milestone(patient=patient, source=MilestoneSource.REPORTED, **values))
    return built


def assessments_build(
    *, patient: Patient, entries: list[dict], reported_milestones: list[Milestone] | None = None
) -> list[Assessment]:
    """Unsaved assessments of a new patient's visits, checked as `assessment_create` checks each one.

    The entries (the input `assessment_create` takes, without dynamometry) are validated in date
    order, each against the ones before it and the patient's reported milestones, as if entered one
    by one: the same errors, computed fields and review flags. `patient` is saved, has no stored
    assessments, and comes with identity and diagnosis attached. Returns them in date order; the
    caller saves them (`bulk_create`) and then their derived milestones (`milestones_derived_build`).
    """
    record = PatientRecord(assessments=[], milestones=list(reported_milestones or []))
    built = []
    for number, data in enumerate(sorted(entries, key=lambda entry: entry["assessment_date"]), start=1):
        values = {name: data[name] for name in ASSESSMENT_FIELDS if name in data}
        values |= assessment_validate(patient, values, [], record=record)
        assessment = Assessment(patient=patient, **values)
        built.append(assessment)
        # A stand-in id (negative: never a stored row's) so later entries see this one as recorded.
        record.assessments.append({name: getattr(assessment, name) for name in HISTORY_FIELDS} | {"id": -number})
    return built


def milestones_derived_build(assessments: list[Assessment]) -> list[Milestone]:
    """Unsaved derived milestones for just-saved assessments, as `milestones_derive` would make them.

    For patients whose assessments were all bulk-inserted at once (no derived milestones yet).
    """
    rows_by_patient: dict[int, list[tuple]] = {}
    for assessment in assessments:
        rows_by_patient.setdefault(assessment.patient_id, []).append(
            (assessment.pk, assessment.assessment_date, assessment.ambulation_class, assessment.wheelchair_use)
        )
    return [
        derived_milestone(patient_id=patient_id, kind=kind, reached_on=day, assessment_id=assessment_id)
        for patient_id, rows in rows_by_patient.items()
        for kind, (day, assessment_id) in derived_milestone_dates(rows).items()
    ]
