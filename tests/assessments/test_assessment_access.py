"""The access matrix for /api/v1/assessments/ and /api/v1/milestones/ (docs/architecture.md,
"Personas and the access matrix").

Staff: everything. A patient: reads their own patient's rows only (another patient's answer 404 and
are absent from lists); sends assessments (self-reports) for their own record only, and corrects
their own self-reports within the correction window (docs/patient-reports.md); writes nothing else
(403): no deletes, no milestones, no clinician's assessment. A researcher: 403 everywhere (no
identifiable records). Anonymous: 401. Refused writes leave the database as it was.
"""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from assessments.models import Assessment, Milestone, Source
from tests import factories

pytestmark = pytest.mark.django_db

ROLES = ["staff", "patient", "researcher", "anonymous"]
RESOURCES = ["assessments", "milestones"]
MODELS = {"assessments": Assessment, "milestones": Milestone}
DENIED = {"researcher": (403, "permission_denied"), "anonymous": (401, "not_authenticated")}


def _record(resource, patient):
    if resource == "assessments":
        return factories.AssessmentFactory(patient=patient, falls_count=1)
    return Milestone.objects.create(
        patient=patient, kind="afo", source="reported", date=dt.date(2015, 1, 1), date_precision="year"
    )


@pytest.fixture
def records(own_patient, other_patient):
    return {
        (resource, owner): _record(resource, patient)
        for resource in RESOURCES
        for owner, patient in (("own", own_patient), ("other", other_patient))
    }


def _create_body(resource, patient) -> dict:
    if resource == "assessments":
        return {"patient": str(patient.uuid), "assessment_date": "2021-01-01", "source": "patient", "falls_count": 0}
    return {"patient": str(patient.uuid), "kind": "cane", "date": "2016"}


def _change_body(resource) -> dict:
    return {"falls_count": 5} if resource == "assessments" else {"date": "2014"}


def _snapshot(resource):
    return sorted(MODELS[resource].objects.values_list("uuid", "version", "updated_at"))


