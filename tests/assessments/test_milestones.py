"""Milestones: derived from assessments (first date each stage was reached or passed) and reported
retrospectively, in order AFO <= cane <= walker <= part-time <= full-time wheelchair unless skipped."""

import datetime as dt

import pytest

from assessments import services
from assessments.models import AmbulationClass, Assessment, Milestone, MilestoneKind, Source, WheelchairUse
from registry.dates import today
from registry.errors import StaleVersionError, ValidationError
from tests import factories

pytestmark = pytest.mark.django_db

AFO, CANE, WALKER = MilestoneKind.AFO, MilestoneKind.CANE, MilestoneKind.WALKER
PART_TIME, FULL_TIME = MilestoneKind.WHEELCHAIR_PART_TIME, MilestoneKind.WHEELCHAIR_FULL_TIME


@pytest.fixture
def patient():
    """Born 1980-06-15, no diagnosis."""
    return factories.PatientFactory()


def assess(patient, when, ambulation_class=None, wheelchair_use="") -> Assessment:
    data = {
        "assessment_date": when,
        "source": Source.CLINICIAN,
        "ambulation_class": ambulation_class,
        "wheelchair_use": wheelchair_use,
    }
    return services.assessment_create(patient=patient, data=data)


def derived(patient) -> dict[str, tuple[dt.date, int | None]]:
    """{kind: (date, derived_from_id)} of the patient's derived milestones."""
    rows = Milestone.objects.filter(patient=patient, source="derived")
    for row in rows:
        assert (row.date_precision, row.skipped, row.age_years) == ("day", False, None)
    return {row.kind: (row.date, row.derived_from_id) for row in rows}


def report(patient, kind, when=None, precision="day", **extra) -> Milestone:
    data = {"kind": kind, "date": when, "date_precision": precision if when else ""} | extra
    return services.milestone_report(patient=patient, data=data)


def report_refused(patient, field, kind, when=None, precision="day", **extra) -> str:
    before = Milestone.objects.filter(patient=patient).count()
    with pytest.raises(ValidationError) as info:
        report(patient, kind, when, precision, **extra)
    assert field in info.value.message_dict, info.value.message_dict
    assert Milestone.objects.filter(patient=patient).count() == before
    return info.value.message_dict[field][0]


# --- Derived ------------------------------------------------------------------------------------


def test_derived_milestones_have_the_first_date_each_stage_was_reached(patient):
    unaided = assess(patient, dt.date(2012, 5, 1), AmbulationClass.UNAIDED, WheelchairUse.NONE)
    afo = assess(patient, dt.date(2014, 5, 1), AmbulationClass.AFO_ONLY, WheelchairUse.NONE)
    assess(patient, dt.date(2015, 5, 1), AmbulationClass.AFO_ONLY, WheelchairUse.NONE)
    cane = assess(patient, dt.date(2017, 5, 1), AmbulationClass.CANE, WheelchairUse.NONE)
    walker = assess(patient, dt.date(2019, 5, 1), AmbulationClass.WALKER, WheelchairUse.NONE)
    part_time = assess(patient, dt.date(2022, 5, 1), AmbulationClass.WHEELCHAIR_PART_TIME, WheelchairUse.PART_TIME)

    assert derived(patient) == {
        AFO: (dt.date(2014, 5, 1), afo.pk),
        CANE: (dt.date(2017, 5, 1), cane.pk),
        WALKER: (dt.date(2019, 5, 1), walker.pk),
        PART_TIME: (dt.date(2022, 5, 1), part_time.pk),
    }
    assert unaided.pk not in {pk for _, pk in derived(patient).values()}


def test_a_later_lower_stage_does_not_move_a_derived_milestone(patient):
    cane = assess(patient, dt.date(2017, 1, 1), AmbulationClass.CANE)
    assess(patient, dt.date(2018, 1, 1), AmbulationClass.AFO_ONLY)  # better on a later visit

    assert derived(patient) == {AFO: (dt.date(2017, 1, 1), cane.pk), CANE: (dt.date(2017, 1, 1), cane.pk)}


