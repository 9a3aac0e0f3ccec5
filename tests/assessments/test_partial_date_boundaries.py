"""Milestone order, milestone and assessment dates on the edges of partial dates and ages.

A reported date "2015" is some day of 2015, "2015-03" some day of March 2015, and an age of 30 some
day between the 30th and the 31st birthday. Two milestones are out of order only when every day of
one interval is out of order with every day of the other; overlapping intervals are accepted.
The patient is born 1980-06-15 (PatientFactory).
"""

import datetime as dt

import pytest

from assessments import services
from assessments.models import AmbulationClass, Milestone, MilestoneKind, Source, WheelchairUse
from registry.dates import PartialDate, age_in_years, today
from registry.errors import ValidationError
from tests import factories

pytestmark = pytest.mark.django_db

AFO, CANE, WALKER = MilestoneKind.AFO, MilestoneKind.CANE, MilestoneKind.WALKER
PART_TIME, FULL_TIME = MilestoneKind.WHEELCHAIR_PART_TIME, MilestoneKind.WHEELCHAIR_FULL_TIME
BIRTH = dt.date(1980, 6, 15)


@pytest.fixture
def patient():
    return factories.PatientFactory()


def _fields(when: str | int) -> dict:
    """A partial date string as the service takes it, or an int as an age in years."""
    if isinstance(when, int):
        return {"age_years": when}
    partial = PartialDate.parse(when)
    return {"date": partial.date, "date_precision": partial.precision}


def report(patient, kind, when) -> Milestone:
    return services.milestone_report(patient=patient, data={"kind": kind} | _fields(when))


def refused(patient, kind, when) -> str:
    before = Milestone.objects.filter(patient=patient).count()
    with pytest.raises(ValidationError) as info:
        report(patient, kind, when)
    assert Milestone.objects.filter(patient=patient).count() == before
    errors = info.value.message_dict
    field = "age_years" if "age_years" in errors else "date"
    return errors[field][0]


# Pairs of (earlier stage, its date or age, later stage, its date or age).
OVERLAPPING = [
    (CANE, "2015", WALKER, "2015-03"),
    (CANE, "2015-03", WALKER, "2015"),
    (CANE, "2015-12-31", WALKER, "2015"),
    (CANE, "2015", WALKER, "2015-01-01"),
    (CANE, "2015-06", WALKER, "2015-06-01"),
    (CANE, "2015-06-30", WALKER, "2015-06"),
    (CANE, "2015-06", WALKER, "2015-06"),
    (CANE, "2015-06-15", WALKER, "2015-06-15"),
    (PART_TIME, "2015-07", FULL_TIME, "2015"),
    (CANE, 30, WALKER, "2011-06-14"),  # the last day aged 30
    (CANE, 30, WALKER, "2010-06-15"),  # the 30th birthday
    (CANE, 30, WALKER, "2010"),
    (CANE, 30, WALKER, "2011"),
    (CANE, "2010-06-15", WALKER, 30),
    (CANE, "2011-06", WALKER, 30),
    (CANE, "2011-06-14", WALKER, 30),
    (CANE, 30, WALKER, 30),
]

# Pairs where every possible day of the later stage is before every possible day of the earlier one.
OUT_OF_ORDER = [
    (CANE, "2016", WALKER, "2015-06"),
    (CANE, "2015-07", WALKER, "2015-06"),
    (CANE, "2015-07-01", WALKER, "2015-06"),
    (CANE, "2015-07", WALKER, "2015-06-30"),
    (CANE, "2015-06-16", WALKER, "2015-06-15"),
    (CANE, "2016-01-01", WALKER, "2015"),
    (CANE, "2016", WALKER, "2015-12-31"),
    (PART_TIME, "2016", FULL_TIME, "2015"),
    (CANE, 30, WALKER, "2010-06-14"),  # the day before the 30th birthday
    (CANE, 30, WALKER, "2010-05"),
    (CANE, 30, WALKER, 29),
    (CANE, "2011-06-15", WALKER, 30),  # the 31st birthday
    (CANE, "2011-07", WALKER, 30),
    (CANE, "2012", WALKER, 30),
    (CANE, 31, WALKER, 30),
]


