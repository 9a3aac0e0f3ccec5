"""Partial dates (YYYY, YYYY-MM) stand for an interval of days. A rule may refuse two dates only when
every day of one interval breaks it against every day of the other; these tests sit on the edges.

Treatments, diagnosis onset and genetic diagnosis dates, against each other, the date of birth, the
first assessment and today.
"""

import datetime as dt

import pytest

from patients import services
from patients.models import Diagnosis, Treatment
from registry.dates import PartialDate, age_in_years, today
from registry.errors import ValidationError
from tests.factories import AssessmentFactory, DiagnosisFactory, PatientFactory

pytestmark = pytest.mark.django_db

BIRTH = dt.date(1980, 6, 15)  # PatientFactory's date of birth


def _this_year() -> str:
    return f"{today().year:04d}"


def _this_month() -> str:
    return f"{today().year:04d}-{today().month:02d}"


def _next_year() -> str:
    return f"{today().year + 1:04d}"


# --- Treatments: stop against start ---------------------------------------------------------------


def _post_treatment(client, patient, **dates):
    return client.post(
        "/api/v1/treatments/", {"patient": str(patient.uuid), "kind": "sialic_acid", **dates}, format="json"
    )


@pytest.mark.parametrize(
    ("start", "stop"),
    [
        ("2020-06", "2020"),  # the year contains the start month
        ("2020", "2020"),
        ("2020-06-30", "2020-06"),  # the same month
        ("2020-06", "2020-06"),
        ("2020-06", "2020-06-30"),
        ("2020-06", "2020-06-01"),  # the first day of the start month
        ("2020-06", "2020-06-10"),  # a day inside the start month
        ("2020", "2020-01-01"),
        ("2020-06-15", "2020-06-15"),  # stopped the day it started
        ("2020-06-15", "2021"),
    ],
)
def test_treatment_stop_that_may_follow_the_start_accepted(staff_client, start, stop):
    patient = PatientFactory()

    response = _post_treatment(staff_client, patient, start_date=start, stop_date=stop)

    assert response.status_code == 201, response.json()
    assert (response.json()["start_date"], response.json()["stop_date"]) == (start, stop)


@pytest.mark.parametrize(
    ("start", "stop"),
    [
        ("2020-06", "2019"),
        ("2020-06", "2020-05"),
        ("2020-06", "2020-05-31"),
        ("2020-06-15", "2020-06-14"),
        ("2020-06-16", "2020-06-15"),
        ("2020", "2019-12-31"),
        ("2020-06-01", "2020-05"),
    ],
)
def test_treatment_stop_certainly_before_the_start_refused(staff_client, start, stop):
    patient = PatientFactory()

    response = _post_treatment(staff_client, patient, start_date=start, stop_date=stop)

    assert response.status_code == 400, response.json()
    assert "stop_date" in response.json()["error"]["fields"]
    assert not Treatment.objects.exists()


def test_treatment_stop_added_later_is_checked_against_the_stored_start(staff_client):
    patient = PatientFactory()
    created = _post_treatment(staff_client, patient, start_date="2020-06")
    url = f"/api/v1/treatments/{created.json()['id']}/"

    too_early = staff_client.patch(url, {"stop_date": "2020-05"}, format="json", HTTP_IF_MATCH=created["ETag"])
    same_year = staff_client.patch(url, {"stop_date": "2020"}, format="json", HTTP_IF_MATCH=created["ETag"])

    assert too_early.status_code == 400, too_early.json()
    assert "stop_date" in too_early.json()["error"]["fields"]
    assert same_year.status_code == 200, same_year.json()
    assert same_year.json()["stop_date"] == "2020"


