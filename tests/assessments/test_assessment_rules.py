"""The validation rules for assessments (docs/clinical-rules.md), exercised through the services.

Each rule is checked on both sides of its boundary: the refused value leaves nothing written, and
the nearest accepted value is stored as sent (with totals, composites and flags computed).
"""

import datetime as dt
from decimal import Decimal

import pytest

from assessments import services
from assessments.models import (
    IBMFRS_ITEMS,
    AmbulationClass,
    Assessment,
    DynamometryMeasurement,
    Milestone,
    SixMinuteWalk,
    Source,
    WheelchairUse,
)
from patients.models import EnrollmentStatus
from patients.services import patient_change_status
from registry.dates import today
from registry.errors import StaleVersionError, ValidationError
from tests import factories

pytestmark = pytest.mark.django_db

BIRTH = dt.date(1980, 6, 15)  # PatientIdentityFactory's date of birth
UPPER = ["shoulder_abduction", "elbow_flexion", "elbow_extension"]
LOWER = ["hip_flexion", "hip_abduction", "knee_flexion", "knee_extension", "ankle_dorsiflexion"]


@pytest.fixture
def patient():
    """Born 1980-06-15, no diagnosis, no death date, candidate status."""
    return factories.PatientFactory()


def _data(**overrides) -> dict:
    return {"assessment_date": dt.date(2020, 3, 1), "source": Source.CLINICIAN} | overrides


def create(patient, dynamometry=(), **overrides) -> Assessment:
    return services.assessment_create(patient=patient, data=_data(**overrides), dynamometry=dynamometry)


def refused(patient, field, dynamometry=(), **overrides) -> list[str]:
    """Create must fail with an error on `field` and write nothing; returns the messages."""
    before = Assessment.objects.filter(patient=patient).count()
    with pytest.raises(ValidationError) as info:
        create(patient, dynamometry, **overrides)
    assert field in info.value.message_dict, info.value.message_dict
    assert Assessment.objects.filter(patient=patient).count() == before
    return info.value.message_dict[field]


def forces(groups, kg="10.0", sides=("left", "right")) -> list[dict]:
    return [{"muscle_group": group, "side": side, "kg": Decimal(kg)} for group in groups for side in sides]


def flag_codes(assessment) -> list[str]:
    return [flag["code"] for flag in assessment.review_flags]


# --- Dates --------------------------------------------------------------------------------------


def test_future_date_refused_and_today_accepted(patient):
    messages = refused(patient, "assessment_date", assessment_date=today() + dt.timedelta(days=1))
    assert "future" in messages[0]

    assert create(patient, assessment_date=today()).assessment_date == today()


def test_date_before_birth_refused(patient):
    messages = refused(patient, "assessment_date", assessment_date=BIRTH - dt.timedelta(days=1))
    assert str(BIRTH) in messages[0]

    assert create(patient, assessment_date=BIRTH).assessment_date == BIRTH


def test_age_over_110_refused():
    patient = factories.PatientFactory(identity__date_of_birth=dt.date(1900, 1, 1))

    messages = refused(patient, "assessment_date", assessment_date=dt.date(2011, 1, 1))  # 111th birthday
    assert "110" in messages[0]

    assert create(patient, assessment_date=dt.date(2010, 12, 31)).pk  # still 110


@pytest.mark.parametrize(
    ("onset_date", "precision", "last_refused", "first_accepted"),
    [
        (dt.date(2005, 1, 1), "year", dt.date(2004, 12, 31), dt.date(2005, 1, 1)),
        (dt.date(2005, 3, 1), "month", dt.date(2005, 2, 28), dt.date(2005, 3, 1)),
        (dt.date(2005, 3, 14), "day", dt.date(2005, 3, 13), dt.date(2005, 3, 14)),
    ],
)
def test_assessment_before_onset_date_refused(patient, onset_date, precision, last_refused, first_accepted):
    factories.DiagnosisFactory(patient=patient, onset_date=onset_date, onset_date_precision=precision, onset_age=None)

    messages = refused(patient, "assessment_date", assessment_date=last_refused)
    assert "onset" in messages[0]

    assert create(patient, assessment_date=first_accepted).assessment_date == first_accepted