def test_patient_first_seen_with_a_walker_gets_afo_cane_and_walker_on_that_date(patient):
    first = assess(patient, dt.date(2020, 3, 1), AmbulationClass.WALKER, WheelchairUse.NONE)

    when = dt.date(2020, 3, 1)
    assert derived(patient) == {AFO: (when, first.pk), CANE: (when, first.pk), WALKER: (when, first.pk)}


def test_wheelchair_use_alone_reaches_the_wheelchair_stages(patient):
    part = assess(patient, dt.date(2019, 1, 1), None, WheelchairUse.PART_TIME)
    full = assess(patient, dt.date(2021, 1, 1), None, WheelchairUse.FULL_TIME)

    milestones = derived(patient)
    assert {kind: milestones[kind] for kind in (AFO, CANE, WALKER, PART_TIME)} == {
        kind: (dt.date(2019, 1, 1), part.pk) for kind in (AFO, CANE, WALKER, PART_TIME)
    }
    assert milestones[FULL_TIME] == (dt.date(2021, 1, 1), full.pk)


def test_assessment_without_mobility_data_derives_nothing(patient):
    assess(patient, dt.date(2019, 1, 1))
    assert derived(patient) == {}


def test_an_earlier_assessment_entered_later_moves_the_milestones(patient):
    later = assess(patient, dt.date(2020, 1, 1), AmbulationClass.CANE)
    earlier = assess(patient, dt.date(2018, 1, 1), AmbulationClass.AFO_ONLY)

    assert derived(patient) == {AFO: (dt.date(2018, 1, 1), earlier.pk), CANE: (dt.date(2020, 1, 1), later.pk)}
    assert Milestone.objects.get(patient=patient, kind=AFO).version == 2


def test_updating_an_assessment_moves_a_derived_milestone(patient):
    afo = assess(patient, dt.date(2016, 1, 1), AmbulationClass.AFO_ONLY)
    cane = assess(patient, dt.date(2018, 1, 1), AmbulationClass.CANE)

    services.assessment_update(assessment=cane, expected_version=1, data={"assessment_date": dt.date(2019, 7, 1)})

    assert derived(patient) == {AFO: (dt.date(2016, 1, 1), afo.pk), CANE: (dt.date(2019, 7, 1), cane.pk)}


def test_updating_an_assessment_to_a_lower_stage_removes_the_derived_milestone(patient):
    afo = assess(patient, dt.date(2016, 1, 1), AmbulationClass.AFO_ONLY)
    cane = assess(patient, dt.date(2018, 1, 1), AmbulationClass.CANE)

    services.assessment_update(assessment=cane, expected_version=1, data={"ambulation_class": AmbulationClass.AFO_ONLY})

    assert derived(patient) == {AFO: (dt.date(2016, 1, 1), afo.pk)}


def test_updating_the_first_assessment_to_a_higher_stage_moves_later_milestones_earlier(patient):
    afo = assess(patient, dt.date(2016, 1, 1), AmbulationClass.AFO_ONLY)
    assess(patient, dt.date(2018, 1, 1), AmbulationClass.CANE)

    services.assessment_update(assessment=afo, expected_version=1, data={"ambulation_class": AmbulationClass.CANE})

    assert derived(patient) == {AFO: (dt.date(2016, 1, 1), afo.pk), CANE: (dt.date(2016, 1, 1), afo.pk)}


def test_deleting_an_assessment_moves_or_removes_derived_milestones(patient):
    afo = assess(patient, dt.date(2016, 1, 1), AmbulationClass.AFO_ONLY)
    cane = assess(patient, dt.date(2018, 1, 1), AmbulationClass.CANE)

    services.assessment_delete(assessment=afo, expected_version=1)
    assert derived(patient) == {AFO: (dt.date(2018, 1, 1), cane.pk), CANE: (dt.date(2018, 1, 1), cane.pk)}

    services.assessment_delete(assessment=cane, expected_version=1)
    assert derived(patient) == {}


