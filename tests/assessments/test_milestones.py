"""Milestones (docs/clinical-rules.md, "Milestones" and rule 2): derived from assessments as an
interval (after the last visit below the stage, by the first visit at or beyond it; left-censored
when the first informative visit already shows it), and reported retrospectively. Cane <= walker <=
full-time wheelchair and part-time <= full-time wheelchair unless skipped; AFO is no stage of that
order, and walking aids and wheelchair use are two scales."""

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


def assess(patient, when, ambulation_class=None, wheelchair_use="", devices=()) -> Assessment:
    data = {
        "assessment_date": when,
        "source": Source.CLINICIAN,
        "ambulation_class": ambulation_class,
        "wheelchair_use": wheelchair_use,
        "devices": list(devices),
    }
    return services.assessment_create(patient=patient, data=data)


def derived(patient) -> dict[str, tuple[dt.date, int | None]]:
    """{kind: (date, derived_from_id)} of the patient's derived milestones."""
    rows = Milestone.objects.filter(patient=patient, source="derived")
    for row in rows:
        assert (row.date_precision, row.skipped, row.age_years) == ("day", False, None)
    return {row.kind: (row.date, row.derived_from_id) for row in rows}


def intervals(patient) -> dict[str, tuple[dt.date | None, dt.date, str]]:
    """{kind: (lower_bound_date, date, censoring)} of the patient's derived milestones."""
    rows = Milestone.objects.filter(patient=patient, source="derived")
    return {row.kind: (row.lower_bound_date, row.date, row.censoring) for row in rows}


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
    # Each is an interval: after the last visit below the stage, by the first at or beyond it.
    assert intervals(patient) == {
        AFO: (dt.date(2012, 5, 1), dt.date(2014, 5, 1), "interval"),
        CANE: (dt.date(2015, 5, 1), dt.date(2017, 5, 1), "interval"),
        WALKER: (dt.date(2017, 5, 1), dt.date(2019, 5, 1), "interval"),
        PART_TIME: (dt.date(2019, 5, 1), dt.date(2022, 5, 1), "interval"),
    }
    # Full-time use not reached by 2022: no derived row (the selector reports it right-censored).


def test_a_later_lower_stage_does_not_move_a_derived_milestone(patient):
    cane = assess(patient, dt.date(2017, 1, 1), AmbulationClass.CANE)
    afo = assess(patient, dt.date(2018, 1, 1), AmbulationClass.AFO_ONLY)  # better on a later visit

    # The cane stays where it was first seen; the AFO is where it was first recorded, not inferred
    # from the cane.
    assert derived(patient) == {AFO: (dt.date(2018, 1, 1), afo.pk), CANE: (dt.date(2017, 1, 1), cane.pk)}


def test_patient_first_seen_with_a_walker_is_left_censored_for_cane_and_walker(patient):
    first = assess(patient, dt.date(2020, 3, 1), AmbulationClass.WALKER, WheelchairUse.NONE)

    when = dt.date(2020, 3, 1)
    assert derived(patient) == {CANE: (when, first.pk), WALKER: (when, first.pk)}
    assert intervals(patient) == {CANE: (None, when, "left"), WALKER: (None, when, "left")}


def test_patient_first_seen_in_a_wheelchair_is_left_censored_not_given_events_on_that_day(patient):
    first = assess(
        patient,
        dt.date(2020, 3, 1),
        AmbulationClass.WHEELCHAIR_FULL_TIME,
        WheelchairUse.FULL_TIME,
        ["power_wheelchair"],
    )

    when = dt.date(2020, 3, 1)
    # Reached by then, at some unknown earlier time: no lower bound. No AFO was ever recorded.
    assert intervals(patient) == {kind: (None, when, "left") for kind in (CANE, WALKER, PART_TIME, FULL_TIME)}
    assert {pk for _, pk in derived(patient).values()} == {first.pk}