def test_treatment_service_compares_the_whole_intervals():
    patient = PatientFactory()

    def create(start, start_precision, stop, stop_precision):
        data = {
            "kind": "sialic_acid",
            "start_date": start,
            "start_date_precision": start_precision,
            "stop_date": stop,
            "stop_date_precision": stop_precision,
        }
        return services.treatment_create(patient=patient, data=data)

    assert create(dt.date(2020, 6, 1), "month", dt.date(2020, 1, 1), "year").pk
    assert create(dt.date(2020, 6, 30), "day", dt.date(2020, 6, 1), "month").pk
    assert create(dt.date(2020, 6, 1), "month", dt.date(2020, 6, 30), "day").pk
    for start, start_precision, stop, stop_precision in [
        (dt.date(2020, 6, 1), "month", dt.date(2019, 1, 1), "year"),
        (dt.date(2020, 6, 1), "month", dt.date(2020, 5, 1), "month"),
        (dt.date(2020, 6, 16), "day", dt.date(2020, 6, 15), "day"),
    ]:
        with pytest.raises(ValidationError) as info:
            create(start, start_precision, stop, stop_precision)
        assert "stop_date" in info.value.message_dict
    assert Treatment.objects.filter(patient=patient).count() == 3


# --- Treatments: against birth and today ------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "accepted"),
    [
        ("1980", True),  # the year of birth
        ("1980-06", True),  # the month of birth
        ("1980-06-15", True),
        ("1980-06-14", False),
        ("1980-05", False),
        ("1979", False),
    ],
)
def test_treatment_start_against_the_date_of_birth(staff_client, start, accepted):
    response = _post_treatment(staff_client, PatientFactory(), start_date=start)

    assert response.status_code == (201 if accepted else 400), response.json()
    if not accepted:
        assert "start_date" in response.json()["error"]["fields"]


def test_treatment_dates_in_the_current_year_or_month_are_not_in_the_future(staff_client):
    patient = PatientFactory()

    this_year = _post_treatment(staff_client, patient, start_date=_this_year(), stop_date=_this_year())
    this_month = _post_treatment(staff_client, patient, start_date=_this_month())
    next_year = _post_treatment(staff_client, patient, start_date="2020", stop_date=_next_year())

    assert this_year.status_code == 201, this_year.json()
    assert this_month.status_code == 201, this_month.json()
    assert next_year.status_code == 400
    assert "stop_date" in next_year.json()["error"]["fields"]


# --- Diagnosis: onset and genetic diagnosis against birth -------------------------------------------


def _post_diagnosis(client, patient, **values):
    return client.post("/api/v1/diagnoses/", {"patient": str(patient.uuid), **values}, format="json")


@pytest.mark.parametrize("field", ["onset_date", "genetic_diagnosis_date"])
@pytest.mark.parametrize(
    ("birth", "when", "accepted"),
    [
        (dt.date(2010, 12, 31), "2010", True),  # the year of birth holds the birthday
        (dt.date(2010, 12, 31), "2010-12", True),
        (dt.date(2010, 12, 31), "2010-12-31", True),
        (dt.date(2010, 12, 31), "2010-12-30", False),
        (dt.date(2010, 12, 1), "2010-11", False),  # all of November is before 1 December
        (dt.date(2010, 1, 1), "2009", False),
    ],
)
def test_diagnosis_dates_against_the_date_of_birth(staff_client, field, birth, when, accepted):
    patient = PatientFactory(identity__date_of_birth=birth)

    response = _post_diagnosis(staff_client, patient, **{field: when})

    assert response.status_code == (201 if accepted else 400), response.json()
    if accepted:
        assert response.json()[field] == when
    else:
        assert field in response.json()["error"]["fields"]
        assert not Diagnosis.objects.filter(patient=patient).exists()


def test_onset_in_the_year_of_birth_after_new_year_gives_age_zero(staff_client):
    patient = PatientFactory(identity__date_of_birth=dt.date(2010, 12, 31))

    response = _post_diagnosis(staff_client, patient, onset_date="2010")

    assert response.status_code == 201, response.json()
    assert response.json()["onset_age"] == 0


@pytest.mark.parametrize("field", ["onset_date", "genetic_diagnosis_date"])
def test_diagnosis_dates_in_the_current_year_are_not_in_the_future(staff_client, field):
    accepted = _post_diagnosis(staff_client, PatientFactory(), **{field: _this_year()})
    this_month = _post_diagnosis(staff_client, PatientFactory(), **{field: _this_month()})
    refused = _post_diagnosis(staff_client, PatientFactory(), **{field: _next_year()})

    assert accepted.status_code == 201, accepted.json()
    assert this_month.status_code == 201, this_month.json()
    assert refused.status_code == 400
    assert field in refused.json()["error"]["fields"]