def test_deriving_leaves_reported_milestones_alone(patient):
    reported = report(patient, AFO, dt.date(2013, 1, 1), "year")
    cane = assess(patient, dt.date(2018, 1, 1), AmbulationClass.CANE)
    services.assessment_delete(assessment=cane, expected_version=1)

    reported_now = Milestone.objects.get(pk=reported.pk)
    assert (reported_now.source, reported_now.date, reported_now.version) == ("reported", dt.date(2013, 1, 1), 1)
    assert derived(patient) == {}


# --- Reported -----------------------------------------------------------------------------------


def test_reported_milestone_stored_with_its_precision(patient):
    milestone = report(patient, AFO, dt.date(2015, 1, 1), "year")

    milestone.refresh_from_db()
    assert (milestone.kind, milestone.source, milestone.date, milestone.date_precision) == (
        "afo",
        "reported",
        dt.date(2015, 1, 1),
        "year",
    )
    assert (milestone.skipped, milestone.derived_from_id, milestone.version) == (False, None, 1)


def test_reported_milestone_needs_a_date_an_age_or_skipped(patient):
    assert "skipped" in report_refused(patient, "date", AFO)


def test_reported_milestone_in_the_future_or_before_birth_refused(patient):
    assert "future" in report_refused(patient, "date", AFO, today() + dt.timedelta(days=1))
    assert "birth" in report_refused(patient, "date", AFO, dt.date(1979, 1, 1), "year")
    # The year of birth itself overlaps the date of birth.
    assert report(patient, AFO, dt.date(1980, 1, 1), "year").pk


def test_reported_milestone_after_a_later_stage_refused(patient):
    report(patient, CANE, dt.date(2012, 6, 1))

    message = report_refused(patient, "date", AFO, dt.date(2014, 1, 1))

    assert "afo cannot come after cane" in message
    assert "2012-06-01" in message


def test_reported_milestone_before_an_earlier_reported_stage_refused(patient):
    report(patient, AFO, dt.date(2014, 1, 1))

    message = report_refused(patient, "date", WALKER, dt.date(2013, 12, 31))

    assert "walker cannot come before afo" in message


def test_overlapping_partial_dates_are_accepted(patient):
    report(patient, AFO, dt.date(2015, 1, 1), "year")  # some day in 2015
    report(patient, CANE, dt.date(2015, 3, 1), "month")  # some day in March 2015
    report(patient, WALKER, dt.date(2015, 1, 1), "year")  # could be late March 2015 or after

    stored = {m.kind: (m.date, m.date_precision) for m in Milestone.objects.filter(patient=patient)}
    assert stored == {
        AFO: (dt.date(2015, 1, 1), "year"),
        CANE: (dt.date(2015, 3, 1), "month"),
        WALKER: (dt.date(2015, 1, 1), "year"),
    }


def test_partial_date_certainly_before_an_earlier_stage_refused(patient):
    report(patient, CANE, dt.date(2015, 3, 1), "month")

    # 10 February is before every day of March 2015.
    assert "cannot come before cane" in report_refused(patient, "date", PART_TIME, dt.date(2015, 2, 10))
    # Any day of 2015 might be in or after March: accepted.
    assert report(patient, PART_TIME, dt.date(2015, 1, 1), "year").pk


def test_skipped_step_with_a_date_or_age_refused(patient):
    assert "no date" in report_refused(patient, "skipped", CANE, dt.date(2015, 1, 1), skipped=True)
    assert "no date" in report_refused(patient, "skipped", CANE, age_years=30, skipped=True)


