"""Every API endpoint against every persona (docs/architecture.md, "Personas and the access matrix";
docs/sites.md).

Expected: staff everything; staff limited to the London site (`site_staff`) everything for London's
patients, and 404 for another site's, exactly as for a record that does not exist (403 where only
foundation-wide staff may act: other users' tokens, the admin); a patient reads only their own
record (another's answers 404) and writes none of these records; a researcher has no access to
identifiable records; anonymous is asked to authenticate.

The scene: the patient persona's own record is at London, so for `site_staff` "own" is a patient of
their site and "other" a patient of Tel Aviv. `test_every_api_route_is_in_the_matrix` fails when an
API route is added without a row here. Assessments and milestones have a fuller matrix for patients'
own reports in tests/assessments/test_assessment_access.py (docs/patient-reports.md).
"""

import datetime as dt

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from assessments.models import Assessment, Milestone
from patients.models import ConsentDocument, ConsentGrant, Diagnosis, Genotype, Patient, Treatment
from patients.services import consent_grant
from portal import invitations
from registry.tokens import TOKEN_KEY_LENGTH
from tests import factories
from tests.factories import AssessmentFactory, DiagnosisFactory, GenotypeFactory, PatientFactory

pytestmark = pytest.mark.django_db

ROLES = ["staff", "site_staff", "patient", "researcher", "anonymous"]


@pytest.fixture
def clients(persona_clients, site_staff_client):
    return {**persona_clients, "site_staff": site_staff_client}


@pytest.fixture
def own_patient(own_patient, site_staff_user):
    """The patient persona's record, at the London site of `site_staff`."""
    own_patient.site = site_staff_user.site_scope.sites.get()
    own_patient.save()
    return own_patient


@pytest.fixture
def elsewhere(db):
    """Makes patients of the Tel Aviv site, hidden from `site_staff`."""
    site = factories.SiteFactory(code="tel-aviv", name="Tel Aviv clinic", country="IL")
    return lambda: PatientFactory(site=site)


def _treatment(patient):
    return Treatment.objects.create(
        patient=patient, kind="sialic_acid", start_date="2020-01-01", start_date_precision="year"
    )


def _milestone(patient):
    return Milestone.objects.create(
        patient=patient, kind="afo", source="reported", date=dt.date(2015, 1, 1), date_precision="year"
    )


RECORDS = {
    "patients": lambda patient: patient,
    "diagnoses": lambda patient: DiagnosisFactory(patient=patient),
    "genotypes": lambda patient: GenotypeFactory(patient=patient),
    "treatments": _treatment,
    "assessments": lambda patient: AssessmentFactory(patient=patient),
    "milestones": _milestone,
}
MODELS = {
    "diagnoses": Diagnosis,
    "genotypes": Genotype,
    "treatments": Treatment,
    "assessments": Assessment,
    "milestones": Milestone,
}


def _uuids_of(resource, patient) -> set[str]:
    if resource == "patients":
        return {str(patient.uuid)}
    return {str(uuid) for uuid in MODELS[resource].objects.filter(patient=patient).values_list("uuid", flat=True)}


def _owner_of(resource, row) -> str:
    """The uuid of the patient a serialized row belongs to."""
    return row["id"] if resource == "patients" else row["patient"]


def _expected_read(role, owner):
    if role == "staff":
        return 200
    if role in ("site_staff", "patient"):
        return 200 if owner == "own" else 404
    return 403 if role == "researcher" else 401


