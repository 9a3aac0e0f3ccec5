"""Milestones as intervals from onset, for time-to-event analyses (docs/clinical-rules.md, "Milestones"):
`assessments.selectors.milestone_intervals`, and the bounds the API shows."""

import datetime as dt

import pytest

from assessments import services
from assessments.models import AmbulationClass, Milestone, MilestoneKind, Source, WheelchairUse
from assessments.selectors import MilestoneInterval, milestone_intervals
from demo.cohort import seed_demo_cohort
from tests import factories

pytestmark = pytest.mark.django_db

AFO, CANE, WALKER = MilestoneKind.AFO, MilestoneKind.CANE, MilestoneKind.WALKER
PART_TIME, FULL_TIME = MilestoneKind.WHEELCHAIR_PART_TIME, MilestoneKind.WHEELCHAIR_FULL_TIME
UNAIDED, AFO_ONLY = AmbulationClass.UNAIDED, AmbulationClass.AFO_ONLY


def patient_with_onset(**diagnosis):
    """Born 1980-06-15 (PatientFactory), with a diagnosis giving onset as given."""
    patient = factories.PatientFactory()
    factories.DiagnosisFactory(patient=patient, **diagnosis)
    return patient


def visit(patient, when, ambulation_class, wheelchair_use=WheelchairUse.NONE, devices=()):
    data = {
        "assessment_date": when,
        "source": Source.CLINICIAN,
        "ambulation_class": ambulation_class,
        "wheelchair_use": wheelchair_use,
        "devices": list(devices),
    }
    return services.assessment_create(patient=patient, data=data)


def years(onset_middle: dt.date, day: dt.date) -> float:
    return (day - onset_middle).days / 365.25


def by_kind(rows: list[MilestoneInterval], patient) -> dict[str, MilestoneInterval]:
    return {row.kind: row for row in rows if row.patient_id == patient.pk}


# --- A small cohort computed by hand ------------------------------------------------------------------


@pytest.fixture
def cohort():
    # Onset "2010": 2010-01-01 to 2010-12-31, middle 2010-07-02 (182 days in).
    typical = patient_with_onset(onset_date=dt.date(2010, 1, 1), onset_date_precision="year", onset_age=29)
    visit(typical, dt.date(2012, 7, 2), UNAIDED)
    visit(typical, dt.date(2014, 7, 2), AFO_ONLY, devices=["afo"])
    visit(typical, dt.date(2016, 7, 1), AmbulationClass.CANE, devices=["afo", "cane"])
    visit(
        typical,
        dt.date(2020, 7, 1),
        AmbulationClass.WHEELCHAIR_PART_TIME,
        WheelchairUse.PART_TIME,
        ["walker", "manual_wheelchair"],
    )

    # Onset only as an age, 30: 2010-06-15 to 2011-06-14, middle 2010-12-14. First seen in a wheelchair.
    late = patient_with_onset(onset_date=None, onset_date_precision="", onset_age=30)
    services.milestone_report(patient=late, data={"kind": CANE, "date": dt.date(2012, 1, 1), "date_precision": "year"})
    services.milestone_report(patient=late, data={"kind": WALKER, "date": dt.date(2013, 3, 1), "date_precision": "day"})
    visit(late, dt.date(2015, 12, 14), AmbulationClass.WHEELCHAIR_FULL_TIME, WheelchairUse.FULL_TIME)

    never_seen = factories.PatientFactory()  # no diagnosis: no onset, left out
    visit(never_seen, dt.date(2015, 1, 1), AmbulationClass.CANE)
    return typical, late, never_seen