def test_assessment_before_onset_age_refused_when_only_the_age_is_known(patient):
    factories.DiagnosisFactory(patient=patient, onset_date=None, onset_date_precision="", onset_age=30)

    messages = refused(patient, "assessment_date", assessment_date=dt.date(2010, 6, 14))  # still 29
    assert "(30)" in messages[0]

    assert create(patient, assessment_date=dt.date(2010, 6, 15)).pk  # 30th birthday


def test_assessment_after_death_refused(patient):
    patient.identity.date_of_death = dt.date(2021, 1, 1)
    patient.identity.save()

    messages = refused(patient, "assessment_date", assessment_date=dt.date(2021, 1, 2))
    assert "2021-01-01" in messages[0]

    assert create(patient, assessment_date=dt.date(2021, 1, 1)).pk


def test_assessment_after_withdrawal_refused(patient):
    patient_change_status(patient=patient, status=EnrollmentStatus.ENROLLED, effective_date=dt.date(2019, 1, 1))
    patient_change_status(patient=patient, status=EnrollmentStatus.WITHDRAWN, effective_date=dt.date(2021, 1, 1))

    for when in (dt.date(2021, 1, 2), dt.date(2022, 6, 1)):
        messages = refused(patient, "assessment_date", assessment_date=when)
        assert "withdrew" in messages[0]

    # The withdrawal day is the last day of participation: data up to it can still be entered.
    assert create(patient, assessment_date=dt.date(2020, 12, 31)).pk
    assert create(patient, assessment_date=dt.date(2021, 1, 1)).pk


def test_update_moving_the_date_after_death_refused_and_nothing_changes(patient):
    assessment = create(patient, assessment_date=dt.date(2020, 1, 1))
    patient.identity.date_of_death = dt.date(2021, 1, 1)
    patient.identity.save()

    with pytest.raises(ValidationError) as info:
        services.assessment_update(
            assessment=assessment, expected_version=1, data={"assessment_date": dt.date(2021, 6, 1)}
        )

    assert "assessment_date" in info.value.message_dict
    assessment.refresh_from_db()
    assert (assessment.assessment_date, assessment.version) == (dt.date(2020, 1, 1), 1)


# --- Ranges and counts --------------------------------------------------------------------------


@pytest.mark.parametrize("item", IBMFRS_ITEMS)
@pytest.mark.parametrize("score", [5, -1, 40])
def test_ibmfrs_item_out_of_range_refused(patient, item, score):
    messages = refused(patient, item, **{item: score})
    assert "0 to 4" in messages[0]


@pytest.mark.parametrize("score", [0, 4])
def test_ibmfrs_item_at_the_bounds_accepted(patient, score):
    assessment = create(patient, ibmfrs_walking=score)
    assessment.refresh_from_db()
    assert assessment.ibmfrs_walking == score


def test_ibmfrs_total_computed_when_all_ten_items_are_scored(patient):
    scores = dict(zip(IBMFRS_ITEMS, [4, 4, 3, 3, 2, 2, 1, 1, 0, 3], strict=True))

    assessment = create(patient, **scores)

    assessment.refresh_from_db()
    assert assessment.ibmfrs_total == 23


def test_ibmfrs_total_null_when_one_item_is_missing_then_computed_when_it_is_added(patient):
    scores = {name: 3 for name in IBMFRS_ITEMS}
    del scores["ibmfrs_climbing_stairs"]

    assessment = create(patient, **scores)
    assessment.refresh_from_db()
    assert assessment.ibmfrs_total is None

    services.assessment_update(assessment=assessment, expected_version=1, data={"ibmfrs_climbing_stairs": 1})
    assessment.refresh_from_db()
    assert assessment.ibmfrs_total == 28

    # A total is never typed in: a value passed in data is ignored.
    services.assessment_update(assessment=assessment, expected_version=2, data={"ibmfrs_total": 40})
    assessment.refresh_from_db()
    assert assessment.ibmfrs_total == 28


def test_injurious_falls_above_falls_refused(patient):
    messages = refused(patient, "injurious_falls_count", falls_count=2, injurious_falls_count=3)
    assert "cannot exceed falls" in messages[0]

    assessment = create(patient, falls_count=3, injurious_falls_count=3, fractures_count=1)
    assessment.refresh_from_db()
    assert (assessment.falls_count, assessment.injurious_falls_count, assessment.fractures_count) == (3, 3, 1)


