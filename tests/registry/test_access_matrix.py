"""Every patient-data endpoint against every persona (docs/architecture.md, "Personas and the access matrix").

Expected now: staff everything; a patient reads only their own record (another's answers 404, as if
it did not exist) and writes none of these records; a researcher has no access to identifiable
records; anonymous is asked to authenticate. Assessments and milestones have their matrix in
tests/assessments/test_assessment_access.py: there a patient may also send and, within the
correction window, correct their own reports (docs/patient-reports.md).
"""

import pytest

from patients.models import Diagnosis, Genotype, Treatment
from tests.factories import DiagnosisFactory, GenotypeFactory, PatientFactory

pytestmark = pytest.mark.django_db

ROLES = ["staff", "patient", "researcher", "anonymous"]


def _treatment(patient):
    return Treatment.objects.create(
        patient=patient, kind="sialic_acid", start_date="2020-01-01", start_date_precision="year"
    )


RECORDS = {
    "patients": lambda patient: patient,
    "diagnoses": lambda patient: DiagnosisFactory(patient=patient),
    "genotypes": lambda patient: GenotypeFactory(patient=patient),
    "treatments": _treatment,
}


def _uuids_of(resource, patient) -> set[str]:
    if resource == "patients":
        return {str(patient.uuid)}
    model = {"diagnoses": Diagnosis, "genotypes": Genotype, "treatments": Treatment}[resource]
    return {str(uuid) for uuid in model.objects.filter(patient=patient).values_list("uuid", flat=True)}


def _owner_of(resource, row) -> str:
    """The uuid of the patient a serialized row belongs to."""
    return row["id"] if resource == "patients" else row["patient"]


def _expected_read(role, owner):
    if role == "staff":
        return 200
    if role == "patient":
        return 200 if owner == "own" else 404
    return 403 if role == "researcher" else 401