def test_a_typical_sequence_gives_interval_and_right_censored_rows(cohort):
    typical, _, _ = cohort
    middle = dt.date(2010, 7, 2)

    rows = by_kind(milestone_intervals(), typical)

    assert rows[AFO] == MilestoneInterval(
        typical.pk, "afo", "derived", years(middle, dt.date(2012, 7, 2)), 4.0, "interval"
    )
    assert years(middle, dt.date(2012, 7, 2)) == pytest.approx(731 / 365.25)
    assert rows[CANE] == MilestoneInterval(
        typical.pk, "cane", "derived", 4.0, years(middle, dt.date(2016, 7, 1)), "interval"
    )
    # The walker is first recorded at the part-time wheelchair visit; the cane visit was below it.
    assert (rows[WALKER].lower_years, rows[WALKER].upper_years, rows[WALKER].censoring) == (
        pytest.approx(2191 / 365.25),
        pytest.approx(3652 / 365.25),
        "interval",
    )
    assert (rows[PART_TIME].source, rows[PART_TIME].censoring) == ("derived", "interval")
    # Never seen full-time: right-censored at the last visit known below it.
    assert rows[FULL_TIME] == MilestoneInterval(
        typical.pk, "wheelchair_full_time", "", pytest.approx(3652 / 365.25), None, "right"
    )


def test_reported_milestones_are_preferred_and_the_rest_is_left_censored(cohort):
    _, late, _ = cohort
    middle = dt.date(2010, 12, 14)

    rows = by_kind(milestone_intervals(), late)

    assert set(rows) == {CANE, WALKER, PART_TIME, FULL_TIME}  # nothing says anything of an AFO
    # "2012": its first and last possible day.
    assert rows[CANE] == MilestoneInterval(late.pk, "cane", "reported", 383 / 365.25, 748 / 365.25, "interval")
    assert rows[WALKER] == MilestoneInterval(late.pk, "walker", "reported", 808 / 365.25, 808 / 365.25, "exact")
    assert years(middle, dt.date(2013, 3, 1)) == 808 / 365.25
    for kind in (PART_TIME, FULL_TIME):
        assert rows[kind] == MilestoneInterval(late.pk, kind, "derived", None, 1826 / 365.25, "left")


def test_patients_without_a_known_onset_are_left_out(cohort):
    typical, late, never_seen = cohort

    assert {row.patient_id for row in milestone_intervals()} == {typical.pk, late.pk}
    assert milestone_intervals(patient_ids=[never_seen.pk]) == []
    assert {row.patient_id for row in milestone_intervals(patient_ids=[late.pk])} == {late.pk}


def test_rows_are_frozen_and_ordered_by_patient_then_kind(cohort):
    rows = milestone_intervals()

    assert [(row.patient_id, list(MilestoneKind).index(row.kind)) for row in rows] == sorted(
        (row.patient_id, list(MilestoneKind).index(row.kind)) for row in rows
    )
    with pytest.raises(AttributeError):  # read-only, as a named tuple is
        rows[0].upper_years = 1.0


def test_an_inconsistent_reported_milestone_gives_way_to_the_visits():
    patient = patient_with_onset(onset_date=dt.date(2005, 1, 1), onset_date_precision="year", onset_age=24)
    visit(patient, dt.date(2008, 5, 1), AFO_ONLY, devices=["afo"])
    visit(patient, dt.date(2010, 5, 1), AmbulationClass.WALKER, devices=["walker"])
    # Stored by some other way in (an old import): the services refuse both today.
    Milestone.objects.create(
        patient=patient, kind=CANE, source="reported", date=dt.date(2001, 1, 1), date_precision="year"
    )  # before onset
    Milestone.objects.create(
        patient=patient, kind=WALKER, source="reported", date=dt.date(2012, 1, 1), date_precision="year"
    )  # after the 2010 visit with a walker

    rows = by_kind(milestone_intervals(), patient)

    middle = dt.date(2005, 7, 2)
    for kind in (CANE, WALKER):
        assert rows[kind] == MilestoneInterval(
            patient.pk,
            kind,
            "derived",
            years(middle, dt.date(2008, 5, 1)),
            years(middle, dt.date(2010, 5, 1)),
            "interval",
        )


def test_a_reported_milestone_contradicting_a_visit_below_gives_way_to_the_visits():
    patient = patient_with_onset(onset_date=dt.date(2005, 1, 1), onset_date_precision="year", onset_age=24)
    visit(patient, dt.date(2012, 5, 1), UNAIDED)
    flagged = services.milestone_report(
        patient=patient, data={"kind": WALKER, "date": dt.date(2010, 1, 1), "date_precision": "year"}
    )
    assert flagged.review_flags  # stored, for staff to check

    row = by_kind(milestone_intervals(), patient)[WALKER]

    assert (row.source, row.censoring, row.upper_years) == ("", "right", None)
    assert row.lower_years == pytest.approx(years(dt.date(2005, 7, 2), dt.date(2012, 5, 1)))