def test_fractures_above_injurious_falls_refused(patient):
    messages = refused(patient, "fractures_count", falls_count=5, injurious_falls_count=1, fractures_count=2)
    assert "cannot exceed injurious falls" in messages[0]


@pytest.mark.parametrize("devices", [["afo", "afo"], ["cane", "walker", "cane"], ["afo", "skateboard"]])
def test_duplicated_or_unknown_device_refused(patient, devices):
    refused(patient, "devices", devices=devices)


def test_devices_stored_as_sent(patient):
    assessment = create(patient, devices=["afo", "cane", "manual_wheelchair"])
    assessment.refresh_from_db()
    assert assessment.devices == ["afo", "cane", "manual_wheelchair"]


def test_six_minute_walk_unable_with_metres_refused(patient):
    messages = refused(patient, "six_minute_walk_m", six_minute_walk_status=SixMinuteWalk.UNABLE, six_minute_walk_m=120)
    assert "unable" in messages[0]


def test_six_minute_walk_unable_without_metres_is_a_result(patient):
    assessment = create(patient, six_minute_walk_status=SixMinuteWalk.UNABLE)
    assessment.refresh_from_db()
    assert (assessment.six_minute_walk_status, assessment.six_minute_walk_m) == ("unable", None)


def test_six_minute_walk_metres_without_status_becomes_done(patient):
    assessment = create(patient, six_minute_walk_m=410)
    assessment.refresh_from_db()
    assert (assessment.six_minute_walk_status, assessment.six_minute_walk_m) == ("done", 410)


def test_six_minute_walk_done_without_metres_refused(patient):
    refused(patient, "six_minute_walk_m", six_minute_walk_status=SixMinuteWalk.DONE)


@pytest.mark.parametrize("metres", [-1, 901, 5000])
def test_six_minute_walk_out_of_range_refused(patient, metres):
    messages = refused(patient, "six_minute_walk_m", six_minute_walk_m=metres)
    assert "0 to 900" in messages[0]


@pytest.mark.parametrize("metres", [0, 900])
def test_six_minute_walk_at_the_bounds_accepted(patient, metres):
    assessment = create(patient, six_minute_walk_m=metres)
    assessment.refresh_from_db()
    assert assessment.six_minute_walk_m == metres


@pytest.mark.parametrize(
    ("field", "value"),
    [("grip_left_kg", Decimal("100.1")), ("fvc_percent_predicted", Decimal("200.5")), ("ck_u_per_l", 100_001)],
)
def test_other_measures_out_of_range_refused(patient, field, value):
    refused(patient, field, **{field: value})


# --- Contradictions are flagged, not refused ----------------------------------------------------


FULL_TIME = {"ambulation_class": AmbulationClass.WHEELCHAIR_FULL_TIME, "wheelchair_use": WheelchairUse.FULL_TIME}


def test_consistent_full_time_wheelchair_has_no_flags(patient):
    assessment = create(patient, **FULL_TIME, six_minute_walk_status=SixMinuteWalk.UNABLE, ibmfrs_walking=0)
    assessment.refresh_from_db()
    assert assessment.review_flags == []


def test_full_time_wheelchair_with_walk_distance_is_flagged_and_saved(patient):
    assessment = create(patient, **FULL_TIME, six_minute_walk_m=80)

    assessment.refresh_from_db()
    assert assessment.six_minute_walk_m == 80
    assert flag_codes(assessment) == ["wheelchair_but_walked"]
    assert assessment.review_flags[0]["field"] == "six_minute_walk_m"


def test_full_time_wheelchair_with_ibmfrs_walking_above_zero_is_flagged_and_saved(patient):
    assessment = create(patient, **FULL_TIME, ibmfrs_walking=2)

    assessment.refresh_from_db()
    assert assessment.ibmfrs_walking == 2
    assert flag_codes(assessment) == ["wheelchair_but_ibmfrs_walking"]


def test_full_time_wheelchair_from_wheelchair_use_alone_flags_both_contradictions(patient):
    assessment = create(patient, wheelchair_use=WheelchairUse.FULL_TIME, six_minute_walk_m=30, ibmfrs_walking=1)

    assessment.refresh_from_db()
    assert flag_codes(assessment) == ["wheelchair_but_walked", "wheelchair_but_ibmfrs_walking"]