def test_wheelchair_use_alone_reaches_the_wheelchair_stages(patient):
    part = assess(patient, dt.date(2019, 1, 1), None, WheelchairUse.PART_TIME)
    full = assess(patient, dt.date(2021, 1, 1), None, WheelchairUse.FULL_TIME)

    # A part-time wheelchair says nothing of walking aids; full-time use is beyond all of them.
    assert derived(patient) == {
        PART_TIME: (dt.date(2019, 1, 1), part.pk),
        CANE: (dt.date(2021, 1, 1), full.pk),
        WALKER: (dt.date(2021, 1, 1), full.pk),
        FULL_TIME: (dt.date(2021, 1, 1), full.pk),
    }
    assert intervals(patient)[FULL_TIME] == (dt.date(2019, 1, 1), dt.date(2021, 1, 1), "interval")
    assert intervals(patient)[CANE] == (None, dt.date(2021, 1, 1), "left")


def test_afo_is_not_inferred_from_a_cane(patient):
    assess(patient, dt.date(2018, 1, 1), AmbulationClass.CANE, WheelchairUse.NONE, ["cane"])

    assert set(derived(patient)) == {CANE}


def test_afo_is_derived_from_a_recorded_afo(patient):
    assess(patient, dt.date(2016, 1, 1), AmbulationClass.UNAIDED, WheelchairUse.NONE)
    assess(patient, dt.date(2017, 1, 1), AmbulationClass.CANE, WheelchairUse.NONE, ["cane"])  # says nothing of AFO
    with_afo = assess(patient, dt.date(2018, 1, 1), AmbulationClass.CANE, WheelchairUse.NONE, ["afo", "cane"])

    assert derived(patient)[AFO] == (dt.date(2018, 1, 1), with_afo.pk)
    # The last visit known without AFO is the unaided one; the 2017 visit did not say.
    assert intervals(patient)[AFO] == (dt.date(2016, 1, 1), dt.date(2018, 1, 1), "interval")


def test_afo_takes_no_part_in_the_order_of_stages(patient):
    report(patient, CANE, dt.date(2012, 1, 1), "year")

    # An AFO first worn after the first cane is possible: it is worn alongside any stage.
    assert report(patient, AFO, dt.date(2016, 1, 1), "year").pk


def test_no_walker_is_inferred_from_a_cane_and_a_part_time_wheelchair(patient):
    assess(patient, dt.date(2019, 1, 1), AmbulationClass.CANE, WheelchairUse.PART_TIME, ["cane", "manual_wheelchair"])

    milestones = intervals(patient)
    assert set(milestones) == {CANE, PART_TIME}
    assert milestones[PART_TIME] == (None, dt.date(2019, 1, 1), "left")


def test_part_time_wheelchair_without_a_walking_aid_says_nothing_of_walking_aids(patient):
    assess(patient, dt.date(2017, 1, 1), AmbulationClass.AFO_ONLY, WheelchairUse.NONE, ["afo"])
    assess(patient, dt.date(2019, 1, 1), AmbulationClass.WHEELCHAIR_PART_TIME, WheelchairUse.PART_TIME)
    cane = assess(patient, dt.date(2021, 1, 1), AmbulationClass.WHEELCHAIR_PART_TIME, WheelchairUse.PART_TIME, ["cane"])

    # The cane: after 2017 (known below) and by 2021; the 2019 visit neither raises nor lowers it.
    assert intervals(patient)[CANE] == (dt.date(2017, 1, 1), dt.date(2021, 1, 1), "interval")
    assert derived(patient)[CANE] == (dt.date(2021, 1, 1), cane.pk)
    assert WALKER not in derived(patient)


def test_assessment_without_mobility_data_derives_nothing(patient):
    assess(patient, dt.date(2019, 1, 1))
    assert derived(patient) == {}


def test_an_earlier_assessment_entered_later_moves_the_milestones(patient):
    later = assess(patient, dt.date(2020, 1, 1), AmbulationClass.CANE)
    assert intervals(patient) == {CANE: (None, dt.date(2020, 1, 1), "left")}

    earlier = assess(patient, dt.date(2018, 1, 1), AmbulationClass.AFO_ONLY)

    assert derived(patient) == {AFO: (dt.date(2018, 1, 1), earlier.pk), CANE: (dt.date(2020, 1, 1), later.pk)}
    # The earlier visit, below the cane, gives it a lower bound: no longer left-censored.
    assert intervals(patient)[CANE] == (dt.date(2018, 1, 1), dt.date(2020, 1, 1), "interval")
    assert Milestone.objects.get(patient=patient, kind=CANE).version == 2


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

    # No visit records an AFO any more: the derived AFO goes.
    assert derived(patient) == {CANE: (dt.date(2016, 1, 1), afo.pk)}