def test_skipped_reported_steps_are_ignored():
    patient = patient_with_onset(onset_date=dt.date(2005, 1, 1), onset_date_precision="year", onset_age=24)
    services.milestone_report(patient=patient, data={"kind": CANE, "skipped": True})
    visit(patient, dt.date(2012, 5, 1), AmbulationClass.WALKER)

    row = by_kind(milestone_intervals(), patient)[CANE]

    assert (row.source, row.censoring) == ("derived", "left")


def test_bounds_before_the_middle_of_onset_count_as_onset():
    # Onset "2010" (middle 2010-07-02); a visit in March 2010 already shows a cane.
    patient = patient_with_onset(onset_date=dt.date(2010, 1, 1), onset_date_precision="year", onset_age=29)
    visit(patient, dt.date(2010, 3, 1), AmbulationClass.CANE)

    row = by_kind(milestone_intervals(), patient)[CANE]

    assert (row.lower_years, row.upper_years, row.censoring) == (None, 0.0, "left")


# --- A constant number of queries ------------------------------------------------------------------


def _cohort_of(size: int) -> None:
    for index in range(size):
        patient = patient_with_onset(onset_date=dt.date(2005, 1, 1), onset_date_precision="year", onset_age=24)
        for offset, ambulation in enumerate((UNAIDED, AFO_ONLY, AmbulationClass.CANE)):
            factories.AssessmentFactory(
                patient=patient,
                assessment_date=dt.date(2010 + 2 * offset, 1, 1 + index % 28),
                ambulation_class=ambulation,
                devices=["afo"] if ambulation == AFO_ONLY else [],
            )
        Milestone.objects.create(
            patient=patient, kind=WALKER, source="reported", date=dt.date(2016, 1, 1), date_precision="year"
        )
        services.milestones_derive(patient=patient)  # the factories bypass the services that store them


# 1. the diagnoses giving an onset, with the date of birth joined in and, per milestone no visit
#    shows reached, the last visit below it (subqueries)
# 2. their patients' stored derived milestones
# 3. their patients' reported, not skipped, milestones
MILESTONE_INTERVAL_QUERIES = 3


@pytest.mark.parametrize("size", [2, 20])
def test_the_selector_runs_in_a_constant_number_of_queries(django_assert_num_queries, size):
    _cohort_of(size)

    with django_assert_num_queries(MILESTONE_INTERVAL_QUERIES) as captured:
        rows = milestone_intervals()

    sqls = [query["sql"] for query in captured.captured_queries]
    assert 'FROM "patients_diagnosis"' in sqls[0] and '"patients_patientidentity"' in sqls[0]
    assert 'FROM "assessments_assessment"' in sqls[0]
    assert 'FROM "assessments_milestone"' in sqls[1] and "'derived'" in sqls[1]
    assert 'FROM "assessments_milestone"' in sqls[2] and "'reported'" in sqls[2]
    # Per patient: AFO, cane (derived), walker (reported), part-time and full-time (right-censored).
    assert len(rows) == 5 * size
    assert {row.source for row in rows if row.kind == WALKER} == {"reported"}


def test_the_selector_for_some_patients_costs_the_same(django_assert_num_queries):
    _cohort_of(4)
    some = list(Milestone.objects.values_list("patient_id", flat=True)[:2])

    with django_assert_num_queries(MILESTONE_INTERVAL_QUERIES):
        rows = milestone_intervals(patient_ids=some)

    assert {row.patient_id for row in rows} == set(some)


# --- The API shows the bounds ---------------------------------------------------------------------