def test_skipped_step_accepted_and_left_out_of_the_ordering(patient):
    report(patient, AFO, dt.date(2010, 1, 1), "year")
    skipped = report(patient, CANE, skipped=True)
    report(patient, WALKER, dt.date(2012, 1, 1), "year")
    # Went from a walker straight to full-time use: part-time is skipped and orders nothing.
    report(patient, PART_TIME, skipped=True)
    report(patient, FULL_TIME, dt.date(2016, 1, 1), "year")

    skipped.refresh_from_db()
    assert (skipped.skipped, skipped.date, skipped.age_years, skipped.date_precision) == (True, None, None, "")
    assert Milestone.objects.filter(patient=patient, source="reported").count() == 5


def test_reported_milestone_against_derived_ones(patient):
    assess(patient, dt.date(2016, 1, 1), AmbulationClass.WALKER)  # derived walker: by 2016 at the latest

    # A reported cane after the walker was already observed cannot be right.
    assert "cane cannot come after walker (derived" in report_refused(patient, "date", CANE, dt.date(2017, 1, 1))
    # Derived dates are upper bounds: a reported later stage before them is no contradiction.
    assert report(patient, PART_TIME, dt.date(2015, 1, 1), "year").pk
    assert report(patient, CANE, dt.date(2014, 1, 1), "year").pk


def test_assessment_contradicting_a_reported_milestone_is_caught(patient):
    report(patient, CANE, dt.date(2020, 1, 1), "year")  # "my first cane was in 2020"

    # The reverse order is refused (test_reported_milestone_against_derived_ones); this one must not
    # pass silently either: refuse it, or store it with a review flag.
    try:
        walker = assess(patient, dt.date(2016, 1, 1), AmbulationClass.WALKER)
    except ValidationError:
        return
    assert walker.review_flags, "a walker in 2016 contradicts a first cane in 2020"


def test_second_reported_milestone_of_the_same_kind_refused(patient):
    first = report(patient, AFO, dt.date(2015, 1, 1), "year")

    assert "exists already" in report_refused(patient, "kind", AFO, dt.date(2016, 1, 1), "year")

    assert Milestone.objects.get(patient=patient, kind=AFO, source="reported").pk == first.pk


def test_reported_milestone_may_sit_beside_the_derived_one_of_the_same_kind(patient):
    assess(patient, dt.date(2018, 1, 1), AmbulationClass.AFO_ONLY)

    report(patient, AFO, dt.date(2016, 1, 1), "year")

    assert sorted(Milestone.objects.filter(patient=patient, kind=AFO).values_list("source", flat=True)) == [
        "derived",
        "reported",
    ]


def test_age_only_milestone_is_placed_with_the_date_of_birth(patient):
    # Born 1980-06-15: AFO at 30 means between 2010-06-15 and 2011-06-14.
    report(patient, AFO, age_years=30)

    assert "cane cannot come before afo" in report_refused(patient, "date", CANE, dt.date(2010, 6, 14))
    assert "walker cannot come before afo" in report_refused(patient, "date", WALKER, age_years=29)
    assert report(patient, CANE, dt.date(2010, 6, 15)).pk
    assert report(patient, WALKER, age_years=30).pk


def test_age_only_milestone_after_a_dated_later_stage_refused(patient):
    report(patient, WALKER, dt.date(2009, 1, 1), "year")

    assert "afo cannot come after walker" in report_refused(patient, "date", AFO, age_years=30)


def test_age_above_the_current_age_refused(patient):
    current_age = today().year - 1980 - ((today().month, today().day) < (6, 15))

    assert "current age" in report_refused(patient, "age_years", AFO, age_years=current_age + 1)
    assert report(patient, AFO, age_years=current_age).age_years == current_age


