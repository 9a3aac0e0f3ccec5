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
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from assessments.models import (
    ABC_MAX_PERCENT,
    AXIAL_MUSCLES,
    DYNAMOMETRY_MAX_KG,
    FALL_CIRCUMSTANCES,
    FVC_MAX_LITRES,
    IBMFRS_ITEMS,
    IBMFRS_MAX_ITEM_SCORE,
    MILESTONE_IMPLIES,
    MRC_GRADES,
    MRC_WHOLE_GRADE,
    PINCH_MAX_KG,
    SIX_MINUTE_WALK_MAX_M,
    STAIR_CLIMB_MAX_STEPS,
    TIMED_TEST_RANGE_S,
    TIMED_TESTS,
    AmbulationClass,
    Assessment,
    Device,
    DynamometryMeasurement,
    ManualMuscleTest,
    Milestone,
    MilestoneCensoring,
    MilestoneKind,
    MilestoneSource,
    MmtMuscle,
    MmtSide,
    SixMinuteWalk,
    Source,
    TimedTestStatus,
    WheelchairUse,
)
from patients.access import can_see_patient
from patients.models import Diagnosis, Patient, TreatmentKind
from patients.selectors import DateLimits, onset_interval, patient_date_limits
from patients.services import patient_lock
from registry.audit import current_user
from registry.dates import MAX_AGE_YEARS, PartialDate, add_years, age_in_years, life_date_error, today
from registry.errors import RecordGoneError, ValidationError
from registry.models import DatePrecision
from registry.records import apply_changes, lock_for_update

ASSESSMENT_FIELDS = (
    "assessment_date",
    "source",
    "ibmfrs_version",
    "falls_count",
    "injurious_falls_count",
    "fractures_count",
    *FALL_CIRCUMSTANCES,
    "devices",
    "ambulation_class",
    "wheelchair_use",
    "ambulation_regain_confirmed",
    *IBMFRS_ITEMS,
    "raise_arms_above_head",
    "rise_from_chair",
    "six_minute_walk_status",
    "six_minute_walk_m",
    *(name for test in TIMED_TESTS.items() for name in test),
    "stair_climb_steps",
    "grip_left_kg",
    "grip_right_kg",
    "pinch_left_kg",
    "pinch_right_kg",
    "fvc_percent_predicted",
    "fvc_litres",
    "fvc_reference_equation",
    "ck_u_per_l",
    "abc_total_percent",
    "treatments_taken",
    "comment",
)

# What a patient may report themself (docs/patient-reports.md): what they can observe at home.
# Timed tests, strength, lung function and laboratory values need a clinic; the IBMFRS total is computed.
PATIENT_REPORT_FIELDS = (
    "assessment_date",
    "falls_count",
    "injurious_falls_count",
    "fractures_count",
    *FALL_CIRCUMSTANCES,
    "devices",
    "ambulation_class",
    "wheelchair_use",
    *IBMFRS_ITEMS,
    "raise_arms_above_head",
    "rise_from_chair",
    "treatments_taken",
    "comment",
)
COMMENT_MAX_LENGTH = Assessment._meta.get_field("comment").max_length

# Plausible ranges for measured values; outside them the entry is a typing error.
MEASURE_RANGES = {
    "six_minute_walk_m": (0, SIX_MINUTE_WALK_MAX_M),
    "grip_left_kg": (0, 100),
    "grip_right_kg": (0, 100),
    "fvc_percent_predicted": (0, 200),
    "ck_u_per_l": (0, 100_000),
    # docs/clinical-rules.md, "Measures".
    **{seconds: TIMED_TEST_RANGE_S for seconds in TIMED_TESTS.values()},
    "stair_climb_steps": (1, STAIR_CLIMB_MAX_STEPS),
    "pinch_left_kg": (0, PINCH_MAX_KG),
    "pinch_right_kg": (0, PINCH_MAX_KG),
    "fvc_litres": (0, FVC_MAX_LITRES),
    "abc_total_percent": (0, ABC_MAX_PERCENT),
}
TIMED_TEST_LABELS = {
    "ten_metre_walk_s": "10-metre walk",
    "timed_up_and_go_s": "timed up-and-go",
    "stair_climb_s": "stair climb",
}
DYNAMOMETRY_RANGE_KG = (Decimal(0), Decimal(DYNAMOMETRY_MAX_KG))