def test_the_api_shows_the_bounds_and_the_censoring(staff_client):
    patient = patient_with_onset(onset_date=dt.date(2005, 1, 1), onset_date_precision="year", onset_age=24)
    visit(patient, dt.date(2012, 5, 1), AFO_ONLY, devices=["afo"])
    visit(patient, dt.date(2014, 5, 1), AmbulationClass.CANE, devices=["afo", "cane"])
    services.milestone_report(
        patient=patient, data={"kind": WALKER, "date": dt.date(2010, 1, 1), "date_precision": "year"}
    )

    rows = staff_client.get(f"/api/v1/milestones/?patient={patient.uuid}").json()["results"]

    shown = {
        (row["kind"], row["source"]): (row["lower_bound_date"], row["date"], row["censoring"], row["review_flags"])
        for row in rows
    }
    assert shown[("afo", "derived")] == (None, "2012-05-01", "left", [])
    assert shown[("cane", "derived")] == ("2012-05-01", "2014-05-01", "interval", [])
    lower, date, censoring, flags = shown[("walker", "reported")]
    assert (lower, date, censoring) == (None, "2010", "interval")
    assert [flag["code"] for flag in flags] == ["milestone_before_visit_below"]


# --- The same intervals as deriving every patient's milestones from all their visits ---------------


def _reference_milestone_intervals(patient_ids=None) -> list[MilestoneInterval]:
    """The selector as it was before reading the stored derived milestones: every patient's bounds
    derived again from all their visits (`services.derived_milestone_bounds`). Kept here only to
    prove the two equivalent."""
    from collections import defaultdict

    from django.db.models import F, Q

    from assessments.models import Assessment
    from patients.models import Diagnosis
    from registry.dates import years_between

    diagnoses = Diagnosis.objects.filter(Q(onset_date__isnull=False) | Q(onset_age__isnull=False))
    if patient_ids is not None:
        diagnoses = diagnoses.filter(patient_id__in=list(patient_ids))
    people = {
        row["patient_id"]: row
        for row in diagnoses.values(
            "patient_id", "onset_date", "onset_date_precision", "onset_age", birth=F("patient__identity__date_of_birth")
        )
    }
    visits = defaultdict(list)
    for row in Assessment.objects.filter(patient_id__in=list(people)).values("patient_id", *services.HISTORY_FIELDS):
        visits[row["patient_id"]].append(row)
    reports = defaultdict(dict)
    reported_rows = Milestone.objects.filter(patient_id__in=list(people), source="reported", skipped=False).values(
        "patient_id", "kind", "date", "date_precision", "age_years"
    )
    for row in reported_rows:
        reports[row["patient_id"]][row["kind"]] = row
    intervals = []
    for patient_id in sorted(people):
        person = people[patient_id]
        birth = person["birth"]
        onset = services.onset_window(
            onset_date=person["onset_date"],
            onset_date_precision=person["onset_date_precision"],
            onset_age=person["onset_age"],
            birth=birth,
        )
        if onset is None:
            continue
        middle = onset[0] + (onset[1] - onset[0]) / 2

        def to_years(day, middle=middle):
            return max(0.0, years_between(middle, day))

        bounds_by_kind = services.derived_milestone_bounds(visits[patient_id])
        for kind in MilestoneKind:
            bounds, reported = bounds_by_kind.get(kind.value), reports[patient_id].get(kind.value)
            window = reported and services.milestone_window(reported, birth)
            if window and not services.reported_milestone_conflicts(window, onset=onset, bounds=bounds):
                source, censoring = "reported", services.reported_censoring(reported)
                lower, upper = to_years(window[0]), to_years(window[1])
            elif bounds and bounds.upper:
                source, censoring = "derived", bounds.censoring
                lower, upper = (to_years(bounds.lower) if bounds.lower else None), to_years(bounds.upper)
            elif bounds:
                source, censoring, lower, upper = "", "right", to_years(bounds.lower), None
            else:
                continue
            intervals.append(MilestoneInterval(patient_id, kind.value, source, lower, upper, str(censoring)))
    return intervals