@pytest.mark.parametrize(
    ("ambulation_class", "wheelchair_use"),
    [
        (AmbulationClass.CANE, WheelchairUse.PART_TIME),
        (AmbulationClass.WHEELCHAIR_PART_TIME, WheelchairUse.NONE),
        (AmbulationClass.WHEELCHAIR_FULL_TIME, WheelchairUse.PART_TIME),
        (AmbulationClass.UNAIDED, WheelchairUse.FULL_TIME),
    ],
)
def test_ambulation_class_and_wheelchair_use_mismatch_is_flagged_and_saved(patient, ambulation_class, wheelchair_use):
    assessment = create(patient, ambulation_class=ambulation_class, wheelchair_use=wheelchair_use)

    assessment.refresh_from_db()
    assert (assessment.ambulation_class, assessment.wheelchair_use) == (ambulation_class, wheelchair_use)
    assert "ambulation_wheelchair_mismatch" in flag_codes(assessment)


def test_flags_are_recomputed_on_update(patient):
    assessment = create(patient, **FULL_TIME, ibmfrs_walking=2)

    services.assessment_update(assessment=assessment, expected_version=1, data={"ibmfrs_walking": 0})

    assessment.refresh_from_db()
    assert assessment.review_flags == []


# --- Return to walking after full-time wheelchair ----------------------------------------------


@pytest.fixture
def wheelchair_patient(patient):
    """A patient whose 2019 assessment records full-time wheelchair use."""
    create(patient, assessment_date=dt.date(2019, 1, 1), **FULL_TIME, six_minute_walk_status="unable")
    return patient


WALKING_AGAIN = {
    "assessment_date": dt.date(2020, 1, 1),
    "ambulation_class": AmbulationClass.CANE,
    "wheelchair_use": WheelchairUse.NONE,
}


@pytest.mark.parametrize("source", [Source.CLINICIAN, Source.IMPORTED])
def test_return_to_walking_refused_without_clinician_confirmation(wheelchair_patient, source):
    messages = refused(wheelchair_patient, "ambulation_regain_confirmed", source=source, **WALKING_AGAIN)
    assert "2019-01-01" in messages[0]


def test_return_to_walking_by_walk_test_alone_refused_without_confirmation(wheelchair_patient):
    refused(
        wheelchair_patient, "ambulation_regain_confirmed", assessment_date=dt.date(2020, 1, 1), six_minute_walk_m=150
    )


def test_return_to_walking_accepted_with_clinician_confirmation(wheelchair_patient):
    assessment = create(wheelchair_patient, ambulation_regain_confirmed=True, **WALKING_AGAIN)

    assessment.refresh_from_db()
    assert assessment.ambulation_regain_confirmed is True
    assert assessment.ambulation_class == AmbulationClass.CANE
    assert assessment.review_flags == []


def test_return_to_walking_from_patient_self_report_saved_with_review_flag(wheelchair_patient):
    assessment = create(wheelchair_patient, source=Source.PATIENT, **WALKING_AGAIN)

    assessment.refresh_from_db()
    assert assessment.ambulation_class == AmbulationClass.CANE
    assert flag_codes(assessment) == ["ambulation_regained_unconfirmed"]
    assert "2019-01-01" in assessment.review_flags[0]["message"]


def test_walking_before_the_full_time_wheelchair_assessment_is_not_a_return(wheelchair_patient):
    assessment = create(wheelchair_patient, **(WALKING_AGAIN | {"assessment_date": dt.date(2018, 1, 1)}))
    assert assessment.review_flags == []


def test_full_time_wheelchair_entered_before_an_existing_walking_assessment_is_caught(patient):
    create(patient, **WALKING_AGAIN)  # 2020, walks with a cane

    wheelchair = create(patient, assessment_date=dt.date(2019, 1, 1), **FULL_TIME, six_minute_walk_status="unable")

    # The retrospective full-time entry is kept, flagged: the later walking record needs confirming.
    wheelchair.refresh_from_db()
    assert flag_codes(wheelchair) == ["later_walking_unconfirmed"]
    assert "2020" in wheelchair.review_flags[0]["message"]