def test_deleting_an_assessment_moves_or_removes_derived_milestones(patient):
    afo = assess(patient, dt.date(2016, 1, 1), AmbulationClass.AFO_ONLY)
    cane = assess(patient, dt.date(2018, 1, 1), AmbulationClass.CANE)

    services.assessment_delete(assessment=afo, expected_version=1)
    assert derived(patient) == {CANE: (dt.date(2018, 1, 1), cane.pk)}
    assert intervals(patient) == {CANE: (None, dt.date(2018, 1, 1), "left")}

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
    report(patient, WALKER, dt.date(2012, 6, 1))

    message = report_refused(patient, "date", CANE, dt.date(2014, 1, 1))

    assert "cane cannot come after walker" in message
    assert "2012-06-01" in message


def test_reported_milestone_before_an_earlier_reported_stage_refused(patient):
    report(patient, CANE, dt.date(2014, 1, 1))

    message = report_refused(patient, "date", WALKER, dt.date(2013, 12, 31))

    assert "walker cannot come before cane" in message


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
    assert "cannot come before cane" in report_refused(patient, "date", FULL_TIME, dt.date(2015, 2, 10))
    # Any day of 2015 might be in or after March: accepted.
    assert report(patient, FULL_TIME, dt.date(2015, 1, 1), "year").pk


def test_part_time_wheelchair_and_walking_aids_are_not_ordered(patient):
    report(patient, WALKER, dt.date(2015, 3, 1), "month")

    # A part-time wheelchair (for long distances) before any walking aid is possible.
    assert report(patient, PART_TIME, dt.date(2012, 1, 1), "year").pk


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
    assess(patient, dt.date(2016, 1, 1), AmbulationClass.WALKER)  # derived walker and cane: by 2016-01-01

    # A first cane after a visit that already shows one (a walker is "cane or more") cannot be right.
    message = report_refused(patient, "date", CANE, dt.date(2017, 1, 1))
    assert "assessment of 2016-01-01 already shows this stage" in message
    # Derived dates are upper bounds: a reported stage before them is no contradiction.
    cane = report(patient, CANE, dt.date(2014, 1, 1), "year")
    assert (cane.review_flags, cane.censoring) == ([], "interval")
    # The 2016 visit shows no wheelchair: a part-time wheelchair reported for 2015 contradicts it.
    # Reports can be honest mistakes: stored, with a review flag.
    part_time = report(patient, PART_TIME, dt.date(2015, 1, 1), "year")
    part_time.refresh_from_db()
    assert [flag["code"] for flag in part_time.review_flags] == ["milestone_before_visit_below"]
    assert "2016-01-01" in part_time.review_flags[0]["message"]


def test_assessment_contradicting_a_reported_milestone_is_caught(patient):
    report(patient, CANE, dt.date(2020, 1, 1), "year")  # "my first cane was in 2020"

    # The reverse order is refused (test_reported_milestone_against_derived_ones); this one must not
    # pass silently either: refuse it, or store it with a review flag.
    try:
        walker = assess(patient, dt.date(2016, 1, 1), AmbulationClass.WALKER)
    except ValidationError:
        return
    assert walker.review_flags, "a walker in 2016 contradicts a first cane in 2020"


# --- Reported against onset (docs/clinical-rules.md, rule 2) ----------------------------------------
# Refused only when the milestone's last possible day is before onset's first possible day.