def _edge_cases() -> None:
    """Hand-made patients for the corners of `services.milestone_reached` and of reported milestones."""
    year_2005 = {"onset_date": dt.date(2005, 1, 1), "onset_date_precision": "year", "onset_age": 24}
    silent = patient_with_onset(**year_2005)  # visits that say nothing of mobility
    visit(silent, dt.date(2010, 1, 1), None, wheelchair_use="")
    visit(silent, dt.date(2011, 1, 1), None, wheelchair_use="")
    no_wheelchair = patient_with_onset(**year_2005)  # only "no wheelchair": right-censored wheelchair kinds
    visit(no_wheelchair, dt.date(2010, 1, 1), None)
    visit(no_wheelchair, dt.date(2012, 1, 1), None)
    afo_device = patient_with_onset(**year_2005)  # an AFO recorded without a class
    visit(afo_device, dt.date(2010, 1, 1), UNAIDED)
    visit(afo_device, dt.date(2011, 1, 1), None, wheelchair_use="", devices=["afo"])
    visit(afo_device, dt.date(2012, 1, 1), AmbulationClass.CANE, devices=["cane"])
    full_time = patient_with_onset(**year_2005)  # full-time wheelchair by wheelchair use alone
    visit(full_time, dt.date(2010, 1, 1), AFO_ONLY, devices=["afo"])
    visit(full_time, dt.date(2011, 6, 1), None, wheelchair_use=WheelchairUse.PART_TIME)
    visit(full_time, dt.date(2013, 1, 1), None, wheelchair_use=WheelchairUse.FULL_TIME)
    walks_again = patient_with_onset(**year_2005)  # below again after reaching: the first visit fixes it
    visit(walks_again, dt.date(2010, 1, 1), UNAIDED)
    visit(walks_again, dt.date(2011, 1, 1), AmbulationClass.CANE, devices=["cane"])
    visit(walks_again, dt.date(2012, 1, 1), AFO_ONLY, devices=["afo"])
    visit(walks_again, dt.date(2013, 1, 1), UNAIDED)
    devices_only = patient_with_onset(**year_2005)  # walking aids as devices, with a walking class below
    visit(devices_only, dt.date(2010, 1, 1), UNAIDED)
    visit(devices_only, dt.date(2011, 1, 1), AFO_ONLY, devices=["afo", "walker"])

    reported = patient_with_onset(**year_2005)  # reports: consistent, conflicting, by age, for no visit
    visit(reported, dt.date(2010, 1, 1), UNAIDED)
    visit(reported, dt.date(2012, 1, 1), AmbulationClass.CANE, devices=["cane"])
    visit(reported, dt.date(2014, 1, 1), AmbulationClass.WALKER, devices=["walker"])
    for data in (
        {"kind": CANE, "date": dt.date(2011, 1, 1), "date_precision": "year"},  # consistent
        {"kind": WALKER, "date": dt.date(2011, 3, 1), "date_precision": "day"},  # before a visit below it
        {"kind": AFO, "age_years": 30},  # by age
        {"kind": PART_TIME, "date": dt.date(2016, 5, 1), "date_precision": "day"},  # exact, after the last visit
        {"kind": FULL_TIME, "date": dt.date(2018, 1, 1), "date_precision": "month"},  # no visit reached it
    ):
        services.milestone_report(patient=reported, data=data)
    early = patient_with_onset(**year_2005)  # a report after the visit, entered later, that already shows it
    services.milestone_report(patient=early, data={"kind": CANE, "date": dt.date(2014, 1, 1), "date_precision": "year"})
    visit(early, dt.date(2010, 1, 1), AmbulationClass.CANE, devices=["cane"])
    visit(early, dt.date(2016, 1, 1), AmbulationClass.CANE, devices=["cane"])
    only_reports = patient_with_onset(onset_date=None, onset_date_precision="", onset_age=25)
    services.milestone_report(patient=only_reports, data={"kind": PART_TIME, "age_years": 40})
    no_birth = patient_with_onset(onset_date=None, onset_date_precision="", onset_age=25)
    visit(no_birth, dt.date(2012, 1, 1), AmbulationClass.CANE, devices=["cane"])
    no_birth.identity.date_of_birth = None
    no_birth.identity.save()


def test_the_stored_milestones_give_the_intervals_the_visits_give():
    seed_demo_cohort(patients=300, seed=7)
    _edge_cases()

    rows = milestone_intervals()

    assert rows == _reference_milestone_intervals()
    assert {row.censoring for row in rows} == {"exact", "interval", "left", "right"}
    assert {row.source for row in rows} == {"reported", "derived", ""}
    some = sorted({row.patient_id for row in rows})[::7]
    assert milestone_intervals(patient_ids=some) == _reference_milestone_intervals(some)