# --- Hand-held dynamometry ----------------------------------------------------------------------


def test_hhd_composites_computed_only_from_a_complete_set(patient):
    rows = forces(UPPER, "12.5") + forces(LOWER[:-1], "20.0") + forces(["ankle_dorsiflexion"], "7.5", ["left"])
    rows += forces(["wrist_extension"], "99.0")  # not part of either composite

    assessment = create(patient, dynamometry=rows)

    assessment.refresh_from_db()
    assert assessment.hhd_upper_composite_kg == Decimal("75.0")  # 6 x 12.5
    assert assessment.hhd_lower_composite_kg is None  # ankle dorsiflexion right is missing
    assert assessment.dynamometry.count() == len(rows)


def test_hhd_composites_are_the_sum_of_their_groups(patient):
    upper = [
        {"muscle_group": "shoulder_abduction", "side": "left", "kg": Decimal("10.1")},
        {"muscle_group": "shoulder_abduction", "side": "right", "kg": Decimal("11.2")},
        {"muscle_group": "elbow_flexion", "side": "left", "kg": Decimal("5.3")},
        {"muscle_group": "elbow_flexion", "side": "right", "kg": Decimal("6.4")},
        {"muscle_group": "elbow_extension", "side": "left", "kg": Decimal("7.5")},
        {"muscle_group": "elbow_extension", "side": "right", "kg": Decimal("8.6")},
    ]
    lower = forces(LOWER, "30.0")

    assessment = create(patient, dynamometry=upper + lower)

    assessment.refresh_from_db()
    assert assessment.hhd_upper_composite_kg == Decimal("49.1")
    assert assessment.hhd_lower_composite_kg == Decimal("300.0")


def test_hhd_composites_recomputed_when_dynamometry_is_replaced_or_kept(patient):
    assessment = create(patient, dynamometry=forces(UPPER, "10.0"))
    assert assessment.hhd_upper_composite_kg == Decimal("60.0")

    # Without `dynamometry`, the stored rows are kept and the composites stay.
    services.assessment_update(assessment=assessment, expected_version=1, data={"falls_count": 1})
    assessment.refresh_from_db()
    assert assessment.hhd_upper_composite_kg == Decimal("60.0")
    assert assessment.dynamometry.count() == 6

    services.assessment_update(
        assessment=assessment, expected_version=2, data={}, dynamometry=forces(UPPER[:2], "10.0") + forces(LOWER, "1.0")
    )
    assessment.refresh_from_db()
    assert assessment.hhd_upper_composite_kg is None
    assert assessment.hhd_lower_composite_kg == Decimal("10.0")
    assert set(assessment.dynamometry.values_list("muscle_group", flat=True)) == set(UPPER[:2] + LOWER)


def test_hhd_composites_not_typed_in(patient):
    assessment = create(patient, hhd_upper_composite_kg=Decimal("99.0"))
    assessment.refresh_from_db()
    assert assessment.hhd_upper_composite_kg is None


def test_duplicated_muscle_group_and_side_refused(patient):
    rows = forces(["knee_extension"], "20.0") + forces(["knee_extension"], "25.0", ["right"])

    messages = refused(patient, "dynamometry.2", dynamometry=rows)

    assert "knee_extension right" in messages[0]
    assert not DynamometryMeasurement.objects.exists()


@pytest.mark.parametrize("kg", ["150.1", "-0.1"])
def test_dynamometry_force_out_of_range_refused(patient, kg):
    rows = forces(["hip_flexion"], "20.0") + forces(["knee_flexion"], kg, ["left"])
    refused(patient, "dynamometry.2.kg", dynamometry=rows)


def test_duplicated_muscle_group_and_side_refused_on_update(patient):
    assessment = create(patient, dynamometry=forces(["hip_flexion"], "20.0"))
    rows = forces(["knee_extension"], "20.0") + forces(["knee_extension"], "25.0", ["right"])

    with pytest.raises(ValidationError) as info:
        services.assessment_update(assessment=assessment, expected_version=1, data={}, dynamometry=rows)

    assert "dynamometry.2" in info.value.message_dict
    assert set(assessment.dynamometry.values_list("muscle_group", "side")) == {
        ("hip_flexion", "left"),
        ("hip_flexion", "right"),
    }