@pytest.mark.parametrize("earlier_first", [True, False], ids=["earlier-stage-first", "later-stage-first"])
@pytest.mark.parametrize(("early_kind", "early_when", "late_kind", "late_when"), OVERLAPPING)
def test_overlapping_milestones_accepted_in_either_entry_order(
    patient, early_kind, early_when, late_kind, late_when, earlier_first
):
    pairs = [(early_kind, early_when), (late_kind, late_when)]
    for kind, when in pairs if earlier_first else reversed(pairs):
        report(patient, kind, when)

    assert Milestone.objects.filter(patient=patient, source="reported").count() == 2


@pytest.mark.parametrize("earlier_first", [True, False], ids=["earlier-stage-first", "later-stage-first"])
@pytest.mark.parametrize(("early_kind", "early_when", "late_kind", "late_when"), OUT_OF_ORDER)
def test_milestones_certainly_out_of_order_refused_in_either_entry_order(
    patient, early_kind, early_when, late_kind, late_when, earlier_first
):
    if earlier_first:
        report(patient, early_kind, early_when)
        message = refused(patient, late_kind, late_when)
        assert f"{late_kind} cannot come before {early_kind}" in message
    else:
        report(patient, late_kind, late_when)
        message = refused(patient, early_kind, early_when)
        assert f"{early_kind} cannot come after {late_kind}" in message


def test_milestone_update_is_checked_on_the_same_edges(patient):
    report(patient, WALKER, "2015-06")
    cane = report(patient, CANE, "2015")

    with pytest.raises(ValidationError):
        services.milestone_update(milestone=cane, expected_version=1, data=_fields("2015-07"))
    services.milestone_update(milestone=cane, expected_version=1, data=_fields("2015-06-30"))

    cane.refresh_from_db()
    assert (cane.date, cane.date_precision, cane.version) == (dt.date(2015, 6, 30), "day", 2)


def test_derived_milestone_is_an_upper_bound_compared_with_the_whole_reported_interval(patient):
    services.assessment_create(
        patient=patient,
        data={
            "assessment_date": dt.date(2015, 6, 15),
            "source": Source.CLINICIAN,
            "ambulation_class": AmbulationClass.WALKER,
            "wheelchair_use": WheelchairUse.NONE,
        },
    )

    # A walker seen on 2015-06-15: a first cane in June 2015 or on that day may be right.
    assert report(patient, CANE, "2015-06").pk
    assert report(patient, AFO, "2015-06-15").pk


@pytest.mark.parametrize("when", ["2015-06-16", "2015-07", "2016"])
def test_reported_earlier_stage_after_a_derived_later_one_refused(patient, when):
    services.assessment_create(
        patient=patient,
        data={
            "assessment_date": dt.date(2015, 6, 15),
            "source": Source.CLINICIAN,
            "ambulation_class": AmbulationClass.WALKER,
            "wheelchair_use": WheelchairUse.NONE,
        },
    )

    # A walker is "cane or more": the visit already shows the cane stage.
    assert "The assessment of 2015-06-15 already shows this stage reached" in refused(patient, CANE, when)


# --- Milestone dates against birth and today --------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "accepted"),
    [("1980", True), ("1980-06", True), ("1980-06-15", True), ("1980-06-14", False), ("1980-05", False)],
)
def test_milestone_date_against_the_date_of_birth(patient, when, accepted):
    if accepted:
        assert report(patient, AFO, when).pk
    else:
        assert "birth" in refused(patient, AFO, when)


def test_milestone_in_the_current_year_or_month_is_not_in_the_future(patient):
    assert report(patient, AFO, f"{today().year:04d}").pk
    assert report(patient, CANE, f"{today().year:04d}-{today().month:02d}").pk
    assert "future" in refused(patient, WALKER, f"{today().year + 1:04d}")


# --- Through the API --------------------------------------------------------------------------------


def _post(client, patient, kind, **values):
    return client.post("/api/v1/milestones/", {"patient": str(patient.uuid), "kind": kind, **values}, format="json")


def test_api_accepts_overlapping_partial_dates_in_either_order(staff_client):
    first, second = factories.PatientFactory(), factories.PatientFactory()

    responses = [
        _post(staff_client, first, CANE, date="2015"),
        _post(staff_client, first, WALKER, date="2015-03"),
        _post(staff_client, second, WALKER, date="2015-03"),
        _post(staff_client, second, CANE, date="2015"),
    ]

    assert [response.status_code for response in responses] == [201] * 4, [r.json() for r in responses]
    assert responses[1].json()["date"] == "2015-03"