@pytest.mark.parametrize("resource", RECORDS)
@pytest.mark.parametrize("owner", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_detail(persona_clients, own_patient, resource, owner, role):
    # Records of other patients around the requested one, so that answering with the wrong one shows.
    RECORDS[resource](PatientFactory())
    patient = own_patient if owner == "own" else PatientFactory()
    record = RECORDS[resource](patient)
    if owner == "other":
        RECORDS[resource](own_patient)

    response = persona_clients[role].get(f"/api/v1/{resource}/{record.uuid}/")

    assert response.status_code == _expected_read(role, owner)
    if response.status_code == 200:
        body = response.json()
        # The requested record, of the requested patient: not merely some record the user may see.
        assert body["id"] == str(record.uuid)
        assert _owner_of(resource, body) == str(patient.uuid)
        if resource == "patients":
            assert body["identity"]["family_name"] == patient.identity.family_name


@pytest.mark.parametrize("resource", RECORDS)
@pytest.mark.parametrize("role", ROLES)
def test_list_shows_only_what_the_role_may_see(persona_clients, own_patient, other_patient, resource, role):
    for patient in (own_patient, other_patient):
        RECORDS[resource](patient)
        if resource == "treatments":  # a patient may have several: a list shows all of theirs
            _treatment(patient)

    response = persona_clients[role].get(f"/api/v1/{resource}/")

    expected = {"staff": 200, "patient": 200, "researcher": 403, "anonymous": 401}[role]
    assert response.status_code == expected
    if expected == 200:
        rows = response.json()["results"]
        ids = [row["id"] for row in rows]
        own, other = _uuids_of(resource, own_patient), _uuids_of(resource, other_patient)
        assert len(ids) == len(set(ids))
        if role == "patient":
            assert set(ids) == own
            assert {_owner_of(resource, row) for row in rows} == {str(own_patient.uuid)}
        else:
            assert set(ids) == own | other
            owners = {row["id"]: _owner_of(resource, row) for row in rows}
            assert {owners[uuid] for uuid in own} == {str(own_patient.uuid)}
            assert {owners[uuid] for uuid in other} == {str(other_patient.uuid)}
    else:
        assert "results" not in response.json()
        assert response.json()["error"]["status"] == expected


@pytest.mark.parametrize("resource", RECORDS)
@pytest.mark.parametrize("role", ROLES)
def test_writes(persona_clients, own_patient, resource, role):
    record = RECORDS[resource](own_patient)
    url = f"/api/v1/{resource}/{record.uuid}/"

    patched = persona_clients[role].patch(url, {}, format="json", HTTP_IF_MATCH=f'"{record.version}"')
    created = persona_clients[role].post(f"/api/v1/{resource}/", {}, format="json")

    expected = {"staff": (200, 400), "patient": (403, 403), "researcher": (403, 403), "anonymous": (401, 401)}[role]
    assert (patched.status_code, created.status_code) == expected
    record.refresh_from_db()
    assert record.version == (2 if role == "staff" else 1)


@pytest.mark.parametrize("role", ROLES)
def test_variant_catalogue_and_checker_need_only_a_login(persona_clients, role):
    catalogue = persona_clients[role].get("/api/v1/variants/")
    parsed = persona_clients[role].post("/api/v1/variants/parse/", {"text": "M712T"}, format="json")

    expected = 401 if role == "anonymous" else 200
    assert (catalogue.status_code, parsed.status_code) == (expected, expected)


@pytest.mark.parametrize("role", ROLES)
def test_admin_is_for_staff_only(persona_clients, staff_user, patient_user, researcher_user, client, role):
    users = {"staff": staff_user, "patient": patient_user, "researcher": researcher_user, "anonymous": None}
    if role == "staff":
        staff_user.is_staff = True
        staff_user.save()
    if users[role]:
        client.force_login(users[role])

    response = client.get("/admin/patients/patientidentity/")

    assert response.status_code == (200 if role == "staff" else 302)


# Research projects and exports hold no identifiable data but are not for patients: staff and
# researchers only. A researcher sees only the projects they are a member of (another project
# answers 404, as another patient's record does for a patient); the full matrix, with members,
# non-members and download links, is in tests/research/test_export_access.py.
RESEARCH_ENDPOINTS = {
    ("get", "projects/"): {"staff": 200, "patient": 403, "researcher": 200, "anonymous": 401},
    ("get", "projects/{project}/"): {"staff": 200, "patient": 403, "researcher": 200, "anonymous": 401},
    ("post", "projects/"): {"staff": 400, "patient": 403, "researcher": 403, "anonymous": 401},
    ("patch", "projects/{project}/"): {"staff": 200, "patient": 403, "researcher": 403, "anonymous": 401},
    ("get", "exports/"): {"staff": 200, "patient": 403, "researcher": 200, "anonymous": 401},
    ("get", "exports/{export}/"): {"staff": 200, "patient": 403, "researcher": 200, "anonymous": 401},
    ("post", "exports/"): {"staff": 400, "patient": 403, "researcher": 400, "anonymous": 401},
    ("get", "exports/{export}/download/?token=x"): {"staff": 403, "patient": 403, "researcher": 403, "anonymous": 401},
}


@pytest.fixture
def research_records(researcher_user, staff_user):
    import datetime as dt

    from research.services import export_request, project_create

    project = project_create(
        data={
            "title": "Matrix project",
            "approving_body": "Ethics committee",
            "approval_reference": "EC-1",
            "data_use_agreement_ends": dt.date.today() + dt.timedelta(days=30),
        },
        members=[researcher_user],
        created_by=staff_user,
    )
    return project, export_request(project=project, requested_by=researcher_user, cohort={})


@pytest.mark.parametrize(("method", "path"), RESEARCH_ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_research_endpoints(persona_clients, research_records, method, path, role):
    project, export = research_records
    url = "/api/v1/research/" + path.format(project=project.pk, export=export.pk)
    client = persona_clients[role]

    # An empty body: a create that gets past the role check is refused by validation (400), not made.
    response = client.get(url) if method == "get" else getattr(client, method)(url, {}, format="json")

    assert response.status_code == RESEARCH_ENDPOINTS[(method, path)][role]
    if response.status_code >= 400:
        assert response.json()["error"]["status"] == response.status_code
    if response.status_code == 200 and "results" in response.json():
        assert len(response.json()["results"]) == 1


# Consent, erasure and restoring a deleted assessment (docs/consent.md). Staff only, except that a
# patient reads the consent documents and their own grants (another patient's answers 404). Bodies are
# empty: a staff write that gets past the role check is refused by validation, so nothing changes.
# The consent endpoints' fuller matrix, with the data each persona sees, is in
# tests/patients/test_consent_api.py.
CONSENT_AND_ERASURE_ENDPOINTS = {
    ("get", "consent-documents/"): {"staff": 200, "patient": 200, "researcher": 403, "anonymous": 401},
    ("get", "consent-documents/{document}/"): {"staff": 200, "patient": 200, "researcher": 403, "anonymous": 401},
    ("post", "consent-documents/"): {"staff": 400, "patient": 403, "researcher": 403, "anonymous": 401},
    ("patch", "consent-documents/{document}/"): {"staff": 405, "patient": 403, "researcher": 403, "anonymous": 401},
    ("get", "consent-documents/{document}/reconsent-pending/"): {
        "staff": 200,
        "patient": 403,
        "researcher": 403,
        "anonymous": 401,
    },
    ("get", "consents/"): {"staff": 200, "patient": 200, "researcher": 403, "anonymous": 401},
    ("get", "consents/{own_grant}/"): {"staff": 200, "patient": 200, "researcher": 403, "anonymous": 401},
    ("get", "consents/{other_grant}/"): {"staff": 200, "patient": 404, "researcher": 403, "anonymous": 401},
    ("post", "consents/"): {"staff": 400, "patient": 403, "researcher": 403, "anonymous": 401},
    ("post", "consents/withdraw/"): {"staff": 400, "patient": 403, "researcher": 403, "anonymous": 401},
    # The first step only answers with a statement and a token (202); nothing is erased without the second.
    ("post", "patients/{own_patient}/erasure/"): {"staff": 202, "patient": 403, "researcher": 403, "anonymous": 401},
    ("post", "patients/{other_patient}/erasure/"): {"staff": 202, "patient": 403, "researcher": 403, "anonymous": 401},
    # Nothing deleted under this id: staff are told so (404); no one else gets that far.
    ("post", "assessments/{own_patient}/restore/"): {"staff": 404, "patient": 403, "researcher": 403, "anonymous": 401},
}


@pytest.fixture
def consent_records(own_patient, other_patient):
    import datetime as dt

    from patients.models import ConsentDocument
    from patients.services import consent_grant

    document = ConsentDocument.objects.create(
        code="registry-consent", version="1", title="Consent", effective_from=dt.date(2020, 1, 1), purposes=["research"]
    )
    grant = {
        patient: consent_grant(
            patient=patient, document=document, purposes=["research"], granted_on=dt.date(2021, 1, 1)
        )
        for patient in (own_patient, other_patient)
    }
    return {
        "document": document.pk,
        "own_grant": grant[own_patient][0].pk,
        "other_grant": grant[other_patient][0].pk,
        "own_patient": own_patient.uuid,
        "other_patient": other_patient.uuid,
    }


@pytest.mark.parametrize(("method", "path"), CONSENT_AND_ERASURE_ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_consent_and_erasure_endpoints(persona_clients, consent_records, own_patient, method, path, role):
    client = persona_clients[role]
    url = "/api/v1/" + path.format(**consent_records)

    response = client.get(url) if method == "get" else getattr(client, method)(url, {}, format="json")

    assert response.status_code == CONSENT_AND_ERASURE_ENDPOINTS[(method, path)][role]
    if response.status_code >= 400:
        assert response.json()["error"]["status"] == response.status_code
    if response.status_code == 200 and "results" in response.json() and path == "consents/":
        assert len(response.json()["results"]) == (1 if role == "patient" else 2)
    own_patient.refresh_from_db()
    assert own_patient.erased_at is None
