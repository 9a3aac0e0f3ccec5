"""Diagnosis, treatments and the rules they carry, through the API."""

import datetime as dt

import pytest

from patients.models import Diagnosis, Treatment
from tests.factories import AssessmentFactory, DiagnosisFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_diagnosis_onset_age_is_computed_from_birth_and_partial_date(staff_client):
    patient = PatientFactory()  # born 1980-06-15

    response = staff_client.post(
        "/api/v1/diagnoses/",
        {
            "patient": str(patient.uuid),
            "genetically_confirmed": True,
            "onset_date": "2005",
            "genetic_diagnosis_date": "2010-03",
            "first_symptom": "foot_drop",
            "prior_misdiagnoses": ["cmt"],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    # Onset "2005" for a birthday on 15 June is age 24 or 25; the middle of 2005 (2 July) gives 25.
    assert (body["onset_date"], body["genetic_diagnosis_date"], body["onset_age"]) == ("2005", "2010-03", 25)
    assert (body["onset_age_years"], body["onset_age_range"]) == (25.0, [24, 25])
    assert body["first_symptom_hpo"] == "HP:0009027"
    # Mid-2005 to mid-March 2010, and anything from 4.2 (end of 2005 to 1 March 2010) to 5.2 years.
    assert body["diagnostic_delay_years"] == 4.7
    assert body["diagnostic_delay_range_years"] == [4.2, 5.2]
    stored = Diagnosis.objects.get(patient=patient)
    assert (stored.onset_date, stored.onset_date_precision) == (dt.date(2005, 1, 1), "year")


def test_unusual_onset_is_flagged_not_refused(staff_client):
    patient = PatientFactory()

    response = staff_client.post(
        "/api/v1/diagnoses/", {"patient": str(patient.uuid), "onset_date": "1988"}, format="json"
    )

    assert response.status_code == 201
    assert [flag["code"] for flag in response.json()["review_flags"]] == ["onset_age_unusual"]
    assert Diagnosis.objects.get(patient=patient).review_flags[0]["field"] == "onset_age"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"onset_date": "2999"}, "onset_date"),
        ({"onset_date": "1970"}, "onset_date"),  # before birth
        ({"onset_date": "2005-13"}, "onset_date"),
        ({"onset_date": 2005}, "onset_date"),
        ({"onset_date": "2015"}, "onset_date"),  # after the first assessment (2012)
        ({"onset_age": 40}, "onset_age"),  # above the age at the first assessment
        ({"onset_date": "2005-01-01", "onset_age": 40}, "onset_age"),
        ({"rimmed_vacuoles": "yes", "biopsy_done": "no"}, "rimmed_vacuoles"),
        ({"prior_misdiagnoses": ["flu"]}, "prior_misdiagnoses.0"),
    ],
)
def test_diagnosis_rules(staff_client, payload, field):
    patient = PatientFactory()
    AssessmentFactory(patient=patient, assessment_date=dt.date(2012, 1, 1))

    response = staff_client.post("/api/v1/diagnoses/", {"patient": str(patient.uuid)} | payload, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert not Diagnosis.objects.filter(patient=patient).exists()


def test_one_diagnosis_per_patient_and_updates_recompute(staff_client):
    diagnosis = DiagnosisFactory()
    second = staff_client.post("/api/v1/diagnoses/", {"patient": str(diagnosis.patient.uuid)}, format="json")
    assert second.status_code == 400

    updated = staff_client.patch(
        f"/api/v1/diagnoses/{diagnosis.uuid}/", {"onset_date": "2003-09"}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert updated.status_code == 200, updated.json()
    diagnosis.refresh_from_db()
    assert (diagnosis.onset_age, diagnosis.onset_date_precision, diagnosis.version) == (23, "month", 2)


def test_treatment_lifecycle(staff_client):
    patient = PatientFactory()
    created = staff_client.post(
        "/api/v1/treatments/",
        {
            "patient": str(patient.uuid),
            "kind": "mannac",
            "in_clinical_trial": True,
            "trial_registration": "NCT04231266",
            "start_date": "2020-05",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    treatment_id = created.json()["id"]

    stopped = staff_client.patch(
        f"/api/v1/treatments/{treatment_id}/", {"stop_date": "2022-01-15"}, format="json", HTTP_IF_MATCH=created["ETag"]
    )
    assert stopped.status_code == 200
    assert stopped.json()["stop_date"] == "2022-01-15"
    assert Treatment.objects.get(uuid=treatment_id).stop_date == dt.date(2022, 1, 15)

    gone = staff_client.delete(f"/api/v1/treatments/{treatment_id}/", HTTP_IF_MATCH=stopped["ETag"])
    assert gone.status_code == 204
    assert not Treatment.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"start_date": "2020-05", "stop_date": "2019"}, "stop_date"),
        ({"start_date": "2999"}, "start_date"),
        ({"start_date": "2020", "trial_registration": "NCT01"}, "in_clinical_trial"),
        ({"start_date": None}, "start_date"),
        ({"start_date": "2020", "kind": "aspirin"}, "kind"),
    ],
)
def test_treatment_rules(staff_client, payload, field):
    patient = PatientFactory()
    response = staff_client.post(
        "/api/v1/treatments/", {"patient": str(patient.uuid), "kind": "sialic_acid"} | payload, format="json"
    )
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert not Treatment.objects.exists()