# --- Diagnosis: onset against the first assessment and the stated age -------------------------------


@pytest.mark.parametrize(
    ("first_assessment", "onset", "accepted"),
    [
        (dt.date(2012, 1, 1), "2012", True),  # onset may be 1 January
        (dt.date(2012, 1, 1), "2012-01", True),
        (dt.date(2012, 1, 1), "2012-01-01", True),
        (dt.date(2012, 1, 1), "2012-01-02", False),
        (dt.date(2012, 1, 31), "2012-02", False),
        (dt.date(2012, 12, 31), "2013", False),
        (dt.date(2012, 6, 30), "2012-06", True),
    ],
)
def test_onset_against_the_first_assessment(staff_client, first_assessment, onset, accepted):
    patient = PatientFactory()
    AssessmentFactory(patient=patient, assessment_date=first_assessment)
    AssessmentFactory(patient=patient, assessment_date=dt.date(2020, 1, 1))

    response = _post_diagnosis(staff_client, patient, onset_date=onset)

    assert response.status_code == (201 if accepted else 400), response.json()
    if not accepted:
        assert "onset_date" in response.json()["error"]["fields"]


@pytest.mark.parametrize(("onset_age", "accepted"), [(31, True), (32, False)])
def test_onset_age_against_the_age_at_the_first_assessment(staff_client, onset_age, accepted):
    patient = PatientFactory()
    AssessmentFactory(patient=patient, assessment_date=dt.date(2012, 6, 14))  # the day before turning 32

    response = _post_diagnosis(staff_client, patient, onset_age=onset_age)

    assert response.status_code == (201 if accepted else 400), response.json()
    if not accepted:
        assert "onset_age" in response.json()["error"]["fields"]


def test_onset_age_may_be_the_current_age_not_above(staff_client):
    current = age_in_years(BIRTH, today())

    same = _post_diagnosis(staff_client, PatientFactory(), onset_age=current)
    above = _post_diagnosis(staff_client, PatientFactory(), onset_age=current + 1)

    assert same.status_code == 201, same.json()
    assert above.status_code == 400
    assert "onset_age" in above.json()["error"]["fields"]


@pytest.mark.parametrize(("onset_age", "accepted"), [(24, True), (25, True), (26, False), (22, False)])
def test_stated_onset_age_must_fit_a_year_precise_onset(staff_client, onset_age, accepted):
    # Born 1980-06-15: during 2005 the patient was 24, then 25.
    response = _post_diagnosis(staff_client, PatientFactory(), onset_date="2005", onset_age=onset_age)

    assert response.status_code == (201 if accepted else 400), response.json()
    if accepted:
        assert response.json()["onset_age"] == onset_age
    else:
        assert "onset_age" in response.json()["error"]["fields"]


# --- Correcting the date of birth keeps the partial dates already recorded possible -----------------


def _treatment(patient, start, precision):
    return Treatment.objects.create(
        patient=patient, kind="sialic_acid", start_date=start, start_date_precision=precision
    )


def _reported_milestone(patient, when, precision):
    return patient.milestones.create(kind="afo", source="reported", date=when, date_precision=precision)


RECORDED = {
    # what is recorded, the last birth date it allows, the first one it refuses
    "onset": (
        lambda patient: DiagnosisFactory(patient=patient, onset_date=dt.date(2005, 1, 1), onset_date_precision="year"),
        dt.date(2005, 12, 31),
        dt.date(2006, 1, 1),
    ),
    "genetic diagnosis": (
        lambda patient: DiagnosisFactory(
            patient=patient,
            onset_date=None,
            onset_date_precision="",
            onset_age=None,
            genetic_diagnosis_date=dt.date(2010, 3, 1),
            genetic_diagnosis_date_precision="month",
        ),
        dt.date(2010, 3, 31),
        dt.date(2010, 4, 1),
    ),
    "treatment": (
        lambda patient: _treatment(patient, dt.date(2000, 1, 1), "year"),
        dt.date(2000, 12, 31),
        dt.date(2001, 1, 1),
    ),
    "milestone": (
        lambda patient: _reported_milestone(patient, dt.date(2000, 6, 1), "month"),
        dt.date(2000, 6, 30),
        dt.date(2000, 7, 1),
    ),
}