def test_api_refuses_milestones_certainly_out_of_order(staff_client):
    patient = factories.PatientFactory()
    assert _post(staff_client, patient, WALKER, date="2015-06").status_code == 201

    late_cane = _post(staff_client, patient, CANE, date="2016")
    cane_in_the_walker_year = _post(staff_client, patient, CANE, date="2015")

    assert late_cane.status_code == 400, late_cane.json()
    assert "date" in late_cane.json()["error"]["fields"]
    assert cane_in_the_walker_year.status_code == 201, cane_in_the_walker_year.json()


def test_api_age_only_milestones_are_placed_with_the_date_of_birth(staff_client):
    patient = factories.PatientFactory()
    assert _post(staff_client, patient, CANE, age_years=30).status_code == 201

    too_early = _post(staff_client, patient, WALKER, date="2010-06-14")
    on_the_birthday = _post(staff_client, patient, WALKER, date="2010-06-15")

    assert too_early.status_code == 400, too_early.json()
    assert on_the_birthday.status_code == 201, on_the_birthday.json()


# --- An assessment against a reported milestone ------------------------------------------------------


def _assess(patient, when, ambulation_class):
    return services.assessment_create(
        patient=patient,
        data={
            "assessment_date": when,
            "source": Source.CLINICIAN,
            "ambulation_class": ambulation_class,
            "wheelchair_use": WheelchairUse.NONE,
        },
    )


def _flag_codes(assessment) -> list[str]:
    return [flag["code"] for flag in assessment.review_flags]


@pytest.mark.parametrize(
    ("reported", "first_possible_day"),
    [("2020", dt.date(2020, 1, 1)), ("2020-06", dt.date(2020, 6, 1)), (40, dt.date(2020, 6, 15))],
)
def test_assessment_is_flagged_only_before_every_day_of_the_reported_milestone(patient, reported, first_possible_day):
    report(patient, CANE, reported)

    on_the_first_day = _assess(patient, first_possible_day, AmbulationClass.CANE)
    the_day_before = _assess(patient, first_possible_day - dt.timedelta(days=1), AmbulationClass.CANE)

    assert "before_reported_milestone" not in _flag_codes(on_the_first_day)
    assert "before_reported_milestone" in _flag_codes(the_day_before)


# --- An assessment against the onset -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("onset", "when", "accepted"),
    [
        ("2010", dt.date(2010, 1, 1), True),  # onset may have been on 1 January
        ("2010", dt.date(2010, 6, 1), True),
        ("2010", dt.date(2009, 12, 31), False),
        ("2010-06", dt.date(2010, 6, 1), True),
        ("2010-06", dt.date(2010, 6, 15), True),
        ("2010-06", dt.date(2010, 5, 31), False),
        ("2010-06-15", dt.date(2010, 6, 15), True),
        ("2010-06-15", dt.date(2010, 6, 14), False),
    ],
)
def test_assessment_against_a_partial_onset_date(patient, onset, when, accepted):
    partial = PartialDate.parse(onset)
    factories.DiagnosisFactory(
        patient=patient,
        onset_date=partial.date,
        onset_date_precision=partial.precision,
        onset_age=age_in_years(BIRTH, partial.date),
    )

    if accepted:
        assert _assess(patient, when, AmbulationClass.CANE).pk
        return
    with pytest.raises(ValidationError) as info:
        _assess(patient, when, AmbulationClass.CANE)
    assert "assessment_date" in info.value.message_dict


@pytest.mark.parametrize(("when", "accepted"), [(dt.date(2009, 6, 15), True), (dt.date(2009, 6, 14), False)])
def test_assessment_against_an_onset_age_alone(patient, when, accepted):
    factories.DiagnosisFactory(patient=patient, onset_date=None, onset_date_precision="", onset_age=29)

    if accepted:
        assert _assess(patient, when, AmbulationClass.CANE).pk
        return
    with pytest.raises(ValidationError) as info:
        _assess(patient, when, AmbulationClass.CANE)
    assert "assessment_date" in info.value.message_dict


@pytest.mark.parametrize(("when", "accepted"), [(BIRTH, True), (BIRTH - dt.timedelta(days=1), False)])
def test_assessment_against_the_date_of_birth(patient, when, accepted):
    if accepted:
        assert _assess(patient, when, None).pk
        return
    with pytest.raises(ValidationError) as info:
        _assess(patient, when, None)
    assert "assessment_date" in info.value.message_dict
