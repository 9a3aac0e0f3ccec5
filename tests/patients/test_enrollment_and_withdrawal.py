"""Enrollment history and withdrawal, through the API as staff use them (bugs found by probing).

- a withdrawal ends every consent grant on its effective day, so no later export or contact can
  include the patient, and re-enrolling does not bring the consent back;
- the withdrawal day is the last day of participation, for both rules that look at it (a
  withdrawal after an assessment, and an assessment edited after a withdrawal);
- the first status change after registration carries its real date, however long ago.
"""

import datetime as dt

import pytest

from assessments.models import Assessment
from patients.models import ConsentDocument, ConsentGrant, EnrollmentEvent, Patient
from patients.selectors import consent_is_active
from patients.services import consent_grant
from registry.dates import today
from tests import factories

pytestmark = pytest.mark.django_db

PATIENTS = "/api/v1/patients/"
ASSESSMENTS = "/api/v1/assessments/"
PURPOSES = ["research", "recontact", "trial_matching"]


def change_status(client, patient, status, effective_date):
    return client.post(
        f"{PATIENTS}{patient.uuid}/status/",
        {"status": status, "effective_date": str(effective_date), "reason": "test"},
        format="json",
    )


@pytest.fixture
def consented_patient(staff_client):
    created = staff_client.post(
        PATIENTS, {"sex": "female", "country": "IL", "identity": {"date_of_birth": "1980-06-15"}}, format="json"
    )
    assert created.status_code == 201, created.content
    patient = Patient.objects.get(uuid=created.json()["id"])
    assert change_status(staff_client, patient, "enrolled", dt.date(2015, 3, 1)).status_code == 201
    document = ConsentDocument.objects.create(
        code="registry", version="1.0", title="Registry consent", effective_from=dt.date(2010, 1, 1), purposes=PURPOSES
    )
    consent_grant(patient=patient, document=document, purposes=PURPOSES, granted_on=dt.date(2015, 3, 1))
    return patient


def test_withdrawal_ends_every_consent_grant_on_its_effective_day(staff_client, consented_patient):
    withdrawn_on = dt.date(2020, 5, 1)

    response = change_status(staff_client, consented_patient, "withdrawn", withdrawn_on)

    assert response.status_code == 201, response.content
    grants = ConsentGrant.objects.filter(patient=consented_patient)
    assert sorted(grants.values_list("purpose", "withdrawn_on")) == [(p, withdrawn_on) for p in sorted(PURPOSES)]
    for purpose in PURPOSES:
        assert consent_is_active(patient=consented_patient, purpose=purpose, on=withdrawn_on - dt.timedelta(days=1))
        assert not consent_is_active(patient=consented_patient, purpose=purpose, on=withdrawn_on)
        assert not consent_is_active(patient=consented_patient, purpose=purpose, on=today())


def test_re_enrolling_does_not_bring_consent_back(staff_client, consented_patient):
    change_status(staff_client, consented_patient, "withdrawn", dt.date(2020, 5, 1))

    response = change_status(staff_client, consented_patient, "enrolled", dt.date(2021, 1, 1))

    assert response.status_code == 201, response.content
    assert not any(consent_is_active(patient=consented_patient, purpose=p, on=today()) for p in PURPOSES)


def test_withdrawal_dated_before_a_later_consent_is_refused_and_changes_nothing(staff_client, consented_patient):
    response = change_status(staff_client, consented_patient, "withdrawn", dt.date(2015, 2, 1))

    assert response.status_code == 400
    assert "effective_date" in response.json()["error"]["fields"]
    consented_patient.refresh_from_db()
    assert consented_patient.status == "enrolled"
    assert not ConsentGrant.objects.filter(patient=consented_patient, withdrawn_on__isnull=False).exists()


def test_an_assessment_on_the_withdrawal_day_stays_editable(staff_client, consented_patient):
    day = today()
    created = staff_client.post(
        ASSESSMENTS,
        {"patient": str(consented_patient.uuid), "assessment_date": str(day), "source": "clinician", "falls_count": 1},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert change_status(staff_client, consented_patient, "withdrawn", day).status_code == 201

    patched = staff_client.patch(
        f"{ASSESSMENTS}{created.json()['id']}/", {"falls_count": 2}, format="json", HTTP_IF_MATCH=created["ETag"]
    )

    assert patched.status_code == 200, patched.content
    assert Assessment.objects.get(uuid=created.json()["id"]).falls_count == 2


def test_after_the_withdrawal_day_assessments_are_refused_on_create_and_on_edit(staff_client, consented_patient):
    assessment = factories.AssessmentFactory(patient=consented_patient, assessment_date=dt.date(2020, 5, 1))
    change_status(staff_client, consented_patient, "withdrawn", dt.date(2020, 5, 1))

    created = staff_client.post(
        ASSESSMENTS,
        {"patient": str(consented_patient.uuid), "assessment_date": "2020-05-02", "source": "clinician"},
        format="json",
    )
    moved = staff_client.patch(
        f"{ASSESSMENTS}{assessment.uuid}/",
        {"assessment_date": "2020-05-02"},
        format="json",
        HTTP_IF_MATCH=f'"{assessment.version}"',
    )

    for response in (created, moved):
        assert response.status_code == 400
        assert "withdrew" in response.json()["error"]["fields"]["assessment_date"][0]
    assert Assessment.objects.get(pk=assessment.pk).assessment_date == dt.date(2020, 5, 1)


def test_a_withdrawal_before_an_assessment_is_refused(staff_client, consented_patient):
    factories.AssessmentFactory(patient=consented_patient, assessment_date=dt.date(2020, 5, 2))

    response = change_status(staff_client, consented_patient, "withdrawn", dt.date(2020, 5, 1))

    assert response.status_code == 400
    assert "2020-05-02" in response.json()["error"]["fields"]["effective_date"][0]


def test_a_patient_registered_today_can_be_enrolled_from_a_past_date(staff_client):
    created = staff_client.post(PATIENTS, {"sex": "male", "country": "JP"}, format="json")
    patient = Patient.objects.get(uuid=created.json()["id"])

    response = change_status(staff_client, patient, "enrolled", dt.date(2005, 1, 1))

    assert response.status_code == 201, response.content
    history = list(EnrollmentEvent.objects.filter(patient=patient).values_list("status", "effective_date"))
    assert history == [("candidate", dt.date(2005, 1, 1)), ("enrolled", dt.date(2005, 1, 1))]
    assert [event["effective_date"] for event in response.json()["enrollment_events"]] == ["2005-01-01"] * 2


def test_only_the_first_change_may_predate_the_history(staff_client):
    created = staff_client.post(PATIENTS, {"sex": "male", "country": "JP"}, format="json")
    patient = Patient.objects.get(uuid=created.json()["id"])
    change_status(staff_client, patient, "enrolled", dt.date(2005, 1, 1))

    response = change_status(staff_client, patient, "withdrawn", dt.date(2004, 12, 31))

    assert response.status_code == 400
    assert "cannot be dated earlier" in response.json()["error"]["fields"]["effective_date"][0]
    assert EnrollmentEvent.objects.filter(patient=patient).count() == 2


def test_a_status_change_before_birth_is_refused(staff_client):
    patient = factories.PatientFactory()  # born 1980-06-15

    response = change_status(staff_client, patient, "enrolled", dt.date(1980, 6, 14))

    assert response.status_code == 400
    assert "date of birth" in response.json()["error"]["fields"]["effective_date"][0]
    assert not EnrollmentEvent.objects.filter(patient=patient).exists()