@pytest.mark.parametrize(
    ("onset", "precision", "reported", "reported_precision", "accepted"),
    [
        # Onset in March 2010.
        (dt.date(2010, 3, 1), "month", dt.date(2010, 2, 28), "day", False),
        (dt.date(2010, 3, 1), "month", dt.date(2010, 3, 1), "day", True),
        (dt.date(2010, 3, 1), "month", dt.date(2010, 2, 1), "month", False),
        (dt.date(2010, 3, 1), "month", dt.date(2010, 1, 1), "year", True),  # 2010 may be March or later
        (dt.date(2010, 3, 1), "month", dt.date(2009, 1, 1), "year", False),
        # Onset some day of 2010.
        (dt.date(2010, 1, 1), "year", dt.date(2009, 12, 31), "day", False),
        (dt.date(2010, 1, 1), "year", dt.date(2010, 1, 1), "day", True),
        (dt.date(2010, 1, 1), "year", dt.date(2009, 12, 1), "month", False),
        # Onset on a known day.
        (dt.date(2010, 6, 15), "day", dt.date(2010, 6, 14), "day", False),
        (dt.date(2010, 6, 15), "day", dt.date(2010, 6, 1), "month", True),
    ],
)
def test_reported_milestone_before_onset_refused(patient, onset, precision, reported, reported_precision, accepted):
    factories.DiagnosisFactory(patient=patient, onset_date=onset, onset_date_precision=precision, onset_age=29)

    if accepted:
        assert report(patient, CANE, reported, reported_precision).pk
    else:
        assert "before symptom onset" in report_refused(patient, "date", CANE, reported, reported_precision)


def test_reported_milestone_before_an_onset_given_as_an_age_refused(patient):
    # Born 1980-06-15, onset at 30: onset from 2010-06-15 (to 2011-06-14).
    factories.DiagnosisFactory(patient=patient, onset_date=None, onset_date_precision="", onset_age=30)

    assert "before symptom onset" in report_refused(patient, "date", CANE, dt.date(2010, 6, 14))
    assert "before symptom onset" in report_refused(patient, "date", WALKER, age_years=29)
    assert report(patient, CANE, dt.date(2010, 6, 15)).pk
    assert report(patient, WALKER, age_years=30).pk


def test_a_cane_in_2001_for_onset_in_2010_is_refused_through_the_api(staff_client, patient):
    factories.DiagnosisFactory(patient=patient, onset_date=dt.date(2010, 1, 1), onset_date_precision="year")

    response = staff_client.post(
        "/api/v1/milestones/", {"patient": str(patient.uuid), "kind": "cane", "date": "2001"}, format="json"
    )

    assert response.status_code == 400
    assert "before symptom onset" in response.json()["error"]["fields"]["date"][0]
    assert not Milestone.objects.filter(patient=patient).exists()


# --- Reported against the visits -------------------------------------------------------------------


def test_reported_date_after_a_visit_that_already_shows_the_stage_is_refused_naming_the_visit(patient):
    assess(patient, dt.date(2015, 1, 1), AmbulationClass.AFO_ONLY, WheelchairUse.NONE, ["afo"])
    assess(patient, dt.date(2017, 3, 10), AmbulationClass.CANE, WheelchairUse.NONE, ["afo", "cane"])

    message = report_refused(patient, "date", CANE, dt.date(2017, 4, 1), "month")
    assert "2017-03-10" in message
    # March 2017 may be on or before the visit: accepted.
    assert report(patient, CANE, dt.date(2017, 3, 1), "month").review_flags == []


def test_reported_date_before_a_visit_still_below_the_stage_is_stored_with_a_review_flag(patient):
    assess(patient, dt.date(2015, 1, 1), AmbulationClass.AFO_ONLY, WheelchairUse.NONE, ["afo"])
    assess(patient, dt.date(2017, 3, 10), AmbulationClass.CANE, WheelchairUse.NONE, ["afo", "cane"])

    flagged = report(patient, CANE, dt.date(2014, 1, 1), "year")  # all of 2014 is before the 2015 visit
    flagged.refresh_from_db()
    assert [flag["code"] for flag in flagged.review_flags] == ["milestone_before_visit_below"]
    assert "2015-01-01" in flagged.review_flags[0]["message"]

    # Corrected to a date the visits allow: the flag goes.
    services.milestone_update(milestone=flagged, expected_version=1, data={"date": dt.date(2016, 1, 1)})
    flagged.refresh_from_db()
    assert (flagged.review_flags, flagged.censoring, flagged.version) == ([], "interval", 2)