@pytest.mark.parametrize("resource", RECORDS)
@pytest.mark.parametrize("owner", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_detail(clients, own_patient, elsewhere, resource, owner, role):
    # Records of other patients around the requested one, so that answering with the wrong one shows.
    RECORDS[resource](elsewhere())
    patient = own_patient if owner == "own" else elsewhere()
    record = RECORDS[resource](patient)
    if owner == "other":
        RECORDS[resource](own_patient)

    response = clients[role].get(f"/api/v1/{resource}/{record.uuid}/")

    assert response.status_code == _expected_read(role, owner)
    if response.status_code == 200:
        body = response.json()
        # The requested record, of the requested patient: not merely some record the user may see.
        assert body["id"] == str(record.uuid)
        assert _owner_of(resource, body) == str(patient.uuid)
        if resource == "patients":
            assert body["identity"]["family_name"] == patient.identity.family_name
    else:
        # Refused the same way as a record that does not exist: nothing tells that it is there.
        missing = clients[role].get(f"/api/v1/{resource}/00000000-0000-4000-8000-000000000000/")
        if response.status_code == 404:
            assert response.json() == missing.json()


@pytest.mark.parametrize("resource", RECORDS)
@pytest.mark.parametrize("role", ROLES)
def test_list_shows_only_what_the_role_may_see(clients, own_patient, elsewhere, resource, role):
    other_patient = elsewhere()
    for patient in (own_patient, other_patient):
        RECORDS[resource](patient)
        if resource in ("treatments", "assessments"):  # a patient may have several: a list shows all of theirs
            RECORDS[resource](patient)

    response = clients[role].get(f"/api/v1/{resource}/")

    expected = {"staff": 200, "site_staff": 200, "patient": 200, "researcher": 403, "anonymous": 401}[role]
    assert response.status_code == expected
    if expected == 200:
        rows = response.json()["results"]
        ids = [row["id"] for row in rows]
        own, other = _uuids_of(resource, own_patient), _uuids_of(resource, other_patient)
        assert len(ids) == len(set(ids))
        if role in ("patient", "site_staff"):
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


# (PATCH with no change, POST with no body): staff change any record and are told what a create lacks;
# site_staff the same for their site's patients, 404 for another site's. A patient sends their own
# assessments (an empty one is refused, 400) but may not change one staff entered (403).
WRITES = {
    "staff": {"own": (200, 400), "other": (200, 400)},
    "site_staff": {"own": (200, 400), "other": (404, 400)},
    "patient": {"own": (403, 403), "other": (403, 403)},
    "researcher": {"own": (403, 403), "other": (403, 403)},
    "anonymous": {"own": (401, 401), "other": (401, 401)},
}


@pytest.mark.parametrize("resource", RECORDS)
@pytest.mark.parametrize("owner", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_writes(clients, own_patient, elsewhere, resource, owner, role):
    record = RECORDS[resource](own_patient if owner == "own" else elsewhere())
    url = f"/api/v1/{resource}/{record.uuid}/"

    patched = clients[role].patch(url, {}, format="json", HTTP_IF_MATCH=f'"{record.version}"')
    created = clients[role].post(f"/api/v1/{resource}/", {}, format="json")

    expected = WRITES[role][owner]
    if resource == "assessments" and role == "patient":
        expected = (403 if owner == "own" else 404, 400)
    assert (patched.status_code, created.status_code) == expected
    record.refresh_from_db()
    assert record.version == (2 if patched.status_code == 200 else 1)


@pytest.mark.parametrize("role", ROLES)
def test_variant_catalogue_and_checker_need_only_a_login(clients, role):
    catalogue = clients[role].get("/api/v1/variants/")
    parsed = clients[role].post("/api/v1/variants/parse/", {"text": "M712T"}, format="json")

    expected = 401 if role == "anonymous" else 200
    assert (catalogue.status_code, parsed.status_code) == (expected, expected)


@pytest.mark.parametrize("role", ROLES)
def test_admin_is_for_foundation_wide_staff_only(
    staff_user, site_staff_user, patient_user, researcher_user, client, role
):
    users = {
        "staff": staff_user,
        "site_staff": site_staff_user,
        "patient": patient_user,
        "researcher": researcher_user,
        "anonymous": None,
    }
    if role in ("staff", "site_staff"):
        users[role].is_staff = True  # may log in to the admin: what they then see depends on their sites
        users[role].save()
    if users[role]:
        client.force_login(users[role])

    response = client.get("/admin/patients/patientidentity/")

    # The admin has no site filter: a site-limited member is refused its pages (docs/sites.md).
    assert response.status_code == {"staff": 200, "site_staff": 403}.get(role, 302)


# --- Every other endpoint ------------------------------------------------------------------------
#
# (method, path) -> expected status per persona. {own...} are records of the patient persona (a London
# patient), {other...} of a Tel Aviv patient; {london...} of a London patient without an account (one
# that can be invited). Bodies are empty, and changes name a version that is not the record's
# (If-Match "999"): a request that gets past the access checks is refused by validation (400) or as
# stale (412), so nothing changes, whoever sends it.
ALL = {"researcher": 403, "anonymous": 401}
PATIENT_RECORD_ENDPOINTS = {
    # Consent documents and grants (docs/consent.md).
    ("get", "consent-documents/"): {"staff": 200, "site_staff": 200, "patient": 200, **ALL},
    ("get", "consent-documents/{document}/"): {"staff": 200, "site_staff": 200, "patient": 200, **ALL},
    ("post", "consent-documents/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    ("put", "consent-documents/{document}/"): {"staff": 405, "site_staff": 405, "patient": 403, **ALL},
    ("patch", "consent-documents/{document}/"): {"staff": 405, "site_staff": 405, "patient": 403, **ALL},
    ("delete", "consent-documents/{document}/"): {"staff": 405, "site_staff": 405, "patient": 403, **ALL},
    # Lists only the member's sites' patients (tests/registry/test_site_access.py).
    ("get", "consent-documents/{document}/reconsent-pending/"): {
        "staff": 200,
        "site_staff": 200,
        "patient": 403,
        **ALL,
    },
    ("get", "consents/"): {"staff": 200, "site_staff": 200, "patient": 200, **ALL},
    ("get", "consents/{own_grant}/"): {"staff": 200, "site_staff": 200, "patient": 200, **ALL},
    ("get", "consents/{other_grant}/"): {"staff": 200, "site_staff": 404, "patient": 404, **ALL},
    ("post", "consents/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    ("post", "consents/withdraw/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    ("put", "consents/{own_grant}/"): {"staff": 405, "site_staff": 405, "patient": 403, **ALL},
    ("delete", "consents/{own_grant}/"): {"staff": 405, "site_staff": 405, "patient": 403, **ALL},
    # Patients' actions: status changes, history, erasure (the first step only answers with a
    # statement and a token, 202; nothing is erased without the second).
    ("post", "patients/{own}/status/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    ("post", "patients/{other}/status/"): {"staff": 400, "site_staff": 404, "patient": 403, **ALL},
    ("get", "patients/{own}/history/"): {"staff": 200, "site_staff": 200, "patient": 403, **ALL},
    ("get", "patients/{other}/history/"): {"staff": 200, "site_staff": 404, "patient": 403, **ALL},
    ("post", "patients/{own}/erasure/"): {"staff": 202, "site_staff": 202, "patient": 403, **ALL},
    ("post", "patients/{other}/erasure/"): {"staff": 202, "site_staff": 404, "patient": 403, **ALL},
    # Records' full updates (the body is read before the version: an empty one is refused, 400) and
    # deletes. A patient's own assessment entered by staff: 403, with the reason.
    ("put", "patients/{own}/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    ("put", "patients/{other}/"): {"staff": 400, "site_staff": 404, "patient": 403, **ALL},
    ("put", "diagnoses/{own_diagnosis}/"): {"staff": 412, "site_staff": 412, "patient": 403, **ALL},
    ("put", "diagnoses/{other_diagnosis}/"): {"staff": 412, "site_staff": 404, "patient": 403, **ALL},
    ("put", "genotypes/{own_genotype}/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    ("put", "genotypes/{other_genotype}/"): {"staff": 400, "site_staff": 404, "patient": 403, **ALL},
    ("put", "treatments/{own_treatment}/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    ("delete", "treatments/{own_treatment}/"): {"staff": 412, "site_staff": 412, "patient": 403, **ALL},
    ("delete", "treatments/{other_treatment}/"): {"staff": 412, "site_staff": 404, "patient": 403, **ALL},
    ("put", "assessments/{own_assessment}/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    ("put", "assessments/{other_assessment}/"): {"staff": 400, "site_staff": 404, "patient": 404, **ALL},
    ("delete", "assessments/{own_assessment}/"): {"staff": 412, "site_staff": 412, "patient": 403, **ALL},
    ("delete", "assessments/{other_assessment}/"): {"staff": 412, "site_staff": 404, "patient": 403, **ALL},
    ("put", "milestones/{own_milestone}/"): {"staff": 412, "site_staff": 412, "patient": 403, **ALL},
    ("delete", "milestones/{own_milestone}/"): {"staff": 412, "site_staff": 412, "patient": 403, **ALL},
    ("delete", "milestones/{other_milestone}/"): {"staff": 412, "site_staff": 404, "patient": 403, **ALL},
    # Restoring a deleted assessment (docs/consent.md): one that exists is refused (400), except that
    # another site's is unknown to site_staff (404); nothing deleted under this id: 404.
    ("post", "assessments/{own_assessment}/restore/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    ("post", "assessments/{other_assessment}/restore/"): {"staff": 400, "site_staff": 404, "patient": 403, **ALL},
    ("post", "assessments/{own}/restore/"): {"staff": 404, "site_staff": 404, "patient": 403, **ALL},
    # Invitations to the portal (docs/accounts.md): staff only.
    ("get", "invitations/"): {"staff": 200, "site_staff": 200, "patient": 403, **ALL},
    ("get", "invitations/{london_invitation}/"): {"staff": 200, "site_staff": 200, "patient": 403, **ALL},
    ("get", "invitations/{other_invitation}/"): {"staff": 200, "site_staff": 404, "patient": 403, **ALL},
    ("post", "invitations/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    # Bulk import of a legacy spreadsheet (docs/import.md): no file, 400; each row's site is checked
    # against the member's sites by the import itself.
    ("post", "imports/"): {"staff": 400, "site_staff": 400, "patient": 403, **ALL},
    # Deleted records from the audit trail (docs/audit.md): of the member's sites' patients only.
    ("get", "audit/deleted/?type=assessment"): {"staff": 200, "site_staff": 200, "patient": 403, **ALL},
    # Tokens: one's own for everyone; other users' for foundation-wide staff only (a user of any site).
    ("get", "auth/tokens/"): {"staff": 200, "site_staff": 200, "patient": 200, "researcher": 200, "anonymous": 401},
    ("get", "auth/users/{username}/tokens/"): {"staff": 200, "site_staff": 403, "patient": 403, **ALL},
    # The user has no token: staff revoke none (204), nothing changes.
    ("delete", "auth/users/{username}/tokens/"): {"staff": 204, "site_staff": 403, "patient": 403, **ALL},
    ("delete", "auth/users/{username}/tokens/{token_key}/"): {
        "staff": 404,
        "site_staff": 403,
        "patient": 403,
        **ALL,
    },
}


@pytest.fixture
def scene(own_patient, site_patient, elsewhere):
    """Records of the patient persona (London), of another London patient, and of a Tel Aviv patient."""
    other = elsewhere()
    document = ConsentDocument.objects.create(
        code="registry-consent", version="1", title="Consent", effective_from=dt.date(2020, 1, 1), purposes=["research"]
    )
    found = {"document": document.pk, "own": own_patient.uuid, "other": other.uuid}
    for owner, patient in (("own", own_patient), ("other", other)):
        found[f"{owner}_grant"] = consent_grant(
            patient=patient, document=document, purposes=["research"], granted_on=dt.date(2021, 1, 1)
        )[0].pk
        found[f"{owner}_diagnosis"] = DiagnosisFactory(patient=patient).uuid
        found[f"{owner}_genotype"] = GenotypeFactory(patient=patient).uuid
        found[f"{owner}_treatment"] = _treatment(patient).uuid
        found[f"{owner}_assessment"] = AssessmentFactory(patient=patient).uuid
        found[f"{owner}_milestone"] = _milestone(patient).uuid
    found["london_invitation"] = invitations.invitation_create(patient=site_patient).pk
    found["other_invitation"] = invitations.invitation_create(patient=other).pk
    found["username"] = factories.UserFactory(username="nurse.nora").username
    found["token_key"] = "0" * TOKEN_KEY_LENGTH
    return found


def _snapshot():
    """What any write would change: every record's version, grants' withdrawals, the patients' erasure."""
    versions = {name: sorted(model.objects.values_list("uuid", "version")) for name, model in MODELS.items()} | {
        "grants": sorted(ConsentGrant.objects.values_list("pk", "withdrawn_on"))
    }
    return versions, sorted(Patient.objects.values_list("uuid", "version", "erased_at", "site"))


@pytest.mark.parametrize(("method", "path"), PATIENT_RECORD_ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_endpoint(clients, scene, method, path, role):
    client = clients[role]
    url = "/api/v1/" + path.format(**scene)
    before = _snapshot()

    if method == "get":
        response = client.get(url)
    else:
        body_format = "multipart" if path == "imports/" else "json"  # a file upload
        response = getattr(client, method)(url, {}, format=body_format, HTTP_IF_MATCH='"999"')

    assert response.status_code == PATIENT_RECORD_ENDPOINTS[(method, path)][role], response.content
    if response.status_code >= 400:
        assert response.json()["error"]["status"] == response.status_code
    assert _snapshot() == before


# Research projects and exports hold no identifiable data but are not for patients: staff (limited to
# some sites or not: the exports are de-identified) and researchers only. A researcher sees only the
# projects they are a member of (another project answers 404, as another patient's record does for a
# patient); the full matrix, with members, non-members and download links, is in
# tests/research/test_export_access.py.
RESEARCH = {"patient": 403, "anonymous": 401}
RESEARCH_ENDPOINTS = {
    ("get", "projects/"): {"staff": 200, "site_staff": 200, "researcher": 200, **RESEARCH},
    ("get", "projects/{project}/"): {"staff": 200, "site_staff": 200, "researcher": 200, **RESEARCH},
    ("post", "projects/"): {"staff": 400, "site_staff": 400, "researcher": 403, **RESEARCH},
    ("patch", "projects/{project}/"): {"staff": 200, "site_staff": 200, "researcher": 403, **RESEARCH},
    ("get", "exports/"): {"staff": 200, "site_staff": 200, "researcher": 200, **RESEARCH},
    ("get", "exports/{export}/"): {"staff": 200, "site_staff": 200, "researcher": 200, **RESEARCH},
    ("post", "exports/"): {"staff": 400, "site_staff": 400, "researcher": 400, **RESEARCH},
    ("get", "exports/{export}/download/?token=x"): {
        "staff": 403,
        "site_staff": 403,
        "researcher": 403,
        **RESEARCH,
    },
}


@pytest.fixture
def research_records(researcher_user, staff_user):
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
def test_research_endpoints(clients, research_records, method, path, role):
    project, export = research_records
    url = "/api/v1/research/" + path.format(project=project.pk, export=export.pk)
    client = clients[role]

    # An empty body: a create that gets past the role check is refused by validation (400), not made.
    response = client.get(url) if method == "get" else getattr(client, method)(url, {}, format="json")

    assert response.status_code == RESEARCH_ENDPOINTS[(method, path)][role]
    if response.status_code >= 400:
        assert response.json()["error"]["status"] == response.status_code
    if response.status_code == 200 and "results" in response.json():
        assert len(response.json()["results"]) == 1


# --- Nothing left out ----------------------------------------------------------------------------

# Routes tested for access elsewhere, and why.
ELSEWHERE = {
    "api-token": "logging in and out (no persona yet): tests/registry/test_tokens.py",
}
PLACEHOLDERS = {
    name: "00000000-0000-4000-8000-000000000000"
    for name in (
        "own",
        "other",
        *(f"{owner}_{kind}" for owner in ("own", "other") for kind in ("diagnosis", "genotype", "treatment")),
        *(f"{owner}_{kind}" for owner in ("own", "other") for kind in ("assessment", "milestone")),
    )
} | {
    "document": 1,
    "own_grant": 1,
    "other_grant": 2,
    "london_invitation": 1,
    "other_invitation": 2,
    "username": "nurse.nora",
    "token_key": "0" * TOKEN_KEY_LENGTH,
    "project": 1,
    "export": 1,
}


def _api_route_names(patterns=None, prefix="") -> set[str]:
    names = set()
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            names |= _api_route_names(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.lstrip("^").startswith("api/v1/") and pattern.name:
            names.add(pattern.name)
    return names


def _name_of(path: str) -> str:
    return resolve(path.split("?")[0]).url_name


def test_every_api_route_is_in_the_matrix():
    tested = {_name_of(f"/api/v1/{resource}/") for resource in RECORDS}
    tested |= {_name_of(f"/api/v1/{resource}/00000000-0000-4000-8000-000000000000/") for resource in RECORDS}
    tested |= {_name_of("/api/v1/variants/"), _name_of("/api/v1/variants/parse/")}
    tested |= {_name_of("/api/v1/" + path.format(**PLACEHOLDERS)) for _, path in PATIENT_RECORD_ENDPOINTS}
    tested |= {_name_of("/api/v1/research/" + path.format(**PLACEHOLDERS)) for _, path in RESEARCH_ENDPOINTS}

    assert _api_route_names() - tested - set(ELSEWHERE) == set()
