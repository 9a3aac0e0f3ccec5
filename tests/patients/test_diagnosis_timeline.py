"""Figures computed from partial dates carry their uncertainty (docs/clinical-rules.md, "Partial dates").

Ages and delays use the middle of each interval, which does not bias them the way the first day
(how dates are stored) would, and come with the range the dates allow.
"""

import datetime as dt
import statistics

import pytest

from patients.selectors import diagnosis_timeline
from patients.services import diagnosis_create
from registry.dates import PartialDate
from registry.errors import ValidationError
from tests.factories import PatientFactory

BIRTH = dt.date(1985, 5, 10)


def timeline(onset=None, onset_age=None, diagnosis=None, birth=BIRTH):
    return diagnosis_timeline(
        onset=PartialDate.parse(onset) if onset else None,
        onset_age=onset_age,
        genetic_diagnosis=PartialDate.parse(diagnosis) if diagnosis else None,
        birth=birth,
    )


def test_an_onset_year_is_an_age_range_not_its_first_day():
    result = timeline(onset="2010")

    assert result.onset_age_range == (24, 25)
    assert result.onset_age_years == 25.1  # 1985-05-10 to 2010-07-02


def test_midpoints_do_not_bias_ages_the_way_first_days_do():
    """Over many birthdays, onset known to the year: midpoint ages are right on average."""
    errors_midpoint, errors_first_day = [], []
    for offset in range(0, 365, 7):
        birth = dt.date(1980, 1, 1) + dt.timedelta(days=offset)
        true_onset = dt.date(2005, 1, 1) + dt.timedelta(days=(offset * 37) % 365)
        true_age = (true_onset - birth).days / 365.25
        result = timeline(onset="2005", birth=birth)
        errors_midpoint.append(result.onset_age_years - true_age)
        errors_first_day.append((dt.date(2005, 1, 1) - birth).days / 365.25 - true_age)

    assert abs(statistics.mean(errors_midpoint)) < 0.1
    assert statistics.mean(errors_first_day) < -0.4  # the old way: half a year too young


def test_a_diagnosis_inside_the_onset_year_is_not_a_negative_delay():
    """Onset "2010-12-20", diagnosis "2010": the diagnosis came in the last days of 2010."""
    result = timeline(onset="2010-12-20", diagnosis="2010")

    assert not result.diagnosis_before_onset
    assert result.diagnostic_delay_years == 0.0
    assert result.diagnostic_delay_range == (0.0, 0.0)


def test_a_diagnosis_certainly_before_onset_is_said_so():
    result = timeline(onset="2012", diagnosis="2010-06")

    assert result.diagnosis_before_onset
    assert result.diagnostic_delay_years < 0


def test_onset_given_only_as_an_age_still_gives_a_delay():
    result = timeline(onset_age=25, diagnosis="2015-05-10")  # 25 from 2010-05-10 to 2011-05-09

    assert result.onset == (dt.date(2010, 5, 10), dt.date(2011, 5, 9))
    assert result.diagnostic_delay_years == 4.5
    assert result.diagnostic_delay_range == (4.0, 5.0)
    assert result.onset_age_range == (25, 25)


def test_without_a_date_of_birth_an_age_alone_gives_no_interval():
    result = timeline(onset_age=25, diagnosis="2015", birth=None)

    assert (result.onset, result.diagnostic_delay_years, result.onset_age_years) == (None, None, None)


@pytest.mark.django_db
@pytest.mark.parametrize("stated, accepted", [(23, False), (24, True), (25, True), (26, False)])
def test_a_stated_onset_age_must_be_one_the_onset_date_allows(stated, accepted):
    patient = PatientFactory(identity__date_of_birth=BIRTH)
    data = {"onset_date": dt.date(2010, 1, 1), "onset_date_precision": "year", "onset_age": stated}

    if accepted:
        assert diagnosis_create(patient=patient, data=data).onset_age == stated
    else:
        with pytest.raises(ValidationError) as raised:
            diagnosis_create(patient=patient, data=data)
        assert "gives age 24 to 25" in raised.value.message_dict["onset_age"][0]


@pytest.mark.django_db
def test_a_diagnosis_certainly_before_onset_is_flagged_for_review_not_refused(staff_client):
    patient = PatientFactory()
    body = {"patient": str(patient.uuid), "onset_date": "2012", "genetic_diagnosis_date": "2010-06"}

    response = staff_client.post("/api/v1/diagnoses/", body, format="json")

    assert response.status_code == 201, response.content
    assert [flag["code"] for flag in response.json()["review_flags"]] == ["genetic_diagnosis_before_onset"]


@pytest.mark.django_db
def test_an_overlapping_diagnosis_is_not_flagged(staff_client):
    patient = PatientFactory()
    body = {"patient": str(patient.uuid), "onset_date": "2010-12-20", "genetic_diagnosis_date": "2010"}

    response = staff_client.post("/api/v1/diagnoses/", body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["review_flags"] == []
    assert response.json()["diagnostic_delay_years"] == 0.0


@pytest.mark.django_db
def test_the_list_shows_the_same_figures_as_the_detail(staff_client):
    patient = PatientFactory()
    created = staff_client.post(
        "/api/v1/diagnoses/",
        {"patient": str(patient.uuid), "onset_date": "2005", "genetic_diagnosis_date": "2010-03"},
        format="json",
    ).json()

    listed = staff_client.get(f"/api/v1/diagnoses/?patient={patient.uuid}").json()["results"][0]

    for name in ("onset_age", "onset_age_years", "onset_age_range", "diagnostic_delay_years"):
        assert listed[name] == created[name]
