import datetime as dt

import pytest

from patients.models import EnrollmentEvent, Patient, PatientIdentity
from tests.factories import AssessmentFactory, PatientFactory, SiteFactory

pytestmark = pytest.mark.django_db

NEW_PATIENT = {
    "sex": "male",
    "country": "JP",
    "ancestry": ["japanese"],
    "consanguinity": "no",
    "identity": {
        "given_name": "Hiro",
        "family_name": "Tanaka",
        "date_of_birth": "1985-04-02",
        "email": "hiro@example.org",
    },
}


def test_staff_creates_patient_with_identity_kept_apart(staff_client):
    response = staff_client.post("/api/v1/patients/", NEW_PATIENT, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    patient = Patient.objects.get(uuid=body["id"])
    assert (patient.sex, patient.country.code, patient.ancestry) == ("male", "JP", ["japanese"])
    identity = PatientIdentity.objects.get(patient=patient)
    assert (identity.family_name, identity.date_of_birth) == ("Tanaka", dt.date(1985, 4, 2))
    assert body["status"] == "candidate"
    assert [e["status"] for e in body["enrollment_events"]] == ["candidate"]
    assert response["ETag"] == '"1"'
    assert "family_name" not in {f.name for f in Patient._meta.get_fields()}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"ancestry": ["martian"]}, "ancestry.0"),
        ({"sex": 3}, "sex"),
        ({"identity": {"date_of_birth": "2999-01-01"}}, "identity.date_of_birth"),
        ({"identity": {"email": "not-an-email"}}, "identity.email"),
        ({"site": "nowhere"}, "site"),
    ],
)
def test_invalid_patient_gets_field_errors_and_nothing_is_written(staff_client, change, field):
    response = staff_client.post("/api/v1/patients/", NEW_PATIENT | change, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["status"] == 400
    assert field in error["fields"], error
    assert not Patient.objects.exists()


def test_patch_needs_the_current_etag(staff_client):
    patient = PatientFactory(sex="female")
    url = f"/api/v1/patients/{patient.uuid}/"

    missing = staff_client.patch(url, {"sex": "male"}, format="json")
    stale = staff_client.patch(url, {"sex": "male"}, format="json", HTTP_IF_MATCH='"7"')
    patient.refresh_from_db()
    assert (missing.status_code, stale.status_code, patient.sex) == (428, 412, "female")
    assert stale.json()["error"]["code"] == "precondition_failed"

    ok = staff_client.patch(
        url, {"sex": "male", "identity": {"phone": "+81 3 0000 0000"}}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert ok.status_code == 200, ok.json()
    patient.refresh_from_db()
    assert (patient.sex, patient.version, ok["ETag"]) == ("male", 2, '"2"')
    assert patient.identity.phone == "+81 3 0000 0000"


def test_correcting_birth_date_cannot_orphan_assessments(staff_client):
    patient = PatientFactory()
    AssessmentFactory(patient=patient, assessment_date=dt.date(2010, 5, 1))

    response = staff_client.patch(
        f"/api/v1/patients/{patient.uuid}/",
        {"identity": {"date_of_birth": "2011-01-01"}},
        format="json",
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 400
    assert "identity.date_of_birth" in response.json()["error"]["fields"]


def test_status_changes_are_dated_and_checked(staff_client):
    patient = PatientFactory()
    url = f"/api/v1/patients/{patient.uuid}/status/"

    enrolled = staff_client.post(url, {"status": "enrolled", "effective_date": "2024-02-01"}, format="json")
    backwards = staff_client.post(url, {"status": "candidate", "effective_date": "2024-03-01"}, format="json")
    died = staff_client.post(url, {"status": "deceased", "effective_date": "2025-06-30"}, format="json")
    after_death = staff_client.post(url, {"status": "enrolled", "effective_date": "2025-07-30"}, format="json")

    assert enrolled.status_code == 201 and enrolled.json()["status"] == "enrolled"
    assert backwards.status_code == 400 and "status" in backwards.json()["error"]["fields"]
    assert died.status_code == 201
    assert after_death.status_code == 400
    patient.refresh_from_db()
    assert patient.status == "deceased"
    assert patient.identity.date_of_death == dt.date(2025, 6, 30)
    assert list(EnrollmentEvent.objects.filter(patient=patient).values_list("status", flat=True)) == [
        "enrolled",
        "deceased",
    ]


def test_patient_list_filters(staff_client):
    SiteFactory(code="tokyo", country="JP")
    PatientFactory(country="JP", site_id=None)
    japan = PatientFactory(country="JP", site=SiteFactory(code="tokyo"))
    PatientFactory(country="GB")

    by_country = staff_client.get("/api/v1/patients/?country=JP&count=true").json()
    by_site = staff_client.get("/api/v1/patients/?site=tokyo").json()

    assert by_country["count"] == 2
    assert [row["id"] for row in by_site["results"]] == [str(japan.uuid)]


def test_future_status_date_refused(staff_client):
    patient = PatientFactory()
    response = staff_client.post(
        f"/api/v1/patients/{patient.uuid}/status/",
        {"status": "enrolled", "effective_date": "2999-01-01"},
        format="json",
    )
    assert response.status_code == 400
    assert "effective_date" in response.json()["error"]["fields"]


def test_unknown_patient_is_404_in_the_error_shape(staff_client):
    response = staff_client.get("/api/v1/patients/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert staff_client.get("/api/v1/patients/not-a-uuid/").status_code == 404