def _is_full_time_wheelchair(values: dict) -> bool:
    """Whether an assessment (or a history row) records no walking at all, by class or wheelchair use."""
    return (
        values.get("ambulation_class") == AmbulationClass.WHEELCHAIR_FULL_TIME
        or values.get("wheelchair_use") == WheelchairUse.FULL_TIME
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


def _check_timed_tests(values: dict) -> dict:
    """docs/clinical-rules.md, "Measures": as for the 6-minute walk, "unable" is a result, not missing data."""
    errors = {}
    for status_field, seconds_field in TIMED_TESTS.items():
        status, seconds = values.get(status_field), values.get(seconds_field)
        if status == TimedTestStatus.UNABLE and seconds is not None:
            errors[seconds_field] = "A time was entered but the test is marked 'unable'."
        elif status == TimedTestStatus.DONE and seconds is None:
            errors[seconds_field] = "Enter the time in seconds, or mark the test 'unable'."
    if values.get("stair_climb_status") == TimedTestStatus.DONE and values.get("stair_climb_steps") is None:
        errors["stair_climb_steps"] = "Enter the number of steps climbed; protocols differ."
    return errors


def _check_fall_circumstances(values: dict) -> dict:
    """docs/clinical-rules.md, "Measures": falls by circumstance are part of `falls_count`."""
    falls = values.get("falls_count")
    given = {name: values[name] for name in FALL_CIRCUMSTANCES if values.get(name) is not None}
    if not given:
        return {}
    if falls is None:
        return {"falls_count": "Enter the number of falls: the falls by circumstance are part of it."}
    errors = {name: f"Cannot exceed the number of falls ({falls})." for name, count in given.items() if count > falls}
    indoors, outdoors = given.get("falls_indoors_count"), given.get("falls_outdoors_count")
    if not errors and indoors is not None and outdoors is not None and indoors + outdoors > falls:
        errors["falls_outdoors_count"] = (
            f"Falls indoors ({indoors}) and outdoors ({outdoors}) together cannot exceed falls ({falls})."
        )
    return errors


def _check_manual_muscle_tests(rows: list[dict]) -> dict:
    """docs/clinical-rules.md, "Measures": MRC grades, each movement and side once, neck movements midline."""
    errors = {}
    seen = set()
    for index, row in enumerate(rows):
        muscle, side, grade = row["muscle"], row["side"], row["grade"]
        path = f"manual_muscle_tests.{index}"
        if (muscle, side) in seen:
            errors[path] = f"{muscle} {side} is entered twice."
        elif muscle not in MmtMuscle.values:
            errors[f"{path}.muscle"] = "Choose a movement from: " + ", ".join(MmtMuscle.values) + "."
        elif side not in MmtSide.values or (muscle in AXIAL_MUSCLES) != (side == MmtSide.MIDLINE):
            errors[f"{path}.side"] = "Neck movements are graded once (side 'midline'); limb movements left or right."
        elif grade not in MRC_GRADES:
            errors[f"{path}.grade"] = "Enter an MRC grade: " + ", ".join(MRC_GRADES) + "."
        seen.add((muscle, side))
    return errors


def _check_ranges(values: dict, dynamometry: list[dict], manual_muscle_tests: list[dict] = ()) -> dict:
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
    errors |= _check_timed_tests(values)
    errors |= _check_fall_circumstances(values)
    errors |= _check_manual_muscle_tests(list(manual_muscle_tests))
    errors |= _check_treatments_and_comment(values)
    return errors


def _check_treatments_and_comment(values: dict) -> dict:
    """Treatments taken are TreatmentKind codes, each once; the comment is text of bounded length."""
    errors = {}
    treatments = values.get("treatments_taken")
    if not isinstance(treatments, list) or not all(isinstance(code, str) for code in treatments):
        errors["treatments_taken"] = _("Give the treatments taken as a list of codes.")
    elif len(set(treatments)) != len(treatments) or not set(treatments) <= set(TreatmentKind.values):
        errors["treatments_taken"] = _("List each treatment once, from: %(codes)s.") % {
            "codes": ", ".join(TreatmentKind.values)
        }
    comment = values.get("comment")
    if not isinstance(comment, str):
        errors["comment"] = _("The comment must be text.")
    elif len(comment) > COMMENT_MAX_LENGTH:
        errors["comment"] = _("Keep the comment to %(limit)d characters (it has %(length)d).") % {
            "limit": COMMENT_MAX_LENGTH,
            "length": len(comment),
        }
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
        for status_field, seconds_field in TIMED_TESTS.items():
            if values.get(status_field) == TimedTestStatus.DONE:
                flags.append(
                    {
                        "code": "wheelchair_but_walked",
                        "field": seconds_field,
                        "message": f"Full-time wheelchair use, but a {TIMED_TEST_LABELS[seconds_field]} time was "
                        "recorded.",
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
    "devices",
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
    """An assessment contradicting a reported milestone (docs/clinical-rules.md, rule 2): it shows the
    stage reached before every possible day of the report, or still not reached after every one."""
    flags = []
    for milestone in milestones:
        if milestone.source != MilestoneSource.REPORTED or milestone.skipped:
            continue
        reached = milestone_reached(milestone.kind, values)
        window = reached is not None and milestone_window(
            {"date": milestone.date, "date_precision": milestone.date_precision, "age_years": milestone.age_years},
            birth,
        )
        if not window:
            continue
        field = "devices" if milestone.kind == MilestoneKind.AFO else "ambulation_class"
        label, reported_on = milestone.get_kind_display().lower(), milestone.date or milestone.age_years
        if reached and values["assessment_date"] < window[0]:
            flags.append(
                {
                    "code": "before_reported_milestone",
                    "field": field,
                    "message": f"This assessment already shows {label}, but the reported date of reaching it "
                    f"is later ({reported_on}).",
                }
            )
        elif reached is False and values["assessment_date"] > window[1]:
            flags.append(
                {
                    "code": "after_reported_milestone",
                    "field": field,
                    "message": f"This assessment shows the patient below {label}, but it was reported reached "
                    f"earlier ({reported_on}).",
                }
            )
    return flags


def mmt_sum_score(manual_muscle_tests: list[dict]) -> int | None:
    """docs/clinical-rules.md, "Measures": MRC grades summed over REGISTRY_MMT_SUM_MUSCLES (4- and 4+ count 4).

    Only a complete set: every listed limb movement graded on both sides, every neck movement once.
    """
    grades = {(row["muscle"], row["side"]): row["grade"] for row in manual_muscle_tests}
    keys = [
        (muscle, side)
        for muscle in settings.REGISTRY_MMT_SUM_MUSCLES
        for side in ((MmtSide.MIDLINE,) if muscle in AXIAL_MUSCLES else (MmtSide.LEFT, MmtSide.RIGHT))
    ]
    if not keys or not all(key in grades for key in keys):
        return None
    return sum(MRC_WHOLE_GRADE[grades[key]] for key in keys)


def assessment_computed_fields(values: dict, dynamometry: list[dict], manual_muscle_tests: list[dict] = ()) -> dict:
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
        "mmt_sum_score": mmt_sum_score(list(manual_muscle_tests)),
    }


def assessment_validate(
    patient: Patient,
    values: dict,
    dynamometry: list[dict],
    exclude_id: int | None = None,
    record: PatientRecord | None = None,
    manual_muscle_tests: list[dict] = (),
) -> dict:
    """Check one assessment's values; return the computed fields and review flags to store.

    `patient` should come with identity and diagnosis joined (as `patient_lock` gives it);
    `record` is the rest of the patient's data, read here when the caller has not read it.
    "Today" is the patient's own (`Patient.zone`), whoever enters the data.
    """
    with timezone.override(patient.zone):
        return _assessment_validate(patient, values, dynamometry, exclude_id, record, manual_muscle_tests)


def _assessment_validate(
    patient: Patient,
    values: dict,
    dynamometry: list[dict],
    exclude_id: int | None,
    record: PatientRecord | None,
    manual_muscle_tests: list[dict],
) -> dict:
    if not isinstance(values.get("assessment_date"), dt.date):
        raise ValidationError({"assessment_date": _("Enter the date of the assessment.")})
    # Not answered is stored as the model's blank; the comment is judged (and kept) without edge blanks.
    if values.get("treatments_taken") is None:
        values["treatments_taken"] = []
    if values.get("comment") is None:
        values["comment"] = ""
    elif isinstance(values["comment"], str):
        values["comment"] = values["comment"].strip()
    if values.get("six_minute_walk_m") is not None and not values.get("six_minute_walk_status"):
        values["six_minute_walk_status"] = SixMinuteWalk.DONE
    for status_field, seconds_field in TIMED_TESTS.items():  # a time alone implies "done", as above
        if values.get(seconds_field) is not None and not values.get(status_field):
            values[status_field] = TimedTestStatus.DONE
    record = record or PatientRecord.load(patient)
    limits = patient_date_limits(patient)
    errors = _check_dates(limits, values["assessment_date"], getattr(patient, "diagnosis", None))
    errors |= _check_ranges(values, dynamometry, manual_muscle_tests)
    regain_errors, regain_flags = _check_regain(record.assessments_except(exclude_id), values)
    errors |= regain_errors
    if errors:
        raise ValidationError(errors)
    flags = assessment_review_flags(values) + regain_flags
    flags += _reported_milestone_flags(record.milestones, values, limits.birth)
    return assessment_computed_fields(values, dynamometry, manual_muscle_tests) | {"review_flags": flags}


def _replace_dynamometry(assessment: Assessment, dynamometry: list[dict]) -> None:
    assessment.dynamometry.all().delete()
    rows = [DynamometryMeasurement(assessment=assessment, **row) for row in dynamometry]
    # With their history rows: the audit trail records measurements like every other clinical value.
    bulk_create_with_history(rows, DynamometryMeasurement, default_user=current_user())


def _replace_manual_muscle_tests(assessment: Assessment, rows: list[dict]) -> None:
    assessment.manual_muscle_tests.all().delete()
    grades = [ManualMuscleTest(assessment=assessment, **row) for row in rows]
    bulk_create_with_history(grades, ManualMuscleTest, default_user=current_user())


@transaction.atomic
def assessment_create(
    *,
    patient: Patient,
    data: dict,
    dynamometry: list[dict] = (),
    manual_muscle_tests: list[dict] = (),
    entered_by=None,
) -> Assessment:
    """Record one assessment and update the milestones derived from it."""
    # One writer per patient at a time: derived milestones depend on all of their assessments.
    patient = patient_lock(patient_id=patient.pk)
    record = PatientRecord.load(patient)
    values = {name: data[name] for name in ASSESSMENT_FIELDS if name in data}
    dynamometry, manual_muscle_tests = list(dynamometry), list(manual_muscle_tests)
    values |= assessment_validate(patient, values, dynamometry, record=record, manual_muscle_tests=manual_muscle_tests)
    assessment = Assessment.objects.create(patient=patient, entered_by=entered_by, **values)
    if dynamometry:
        _replace_dynamometry(assessment, dynamometry)
    if manual_muscle_tests:
        _replace_manual_muscle_tests(assessment, manual_muscle_tests)
    record.assessments.append({name: getattr(assessment, name) for name in HISTORY_FIELDS})
    milestones_derive(patient=patient, record=record)
    return assessment


@transaction.atomic
def assessment_update(
    *,
    assessment: Assessment,
    expected_version: int,
    data: dict,
    dynamometry: list[dict] | None = None,
    manual_muscle_tests: list[dict] | None = None,
) -> Assessment:
    """Change an assessment; `dynamometry` and `manual_muscle_tests`, when given, replace all of their rows."""
    patient = patient_lock(patient_id=assessment.patient_id)
    assessment = lock_for_update(assessment, expected_version)
    assessment.patient = patient  # loaded and locked above; saves a query for whoever reads it next
    record = PatientRecord.load(patient)
    values = {name: getattr(assessment, name) for name in ASSESSMENT_FIELDS}
    values |= {name: data[name] for name in ASSESSMENT_FIELDS if name in data}
    replacing = dynamometry is not None
    dynamometry = list(dynamometry) if replacing else list(assessment.dynamometry.values("muscle_group", "side", "kg"))
    replacing_mmt = manual_muscle_tests is not None
    manual_muscle_tests = (
        list(manual_muscle_tests)
        if replacing_mmt
        else list(assessment.manual_muscle_tests.values("muscle", "side", "grade"))
    )
    values |= assessment_validate(
        patient, values, dynamometry, exclude_id=assessment.pk, record=record, manual_muscle_tests=manual_muscle_tests
    )
    if replacing:
        _replace_dynamometry(assessment, dynamometry)
    if replacing_mmt:
        _replace_manual_muscle_tests(assessment, manual_muscle_tests)
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


# --- Restoring a deleted assessment (docs/consent.md, "Restoring a deleted assessment") --------------

RESTORED_REASON = "restored"
MMT_FIELDS = ("muscle", "side", "grade")


@transaction.atomic
def assessment_restore(*, assessment_uuid, restored_by) -> Assessment:
    """Bring back a deleted assessment from the audit trail: same id, the values it had when deleted,
    its measurements, checked by today's rules as a new entry would be, and milestones derived again.

    The values come from the history row written by the deletion (the record as it was then). The
    version continues from the deleted one, so a client still holding the old ETag cannot overwrite
    the restored record unknowingly; `created_at` is kept, so a patient's correction window does
    not open again.

    `restored_by` sees only some patients when limited to some sites: another site's assessment is
    answered as one never deleted (docs/sites.md), whether it was deleted or not, so that nothing
    tells it is there. None (a script) sees every patient.
    """
    present = Assessment.objects.filter(uuid=assessment_uuid).select_related("patient").first()
    if present is not None:
        _refuse_unless_visible(restored_by, present.patient)
        _refuse_if_present(assessment_uuid)
    deleted = (
        Assessment.history.filter(uuid=assessment_uuid, history_type="-")
        .order_by("-history_date", "-history_id")
        .first()
    )
    if deleted is None:
        raise Assessment.DoesNotExist("No deleted assessment has this id.")
    patient = Patient.objects.filter(pk=deleted.patient_id).first()
    if patient is None:
        raise Assessment.DoesNotExist("The patient of this assessment no longer exists.")
    _refuse_unless_visible(restored_by, patient)
    if patient.erased_at is not None:
        raise ValidationError({"id": _("The patient's record was erased on request; nothing is restored to it.")})
    patient = patient_lock(patient_id=patient.pk)
    _refuse_if_present(assessment_uuid)  # again under the patient's lock: of two restores, one wins
    record = PatientRecord.load(patient)
    values = {name: getattr(deleted, name) for name in ASSESSMENT_FIELDS}
    dynamometry, manual_muscle_tests = _measurements_when_deleted(deleted)
    values |= assessment_validate(patient, values, dynamometry, record=record, manual_muscle_tests=manual_muscle_tests)
    assessment = Assessment(
        patient=patient,
        uuid=deleted.uuid,
        version=deleted.version + 1,
        entered_by_id=deleted.entered_by_id,
        **values,
    )
    assessment._history_user = restored_by
    assessment._change_reason = RESTORED_REASON  # the trail tells a restore from a new entry
    assessment.save()
    Assessment.objects.filter(pk=assessment.pk).update(created_at=deleted.created_at)  # auto_now_add overrode it
    assessment.created_at = deleted.created_at
    _replace_dynamometry(assessment, dynamometry)
    _replace_manual_muscle_tests(assessment, manual_muscle_tests)
    record.assessments.append({name: getattr(assessment, name) for name in HISTORY_FIELDS})
    milestones_derive(patient=patient, record=record)
    return assessment


def _refuse_unless_visible(user, patient: Patient) -> None:
    if user is not None and not can_see_patient(user, patient):
        raise Assessment.DoesNotExist("No deleted assessment has this id.")


def _refuse_if_present(assessment_uuid) -> None:
    if Assessment.objects.filter(uuid=assessment_uuid).exists():
        raise ValidationError({"id": _("This assessment exists: it was never deleted, or was restored already.")})


def _measurements_when_deleted(deleted) -> tuple[list[dict], list[dict]]:
    """The dynamometry and muscle grades the assessment had when it was deleted, from their history.

    Measurements deleted along with the assessment have deletion rows written after the assessment's
    last save: measurements replaced by an update were deleted before that update saved the
    assessment. (Measurements are stored in bulk, so their history holds deletions, not creations.)
    """
    last_save = (
        Assessment.history.filter(id=deleted.id)
        .exclude(history_type="-")
        .order_by("-history_date", "-history_id")
        .values_list("history_date", flat=True)
        .first()
    )
    found = []
    for model, fields in ((DynamometryMeasurement, ("muscle_group", "side", "kg")), (ManualMuscleTest, MMT_FIELDS)):
        rows = model.history.filter(assessment_id=deleted.id, history_type="-", history_date__lte=deleted.history_date)
        if last_save is not None:
            rows = rows.filter(history_date__gt=last_save)
        found.append(list(rows.order_by("history_id").values(*fields)))
    return found[0], found[1]


# --- Patients' own reports (docs/patient-reports.md) --------------------------------------------


class ReportCorrectionRefused(PermissionDenied):
    """A patient may correct only their own self-reports, and only within the correction window."""


def _patient_report_values(data: dict) -> dict:
    """The fields of `data` a patient may report; ValidationError naming each field they may not."""
    errors = {
        name: _("Patients do not report this; the registry team records it.")
        for name in data
        if name not in PATIENT_REPORT_FIELDS and name != "source"
    }
    if data.get("source", Source.PATIENT) != Source.PATIENT:
        errors["source"] = _("A patient's own report is always recorded as a self-report.")
    if errors:
        raise ValidationError(errors)
    return {name: data[name] for name in PATIENT_REPORT_FIELDS if name in data}


@transaction.atomic
def patient_report_create(*, patient: Patient, data: dict, entered_by) -> Assessment:
    """Record a patient's self-report: only PATIENT_REPORT_FIELDS, always with source "patient",
    under every rule of `assessment_create`."""
    values = _patient_report_values(data) | {"source": Source.PATIENT}
    return assessment_create(patient=patient, data=values, entered_by=entered_by)


def report_correction_deadline(assessment: Assessment) -> dt.datetime:
    """Until when the patient may correct their report themself (REGISTRY_REPORT_CORRECTION_DAYS)."""
    return assessment.created_at + dt.timedelta(days=settings.REGISTRY_REPORT_CORRECTION_DAYS)


def report_correction_refusal(*, assessment: Assessment, patient: Patient) -> str | None:
    """Why `patient` may not correct `assessment` themself now, or None when they may."""
    if assessment.patient_id != patient.pk:
        return _("This is not one of your reports.")
    if assessment.source != Source.PATIENT:
        return _("This report was entered by the registry team; to correct it, contact them.")
    if timezone.now() >= report_correction_deadline(assessment):
        return _(
            "Reports can be corrected here for %(days)d days after they are sent; corrections to this "
            "one now go through the registry team."
        ) % {"days": settings.REGISTRY_REPORT_CORRECTION_DAYS}
    return None


@transaction.atomic
def patient_report_correct(*, assessment: Assessment, expected_version: int, data: dict, corrected_by) -> Assessment:
    """Change a patient's own self-report within the correction window; after it, or for any other
    record, ReportCorrectionRefused. Only PATIENT_REPORT_FIELDS change; the source stays "patient"."""
    patient = patient_lock(patient_id=assessment.patient_id)
    # Read again under the patient's lock: the window and the source are judged on the stored row.
    current = Assessment.objects.filter(pk=assessment.pk).first()
    if current is None:
        raise RecordGoneError()
    refusal = (
        _("This is not one of your reports.")
        if patient.account_id is None or patient.account_id != corrected_by.pk
        else report_correction_refusal(assessment=current, patient=patient)
    )
    if refusal:
        raise ReportCorrectionRefused(refusal)
    values = _patient_report_values(data)
    return assessment_update(assessment=current, expected_version=expected_version, data=values)


# --- Milestones -------------------------------------------------------------------------------


def milestone_reached(kind: str, row: dict) -> bool | None:
    """What one visit says of a milestone: reached (True), not yet (False) or nothing (None).

    docs/clinical-rules.md, "Milestones". `row` has the visit's ambulation_class, wheelchair_use
    and devices. Walking aids and wheelchair use are two scales: a part-time wheelchair says nothing
    about walking aids, full-time use (no walking at all) is beyond every walking aid. AFO is worn
    alongside any stage, so only a recorded AFO counts, never a higher class.
    """
    ambulation = row.get("ambulation_class")
    wheelchair = row.get("wheelchair_use") or ""
    devices = set(row.get("devices") or ())
    full_time = _is_full_time_wheelchair(row)
    if kind == MilestoneKind.AFO:
        if Device.AFO in devices or ambulation == AmbulationClass.AFO_ONLY:
            return True
        return False if ambulation == AmbulationClass.UNAIDED else None
    if kind == MilestoneKind.CANE:
        if full_time or ambulation in (AmbulationClass.CANE, AmbulationClass.WALKER):
            return True
        if devices & {Device.CANE, Device.WALKER}:
            return True
        return False if ambulation in (AmbulationClass.UNAIDED, AmbulationClass.AFO_ONLY) else None
    if kind == MilestoneKind.WALKER:
        if full_time or ambulation == AmbulationClass.WALKER or Device.WALKER in devices:
            return True
        below = (AmbulationClass.UNAIDED, AmbulationClass.AFO_ONLY, AmbulationClass.CANE)
        return False if ambulation in below else None
    if kind == MilestoneKind.WHEELCHAIR_PART_TIME:
        if full_time or wheelchair == WheelchairUse.PART_TIME or ambulation == AmbulationClass.WHEELCHAIR_PART_TIME:
            return True
        # Here the class, if any, is a walking one (0 to 3): no wheelchair.
        return False if wheelchair == WheelchairUse.NONE or ambulation is not None else None
    if kind == MilestoneKind.WHEELCHAIR_FULL_TIME:
        if full_time:
            return True
        return False if wheelchair or ambulation is not None else None
    raise ValueError(f"Unknown milestone kind {kind!r}.")


@dataclass(frozen=True)
class MilestoneBounds:
    """What a patient's visits say of when one milestone was reached.

    `upper` is the first visit showing it reached (`upper_id` that assessment), None when no visit
    does (right-censored). `lower` is the last visit showing it not reached before `upper` (or the
    last of all, when never reached); None when no earlier visit did (left-censored).
    """

    upper: dt.date | None
    upper_id: int | None
    lower: dt.date | None

    @property
    def censoring(self) -> str:
        if self.upper is None:
            return "right"
        return MilestoneCensoring.INTERVAL if self.lower else MilestoneCensoring.LEFT


def derived_milestone_bounds(assessments: Iterable[dict]) -> dict[str, MilestoneBounds]:
    """Per kind, the bounds the visits give (rows with HISTORY_FIELDS); kinds they say nothing of are left out.

    Visits are read in date order (then id). The first visit showing a milestone fixes it: later
    visits below it do not move it (walking again is rule 2's business).
    """
    rows = sorted(assessments, key=lambda row: (row["assessment_date"], row["id"]))
    bounds: dict[str, MilestoneBounds] = {}
    for kind in MilestoneKind:
        lower = None
        for row in rows:
            reached = milestone_reached(kind, row)
            if reached:
                bounds[kind.value] = MilestoneBounds(upper=row["assessment_date"], upper_id=row["id"], lower=lower)
                break
            if reached is False:
                lower = row["assessment_date"]
        else:
            if lower is not None:
                bounds[kind.value] = MilestoneBounds(upper=None, upper_id=None, lower=lower)
    return bounds


def derived_milestone(*, patient_id: int, kind: str, bounds: MilestoneBounds) -> Milestone:
    """An unsaved derived milestone: reached after `bounds.lower` (when known) and by `bounds.upper`."""
    return Milestone(
        patient_id=patient_id,
        kind=kind,
        source=MilestoneSource.DERIVED,
        date=bounds.upper,
        date_precision="day",
        lower_bound_date=bounds.lower,
        censoring=bounds.censoring,
        derived_from_id=bounds.upper_id,
    )


DERIVED_FIELDS = ("date", "lower_bound_date", "censoring", "derived_from_id")


def milestones_derive(*, patient: Patient, record: PatientRecord | None = None) -> None:
    """Bring the patient's derived milestones in line with their assessments (caller holds the lock).

    `record`, when given, is the patient's current assessments and milestones, already read. A
    milestone no visit shows reached has no derived row (the selector reports it right-censored).
    """
    record = record or PatientRecord.load(patient)
    reached = {kind: bounds for kind, bounds in derived_milestone_bounds(record.assessments).items() if bounds.upper}
    existing = {m.kind: m for m in record.milestones if m.source == MilestoneSource.DERIVED}
    stale = [m.pk for kind, m in existing.items() if kind not in reached]
    if stale:
        Milestone.objects.filter(pk__in=stale).delete()
    for kind, bounds in reached.items():
        fresh = derived_milestone(patient_id=patient.pk, kind=kind, bounds=bounds)
        milestone = existing.get(kind)
        if milestone is None:
            fresh.save()
        elif any(getattr(milestone, name) != getattr(fresh, name) for name in DERIVED_FIELDS):
            for name in DERIVED_FIELDS:
                setattr(milestone, name, getattr(fresh, name))
            milestone.version += 1
            milestone.save(
                update_fields=["date", "lower_bound_date", "censoring", "derived_from", "version", "updated_at"]
            )


def milestone_window(milestone_values: dict, birth: dt.date | None) -> tuple[dt.date, dt.date] | None:
    """Earliest and latest day a milestone can have happened, or None when unknowable."""
    partial = PartialDate.from_stored(milestone_values.get("date"), milestone_values.get("date_precision"))
    if partial:
        return partial.earliest, partial.latest
    age = milestone_values.get("age_years")
    if age is not None and birth:
        return add_years(birth, age), add_years(birth, age + 1) - dt.timedelta(days=1)
    return None


def onset_window(
    *, onset_date: dt.date | None, onset_date_precision: str, onset_age: int | None, birth: dt.date | None
) -> tuple[dt.date, dt.date] | None:
    """The days symptoms may have begun on: the onset date's interval, else the year of the onset age."""
    return onset_interval(PartialDate.from_stored(onset_date, onset_date_precision), onset_age, birth)


def _diagnosis_onset(diagnosis: Diagnosis | None, birth: dt.date | None) -> tuple[dt.date, dt.date] | None:
    if diagnosis is None:
        return None
    return onset_window(
        onset_date=diagnosis.onset_date,
        onset_date_precision=diagnosis.onset_date_precision,
        onset_age=diagnosis.onset_age,
        birth=birth,
    )


def reported_censoring(values: dict) -> str:
    """A reported milestone on a known day is exact; a month, a year or an age is an interval."""
    if values.get("skipped"):
        return ""
    if values.get("date") and (values.get("date_precision") or DatePrecision.DAY) == DatePrecision.DAY:
        return MilestoneCensoring.EXACT
    return MilestoneCensoring.INTERVAL


def reported_milestone_conflicts(
    window: tuple[dt.date, dt.date], *, onset: tuple[dt.date, dt.date] | None, bounds: MilestoneBounds | None
) -> dict[str, str]:
    """How a reported milestone's interval contradicts onset or the visits (docs/clinical-rules.md, rule 2).

    Keys: "before_onset" (every possible day is before onset's first), "after_visit_reached" (the
    stage was already seen at a visit before its first possible day), "before_visit_below" (a visit
    after its last possible day still shows the patient below it). Empty when consistent.
    """
    conflicts = {}
    if onset and window[1] < onset[0]:
        conflicts["before_onset"] = f"The milestone is before symptom onset (from {onset[0]})."
    if bounds and bounds.upper and window[0] > bounds.upper:
        conflicts["after_visit_reached"] = (
            f"The assessment of {bounds.upper} already shows this stage reached; the first time cannot be later. "
            "Correct the date, or that assessment."
        )
    if bounds and bounds.lower and window[1] < bounds.lower:
        conflicts["before_visit_below"] = (
            f"The assessment of {bounds.lower} still shows the patient below this stage, after the reported date."
        )
    return conflicts


def _check_milestone(
    patient: Patient, values: dict, exclude_id: int | None, record: PatientRecord | None = None
) -> list[dict]:
    """docs/clinical-rules.md, rule 2; the review flags to store, or ValidationError.

    `patient` should come with identity and diagnosis joined (as `patient_lock` gives it).
    """
    record = record or PatientRecord.load(patient)
    others = [m for m in record.milestones if not m.skipped and m.pk != exclude_id]
    limits = patient_date_limits(patient)
    with timezone.override(patient.zone):
        return _milestone_rules(
            values,
            birth=limits.birth,
            death=limits.death,
            others=others,
            onset=_diagnosis_onset(getattr(patient, "diagnosis", None), limits.birth),
            bounds=derived_milestone_bounds(record.assessments).get(values.get("kind")),
        )


def _milestone_rules(
    values: dict,
    *,
    birth: dt.date | None,
    death: dt.date | None = None,
    others: Iterable[Milestone],
    onset: tuple[dt.date, dt.date] | None = None,
    bounds: MilestoneBounds | None = None,
) -> list[dict]:
    """`_check_milestone` without queries: on given dates of birth and death, the patient's other,
    not skipped, milestones, the onset interval (`onset_window`) and what the visits say of this
    kind (`derived_milestone_bounds`). Returns the review flags to store; raises ValidationError.
    """
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
        return []

    window = milestone_window(values, birth)
    if window is None:
        return []
    field = "date"  # also for a milestone given as an age, as before
    conflicts = reported_milestone_conflicts(window, onset=onset, bounds=bounds)
    for refused in ("before_onset", "after_visit_reached"):
        if refused in conflicts:
            raise ValidationError({field: conflicts[refused]})

    kind = values["kind"]
    for other in others:
        other_window = milestone_window(
            {"date": other.date, "date_precision": other.date_precision, "age_years": other.age_years}, birth
        )
        if other_window is None or other.kind == kind:
            continue
        # Derived dates are the first visit at or beyond the stage: reaching `other` by then means
        # having reached every stage it implies (MILESTONE_IMPLIES) by then too.
        if kind in MILESTONE_IMPLIES[other.kind] and other_window[1] < window[0]:
            raise ValidationError(
                {
                    field: f"{kind} cannot come after {other.kind} "
                    f"({other.get_source_display().lower()}, {other.date or other.age_years}); "
                    "correct the dates, or mark this step as skipped if it never happened."
                }
            )
        if (
            other.kind in MILESTONE_IMPLIES[kind]
            and other.source == MilestoneSource.REPORTED
            and other_window[0] > window[1]
        ):
            raise ValidationError(
                {
                    field: f"{kind} cannot come before {other.kind} "
                    f"(reported, {other.date or other.age_years}); correct the dates, or mark "
                    f"{other.kind} as skipped if it never happened."
                }
            )
    if "before_visit_below" in conflicts:
        # A report can be an honest mistake, or the visit wrong: kept, for staff to check.
        return [{"code": "milestone_before_visit_below", "field": field, "message": conflicts["before_visit_below"]}]
    return []


MILESTONE_FIELDS = ("kind", "date", "date_precision", "age_years", "skipped")


@transaction.atomic
def milestone_report(*, patient: Patient, data: dict) -> Milestone:
    """Record a milestone reported retrospectively (by the patient or from their records)."""
    patient = patient_lock(patient_id=patient.pk)
    values = {name: data.get(name) for name in MILESTONE_FIELDS}
    values["skipped"] = bool(values["skipped"])
    values["date_precision"] = values["date_precision"] or ""
    # One read of the patient's assessments and milestones serves the duplicate check and the rules.
    record = PatientRecord.load(patient)
    if any(m.kind == values["kind"] and m.source == MilestoneSource.REPORTED for m in record.milestones):
        raise ValidationError({"kind": f"A reported {values['kind']} milestone exists already; update it instead."})
    flags = _check_milestone(patient, values, exclude_id=None, record=record)
    return Milestone.objects.create(
        patient=patient,
        source=MilestoneSource.REPORTED,
        censoring=reported_censoring(values),
        review_flags=flags,
        **values,
    )


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
    flags = _check_milestone(patient, values, exclude_id=milestone.pk)
    apply_changes(milestone, values | {"censoring": reported_censoring(values), "review_flags": flags})
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
    onset = _diagnosis_onset(getattr(patient, "diagnosis", None), birth)
    built: list[Milestone] = []
    for data in entries:
        values = {name: data.get(name) for name in MILESTONE_FIELDS}
        values["skipped"] = bool(values["skipped"])
        values["date_precision"] = values["date_precision"] or ""
        if any(milestone.kind == values["kind"] for milestone in built):
            raise ValidationError({"kind": f"A reported {values['kind']} milestone exists already; update it instead."})
        with timezone.override(patient.zone):
            flags = _milestone_rules(
                values,
                birth=birth,
                death=death,
                others=[milestone for milestone in built if not milestone.skipped],
                onset=onset,
            )
        built.append(
            Milestone(
                patient=patient,
                source=MilestoneSource.REPORTED,
                censoring=reported_censoring(values),
                review_flags=flags,
                **values,
            )
        )
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
    rows_by_patient: dict[int, list[dict]] = {}
    for assessment in assessments:
        rows_by_patient.setdefault(assessment.patient_id, []).append(
            {name: getattr(assessment, name) for name in HISTORY_FIELDS}
        )
    return [
        derived_milestone(patient_id=patient_id, kind=kind, bounds=bounds)
        for patient_id, rows in rows_by_patient.items()
        for kind, bounds in derived_milestone_bounds(rows).items()
        if bounds.upper
    ]