def test_invalid_update_keeps_the_stored_dynamometry(patient):
    assessment = create(patient, dynamometry=forces(UPPER, "10.0"))

    with pytest.raises(ValidationError):
        services.assessment_update(
            assessment=assessment,
            expected_version=1,
            data={"falls_count": 1, "injurious_falls_count": 2},
            dynamometry=forces(LOWER, "5.0"),
        )

    assessment.refresh_from_db()
    assert assessment.version == 1
    assert assessment.hhd_upper_composite_kg == Decimal("60.0")
    assert set(assessment.dynamometry.values_list("muscle_group", flat=True)) == set(UPPER)


def test_hhd_composite_groups_come_from_settings(patient, settings):
    settings.REGISTRY_HHD_COMPOSITES = {"upper": ["wrist_extension"], "lower": ["knee_extension"]}

    assessment = create(patient, dynamometry=forces(["wrist_extension"], "4.5") + forces(UPPER + ["knee_extension"]))

    assert (assessment.hhd_upper_composite_kg, assessment.hhd_lower_composite_kg) == (Decimal("9.0"), Decimal("20.0"))


# --- Versions -----------------------------------------------------------------------------------


def test_update_bumps_the_version_and_writes_the_values(patient):
    assessment = create(patient, falls_count=1)

    updated = services.assessment_update(assessment=assessment, expected_version=1, data={"falls_count": 4})

    assert updated.version == 2
    assessment.refresh_from_db()
    assert (assessment.version, assessment.falls_count) == (2, 4)


def test_stale_expected_version_on_update_raises_and_changes_nothing(patient):
    assessment = create(
        patient, ambulation_class=AmbulationClass.AFO_ONLY, falls_count=1, dynamometry=forces(UPPER, "10.0")
    )
    services.assessment_update(assessment=assessment, expected_version=1, data={"falls_count": 2})
    before = Assessment.objects.values().get(pk=assessment.pk)
    milestones_before = list(Milestone.objects.filter(patient=patient).values())

    with pytest.raises(StaleVersionError) as info:
        services.assessment_update(
            assessment=assessment,
            expected_version=1,
            data={"falls_count": 9, "ambulation_class": AmbulationClass.WALKER},
            dynamometry=[],
        )

    assert info.value.current_version == 2
    assert Assessment.objects.values().get(pk=assessment.pk) == before
    assert assessment.dynamometry.count() == 6
    assert list(Milestone.objects.filter(patient=patient).values()) == milestones_before


def test_stale_expected_version_on_delete_raises_and_keeps_the_row(patient):
    assessment = create(patient, ambulation_class=AmbulationClass.CANE)

    with pytest.raises(StaleVersionError):
        services.assessment_delete(assessment=assessment, expected_version=3)

    assert Assessment.objects.filter(pk=assessment.pk).exists()
    # The cane milestone (an AFO is no longer inferred from a cane).
    assert Milestone.objects.filter(patient=patient, derived_from=assessment).count() == 1


def test_delete_removes_the_assessment_and_its_dynamometry(patient):
    assessment = create(patient, dynamometry=forces(UPPER, "10.0"))

    services.assessment_delete(assessment=assessment, expected_version=1)

    assert not Assessment.objects.filter(pk=assessment.pk).exists()
    assert not DynamometryMeasurement.objects.exists()


# --- Locking: the patient row is locked without its identity join (PostgreSQL refuses that) -----


def test_assessment_create_locks_the_patient_on_postgresql(patient):
    assessment = create(patient, falls_count=1)

    assert Assessment.objects.get(pk=assessment.pk).falls_count == 1


def test_assessment_update_locks_the_patient_on_postgresql(patient):
    assessment = factories.AssessmentFactory(patient=patient, falls_count=1)

    services.assessment_update(assessment=assessment, expected_version=1, data={"falls_count": 2})

    assessment.refresh_from_db()
    assert (assessment.falls_count, assessment.version) == (2, 2)


def test_assessment_delete_locks_the_patient_on_postgresql(patient):
    assessment = factories.AssessmentFactory(patient=patient)

    services.assessment_delete(assessment=assessment, expected_version=1)

    assert not Assessment.objects.filter(pk=assessment.pk).exists()