def test_reported_stage_never_seen_yet_is_checked_against_the_last_visit_below(patient):
    assess(patient, dt.date(2018, 1, 1), AmbulationClass.UNAIDED, WheelchairUse.NONE)

    # No visit shows a walker; the 2018 visit shows none.
    assert report(patient, WALKER, dt.date(2016, 1, 1), "year").review_flags[0]["code"] == (
        "milestone_before_visit_below"
    )
    assert report(patient, FULL_TIME, dt.date(2019, 1, 1), "year").review_flags == []


def test_assessment_below_a_stage_reported_earlier_is_flagged(patient):
    report(patient, WALKER, dt.date(2015, 1, 1), "year")

    below = assess(patient, dt.date(2016, 6, 1), AmbulationClass.CANE, WheelchairUse.NONE, ["cane"])
    in_the_year = assess(patient, dt.date(2015, 6, 1), AmbulationClass.CANE, WheelchairUse.NONE, ["cane"])
    silent = assess(patient, dt.date(2017, 6, 1), AmbulationClass.WHEELCHAIR_PART_TIME, WheelchairUse.PART_TIME)

    assert [flag["code"] for flag in below.review_flags] == ["after_reported_milestone"]
    assert [flag["code"] for flag in in_the_year.review_flags] == []
    assert [flag["code"] for flag in silent.review_flags] == []  # says nothing of walking aids


def test_reported_milestones_store_their_censoring(patient):
    assert report(patient, CANE, dt.date(2012, 5, 3)).censoring == "exact"
    assert report(patient, WALKER, dt.date(2013, 5, 1), "month").censoring == "interval"
    assert report(patient, PART_TIME, age_years=35).censoring == "interval"
    assert report(patient, FULL_TIME, skipped=True).censoring == ""


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
    # Born 1980-06-15: a cane at 30 means between 2010-06-15 and 2011-06-14.
    report(patient, CANE, age_years=30)

    assert "walker cannot come before cane" in report_refused(patient, "date", WALKER, dt.date(2010, 6, 14))
    message = report_refused(patient, "date", FULL_TIME, age_years=29)
    assert "wheelchair_full_time cannot come before cane" in message
    assert report(patient, WALKER, dt.date(2010, 6, 15)).pk
    assert report(patient, FULL_TIME, age_years=30).pk


def test_age_only_milestone_after_a_dated_later_stage_refused(patient):
    report(patient, WALKER, dt.date(2009, 1, 1), "year")

    assert "cane cannot come after walker" in report_refused(patient, "date", CANE, age_years=30)


def test_age_above_the_current_age_refused(patient):
    current_age = today().year - 1980 - ((today().month, today().day) < (6, 15))

    assert "current age" in report_refused(patient, "age_years", AFO, age_years=current_age + 1)
    assert report(patient, AFO, age_years=current_age).age_years == current_age


def test_milestone_update_checks_the_order_again(patient):
    report(patient, WALKER, dt.date(2010, 1, 1), "year")
    full_time = report(patient, FULL_TIME, dt.date(2012, 1, 1), "year")

    with pytest.raises(ValidationError) as info:
        services.milestone_update(
            milestone=full_time, expected_version=1, data={"date": dt.date(2009, 5, 1), "date_precision": "month"}
        )

    assert "wheelchair_full_time cannot come before walker" in info.value.message_dict["date"][0]
    full_time.refresh_from_db()
    assert (full_time.date, full_time.date_precision, full_time.version) == (dt.date(2012, 1, 1), "year", 1)

    updated = services.milestone_update(
        milestone=full_time, expected_version=1, data={"date": dt.date(2011, 5, 1), "date_precision": "month"}
    )
    assert updated.version == 2
    full_time.refresh_from_db()
    assert (full_time.date, full_time.date_precision, full_time.version) == (dt.date(2011, 5, 1), "month", 2)


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