def test_milestone_update_checks_the_order_again(patient):
    report(patient, AFO, dt.date(2010, 1, 1), "year")
    cane = report(patient, CANE, dt.date(2012, 1, 1), "year")

    with pytest.raises(ValidationError) as info:
        services.milestone_update(
            milestone=cane, expected_version=1, data={"date": dt.date(2009, 5, 1), "date_precision": "month"}
        )

    assert "cane cannot come before afo" in info.value.message_dict["date"][0]
    cane.refresh_from_db()
    assert (cane.date, cane.date_precision, cane.version) == (dt.date(2012, 1, 1), "year", 1)

    updated = services.milestone_update(
        milestone=cane, expected_version=1, data={"date": dt.date(2011, 5, 1), "date_precision": "month"}
    )
    assert updated.version == 2
    cane.refresh_from_db()
    assert (cane.date, cane.date_precision, cane.version) == (dt.date(2011, 5, 1), "month", 2)


def test_milestone_update_to_skipped_needs_the_date_cleared(patient):
    cane = report(patient, CANE, dt.date(2012, 1, 1), "year")

    with pytest.raises(ValidationError) as info:
        services.milestone_update(milestone=cane, expected_version=1, data={"skipped": True})
    assert "skipped" in info.value.message_dict

    services.milestone_update(
        milestone=cane, expected_version=1, data={"skipped": True, "date": None, "date_precision": ""}
    )
    cane.refresh_from_db()
    assert (cane.skipped, cane.date, cane.version) == (True, None, 2)


def test_milestone_kind_cannot_change(patient):
    cane = report(patient, CANE, dt.date(2012, 1, 1), "year")

    with pytest.raises(ValidationError) as info:
        services.milestone_update(milestone=cane, expected_version=1, data={"kind": WALKER})

    assert "kind" in info.value.message_dict
    cane.refresh_from_db()
    assert cane.kind == CANE


def test_milestone_update_and_delete_with_a_stale_version_change_nothing(patient):
    cane = report(patient, CANE, dt.date(2012, 1, 1), "year")

    with pytest.raises(StaleVersionError):
        services.milestone_update(milestone=cane, expected_version=2, data={"date": dt.date(2013, 1, 1)})
    with pytest.raises(StaleVersionError):
        services.milestone_delete(milestone=cane, expected_version=2)

    cane.refresh_from_db()
    assert (cane.date, cane.version) == (dt.date(2012, 1, 1), 1)


def test_reported_milestone_delete(patient):
    cane = report(patient, CANE, dt.date(2012, 1, 1), "year")

    services.milestone_delete(milestone=cane, expected_version=1)

    assert not Milestone.objects.filter(pk=cane.pk).exists()


def test_derived_milestones_cannot_be_updated_or_deleted_through_the_service(patient):
    assess(patient, dt.date(2018, 1, 1), AmbulationClass.AFO_ONLY)
    milestone = Milestone.objects.get(patient=patient, source="derived")

    with pytest.raises(ValidationError) as info:
        services.milestone_update(milestone=milestone, expected_version=1, data={"date": dt.date(2015, 1, 1)})
    assert "source" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        services.milestone_delete(milestone=milestone, expected_version=1)
    assert "source" in info.value.message_dict

    milestone.refresh_from_db()
    assert (milestone.date, milestone.version, milestone.source) == (dt.date(2018, 1, 1), 1, "derived")


# --- Locking: only the patient row, which PostgreSQL accepts ---------------------------------------


def test_milestone_report_locks_the_patient_on_postgresql(patient):
    milestone = report(patient, AFO, dt.date(2015, 1, 1), "year")

    assert Milestone.objects.get(pk=milestone.pk).source == "reported"


def test_milestone_update_locks_the_patient_on_postgresql(patient):
    milestone = Milestone.objects.create(
        patient=patient, kind=AFO, source="reported", date=dt.date(2015, 1, 1), date_precision="year"
    )

    services.milestone_update(milestone=milestone, expected_version=1, data={"date": dt.date(2014, 1, 1)})

    milestone.refresh_from_db()
    assert (milestone.date, milestone.version) == (dt.date(2014, 1, 1), 2)