@pytest.mark.parametrize("recorded", RECORDED)
def test_birth_date_correction_must_leave_recorded_partial_dates_possible(recorded):
    make, last_allowed, first_refused = RECORDED[recorded]
    patient = PatientFactory()
    make(patient)

    with pytest.raises(ValidationError) as info:
        services.patient_update(patient=patient, expected_version=1, data={}, identity={"date_of_birth": first_refused})
    assert "identity.date_of_birth" in info.value.message_dict
    patient.identity.refresh_from_db()
    assert patient.identity.date_of_birth == BIRTH

    services.patient_update(patient=patient, expected_version=1, data={}, identity={"date_of_birth": last_allowed})
    patient.identity.refresh_from_db()
    assert patient.identity.date_of_birth == last_allowed


def test_age_only_milestones_move_with_a_corrected_birth_date():
    patient = PatientFactory()
    patient.milestones.create(kind="afo", source="reported", age_years=30)

    services.patient_update(
        patient=patient, expected_version=1, data={}, identity={"date_of_birth": dt.date(1985, 1, 1)}
    )

    patient.identity.refresh_from_db()
    assert patient.identity.date_of_birth == dt.date(1985, 1, 1)


def test_api_birth_date_correction_after_a_recorded_onset_refused(staff_client):
    diagnosis = DiagnosisFactory()  # onset 2005

    response = staff_client.patch(
        f"/api/v1/patients/{diagnosis.patient.uuid}/",
        {"identity": {"date_of_birth": "2006-01-01"}},
        format="json",
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 400, response.json()
    assert "identity.date_of_birth" in response.json()["error"]["fields"]


# --- Dates after death -------------------------------------------------------------------------


@pytest.fixture
def deceased(db):
    patient = PatientFactory()
    patient.identity.date_of_death = dt.date(2015, 6, 30)
    patient.identity.save()
    return patient


@pytest.mark.parametrize(
    "start, accepted",
    [("2015", True), ("2015-06", True), ("2015-06-30", True), ("2015-07", False), ("2016", False)],
)
def test_a_treatment_cannot_start_after_death(deceased, start, accepted):
    data = {"kind": "sialic_acid", "start_date": PartialDate.parse(start).date}
    data["start_date_precision"] = PartialDate.parse(start).precision
    if accepted:
        assert services.treatment_create(patient=deceased, data=data).pk
    else:
        with pytest.raises(ValidationError) as raised:
            services.treatment_create(patient=deceased, data=data)
        assert "after the date of death" in raised.value.message_dict["start_date"][0]


def test_a_genetic_diagnosis_after_death_is_refused(deceased):
    with pytest.raises(ValidationError) as raised:
        services.diagnosis_create(
            patient=deceased,
            data={"genetic_diagnosis_date": dt.date(2016, 1, 1), "genetic_diagnosis_date_precision": "year"},
        )
    assert "after the date of death" in raised.value.message_dict["genetic_diagnosis_date"][0]


def test_a_death_date_correction_must_leave_recorded_partial_dates_possible(staff_client):
    patient = PatientFactory()
    services.treatment_create(
        patient=patient, data={"kind": "mannac", "start_date": dt.date(2020, 1, 1), "start_date_precision": "year"}
    )
    url = f"/api/v1/patients/{patient.uuid}/"

    refused = staff_client.patch(url, {"identity": {"date_of_death": "2019-12-31"}}, format="json", HTTP_IF_MATCH='"1"')
    accepted = staff_client.patch(
        url, {"identity": {"date_of_death": "2020-01-01"}}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert refused.status_code == 400
    assert "after this date of death" in refused.json()["error"]["fields"]["identity.date_of_death"][0]
    assert accepted.status_code == 200, accepted.content