def _assert_refused(response, role, status_if_allowed_role):
    """Non-staff writes: researcher 403, anonymous 401, patient `status_if_allowed_role`."""
    status, code = DENIED.get(role, (status_if_allowed_role, "permission_denied"))
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    if role == "anonymous":
        assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_list(persona_clients, records, own_patient, other_patient, role, resource):
    response = persona_clients[role].get(f"/api/v1/{resource}/")

    if role in DENIED:
        _assert_refused(response, role, None)
        return
    assert response.status_code == 200
    rows = response.json()["results"]
    listed = {row["id"]: row["patient"] for row in rows}
    own, other = str(records[resource, "own"].uuid), str(records[resource, "other"].uuid)
    assert len(listed) == len(rows)
    if role == "staff":
        assert listed == {own: str(own_patient.uuid), other: str(other_patient.uuid)}
    else:
        assert listed == {own: str(own_patient.uuid)}


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ROLES)
def test_list_filtered_on_another_patient(persona_clients, records, other_patient, role, resource):
    response = persona_clients[role].get(f"/api/v1/{resource}/?patient={other_patient.uuid}")

    if role in DENIED:
        _assert_refused(response, role, None)
        return
    expected = [(str(records[resource, "other"].uuid), str(other_patient.uuid))] if role == "staff" else []
    assert [(row["id"], row["patient"]) for row in response.json()["results"]] == expected


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("owner", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_detail(persona_clients, records, own_patient, other_patient, role, owner, resource):
    record = records[resource, owner]
    patient = own_patient if owner == "own" else other_patient

    response = persona_clients[role].get(f"/api/v1/{resource}/{record.uuid}/")

    if role in DENIED:
        _assert_refused(response, role, None)
    elif role == "patient" and owner == "other":
        assert response.status_code == 404
        assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "Not found."}}
    else:
        assert response.status_code == 200
        body = response.json()
        # The requested record, of the requested patient: not merely some record the user may see.
        assert (body["id"], body["patient"], response["ETag"]) == (str(record.uuid), str(patient.uuid), '"1"')


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("owner", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_create(persona_clients, records, own_patient, other_patient, role, owner, resource):
    patient = own_patient if owner == "own" else other_patient
    before = _snapshot(resource)

    response = persona_clients[role].post(f"/api/v1/{resource}/", _create_body(resource, patient), format="json")

    if role == "staff" or (role, owner, resource) == ("patient", "own", "assessments"):
        assert response.status_code == 201, response.content
        created = MODELS[resource].objects.get(uuid=response.json()["id"])
        assert created.patient == patient
        if role == "patient":
            assert (created.source, created.entered_by.username) == (Source.PATIENT, "patient.pat")
        return
    if (role, resource) == ("patient", "assessments"):
        # Another patient's record is not one a patient knows of: the same answer as an unknown id.
        assert response.status_code == 400, response.content
        assert response.json()["error"]["fields"] == {"patient": [f"No record with id {patient.uuid}."]}
    else:
        _assert_refused(response, role, 403)
    assert _snapshot(resource) == before


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("owner", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_update(persona_clients, records, role, owner, resource, method):
    record = records[resource, owner]
    body = _change_body(resource)
    if method == "put" and resource == "assessments":
        body |= {"assessment_date": "2020-03-01", "source": "clinician"}
    before = _snapshot(resource)

    response = getattr(persona_clients[role], method)(
        f"/api/v1/{resource}/{record.uuid}/", body, format="json", HTTP_IF_MATCH='"1"'
    )

    if role == "staff":
        assert response.status_code == 200, response.content
        assert MODELS[resource].objects.get(pk=record.pk).version == 2
        return
    if (role, owner, resource) == ("patient", "other", "assessments"):
        # A patient may correct assessments, but another patient's is not found.
        assert response.status_code == 404, response.content
    else:
        # Milestones: refused before the record is looked up. Their own assessment here is a
        # clinician's: not theirs to correct (their own reports: the tests below).
        _assert_refused(response, role, 403)
    assert _snapshot(resource) == before


@pytest.fixture
def own_report(own_patient):
    """A report the patient sent themself, just now."""
    return factories.AssessmentFactory(patient=own_patient, source=Source.PATIENT, falls_count=1)


def _age(assessment, *, days: float) -> None:
    Assessment.objects.filter(pk=assessment.pk).update(created_at=timezone.now() - dt.timedelta(days=days))


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize(
    ("age_days", "expected"),
    [(0, 200), (settings.REGISTRY_REPORT_CORRECTION_DAYS - 0.01, 200), (settings.REGISTRY_REPORT_CORRECTION_DAYS, 403)],
)
def test_a_patient_corrects_their_own_report_within_the_window_only(
    patient_client, own_report, method, age_days, expected
):
    _age(own_report, days=age_days)
    body = {"falls_count": 5} | ({"assessment_date": "2020-03-01"} if method == "put" else {})

    response = getattr(patient_client, method)(
        f"/api/v1/assessments/{own_report.uuid}/", body, format="json", HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == expected, response.content
    own_report.refresh_from_db()
    if expected == 200:
        assert (own_report.falls_count, own_report.version, own_report.source) == (5, 2, Source.PATIENT)
    else:
        assert "registry team" in response.json()["error"]["message"]
        assert (own_report.falls_count, own_report.version) == (1, 1)


def test_a_patient_cannot_correct_a_report_into_a_clinicians_measure(patient_client, own_report):
    response = patient_client.patch(
        f"/api/v1/assessments/{own_report.uuid}/",
        {"source": "clinician", "six_minute_walk_m": 300},
        format="json",
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 400, response.content
    assert set(response.json()["error"]["fields"]) == {"source", "six_minute_walk_m"}
    own_report.refresh_from_db()
    assert (own_report.source, own_report.six_minute_walk_m, own_report.version) == (Source.PATIENT, None, 1)


def test_a_patient_cannot_delete_even_their_own_report(patient_client, own_report):
    response = patient_client.delete(f"/api/v1/assessments/{own_report.uuid}/", HTTP_IF_MATCH='"1"')

    _assert_refused(response, "patient", 403)
    assert Assessment.objects.filter(pk=own_report.pk).exists()


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("owner", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_delete(persona_clients, records, role, owner, resource):
    record = records[resource, owner]
    before = _snapshot(resource)

    response = persona_clients[role].delete(f"/api/v1/{resource}/{record.uuid}/", HTTP_IF_MATCH='"1"')

    if role == "staff":
        assert response.status_code == 204
        assert not MODELS[resource].objects.filter(pk=record.pk).exists()
        return
    _assert_refused(response, role, 403)
    assert _snapshot(resource) == before


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ["patient", "researcher", "anonymous"])
def test_writes_to_an_unknown_id_do_not_reveal_anything(persona_clients, role, resource):
    """Without write access the answer is the same whether the record exists or not."""
    response = persona_clients[role].delete(
        f"/api/v1/{resource}/00000000-0000-0000-0000-000000000000/", HTTP_IF_MATCH='"1"'
    )

    _assert_refused(response, role, 403)


def test_patient_sees_derived_milestones_of_their_own_assessments_only(patient_client, own_patient, other_patient):
    factories.AssessmentFactory(patient=own_patient)
    factories.AssessmentFactory(patient=other_patient)
    for patient in (own_patient, other_patient):
        Milestone.objects.create(
            patient=patient,
            kind="afo",
            source="derived",
            date=dt.date(2020, 3, 1),
            date_precision="day",
            derived_from=patient.assessments.get(),
        )

    rows = patient_client.get("/api/v1/milestones/").json()["results"]

    assert [(row["patient"], row["derived_from"]) for row in rows] == [
        (str(own_patient.uuid), str(own_patient.assessments.get().uuid))
    ]
