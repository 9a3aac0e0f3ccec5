"""Sites as data-access groups through the API (docs/sites.md).

`site_staff_client` is a staff member limited to London; `site_patient` is a London patient and
`elsewhere_patient` a Tel Aviv one. A site-limited member reads, lists and changes London's patients
only: another site's patient is answered exactly as one that does not exist. Which status each
endpoint answers to each persona is in tests/registry/test_access_matrix.py; here, what is seen and
what is stored.
"""

import datetime as dt
import io
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from assessments import services as assessment_services
from assessments.models import Assessment, DynamometryMeasurement, Milestone
from patients.api.audit import SiteScopedDeletedRecordsView, patient_key_path
from patients.api.base import SiteScopedViewSet
from patients.api.views import ConsentDocumentViewSet, VariantViewSet
from patients.models import ConsentDocument, ConsentGrant, Diagnosis, Patient, StaffSiteScope, Treatment
from patients.services import consent_grant
from portal import invitations
from portal.models import Invitation
from registry import tokens
from registry.api.permissions import FoundationWideStaffOnly
from registry.api.token import OwnTokensView, TokenView, UserTokensView, UserTokenView
from registry.history import history_models
from research.api.views import ExportViewSet, ProjectViewSet
from tests import factories
from workspace.api import ImportView

pytestmark = pytest.mark.django_db


# --- Every route is scoped, or says why it need not be ---------------------------------------------

# API views that serve no patient's identifiable record, and why. Anything else under /api/v1/ must be
# limited to the member's sites (a `SiteScopedViewSet`, or the deleted records' view).
NOT_PATIENT_RECORDS = {
    ConsentDocumentViewSet: "the registry's consent texts; its reconsent-pending list is limited (tested below)",
    VariantViewSet: "the shipped GNE variant catalogue and checker",
    ProjectViewSet: "research projects: de-identified exports only (docs/research-exports.md)",
    ExportViewSet: "research exports: de-identified (docs/research-exports.md)",
    TokenView: "logging in and out",
    OwnTokensView: "the caller's own tokens",
    ImportView: "creates patients only; each row's site is checked against the member's sites (docs/import.md)",
}
FOUNDATION_WIDE_ONLY = {UserTokensView, UserTokenView}  # any user's tokens: refused to site-limited staff
SITE_SCOPED = (SiteScopedViewSet, SiteScopedDeletedRecordsView)


def _api_views(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.lstrip("^").startswith("api/v1/"):
            yield route, getattr(pattern.callback, "cls", None)


def test_every_api_route_is_site_scoped_or_says_why():
    views = dict(_api_views())
    assert len(views) > 20  # the walk found the routes

    unscoped = {
        route: view
        for route, view in views.items()
        if not (isinstance(view, type) and issubclass(view, SITE_SCOPED))
        and view not in NOT_PATIENT_RECORDS
        and view not in FOUNDATION_WIDE_ONLY
    }

    assert unscoped == {}, "Limit these to the member's sites (patients/api/base.py), or say why not."
    for view in FOUNDATION_WIDE_ONLY:
        assert FoundationWideStaffOnly in view.permission_classes


def test_site_scoped_views_really_narrow_to_the_sites(site_staff_user):
    """The hook is filled in, not merely inherited: a subclass overriding it back would fail here."""
    for _, view in _api_views():
        if isinstance(view, type) and issubclass(view, SiteScopedViewSet):
            assert view.limit_for_staff is SiteScopedViewSet.limit_for_staff, view


# --- Reading: lists and details --------------------------------------------------------------------


def _records_of(patient, document):
    factories.DiagnosisFactory(patient=patient)
    factories.GenotypeFactory(patient=patient)
    Treatment.objects.create(patient=patient, kind="sialic_acid", start_date="2020-01-01", start_date_precision="year")
    factories.AssessmentFactory(patient=patient)
    Milestone.objects.create(
        patient=patient, kind="afo", source="reported", date=dt.date(2015, 1, 1), date_precision="year"
    )
    consent_grant(patient=patient, document=document, purposes=["research"], granted_on=dt.date(2021, 1, 1))
    invitations.invitation_create(patient=patient)


@pytest.fixture
def document():
    return ConsentDocument.objects.create(
        code="registry-consent", version="1", title="Consent", effective_from=dt.date(2020, 1, 1), purposes=["research"]
    )


@pytest.fixture
def both_sites(site_patient, elsewhere_patient, document):
    for patient in (site_patient, elsewhere_patient):
        _records_of(patient, document)


def _site_scoped_lists():
    from config.urls import router

    return [prefix for prefix, viewset, _ in router.registry if issubclass(viewset, SiteScopedViewSet)]


def _patient_of(prefix, row) -> str:
    return row["id"] if prefix == "patients" else row["patient"]


@pytest.mark.parametrize("prefix", _site_scoped_lists())
def test_every_list_shows_a_site_limited_member_their_sites_patients_only(
    staff_client, site_staff_client, both_sites, site_patient, elsewhere_patient, prefix
):
    limited = site_staff_client.get(f"/api/v1/{prefix}/")
    everyone = staff_client.get(f"/api/v1/{prefix}/")

    assert {_patient_of(prefix, row) for row in limited.json()["results"]} == {str(site_patient.uuid)}
    assert {_patient_of(prefix, row) for row in everyone.json()["results"]} == {
        str(site_patient.uuid),
        str(elsewhere_patient.uuid),
    }


def test_another_sites_patient_answers_as_a_missing_one(site_staff_client, elsewhere_patient):
    hidden = site_staff_client.get(f"/api/v1/patients/{elsewhere_patient.uuid}/")
    missing = site_staff_client.get(f"/api/v1/patients/{uuid.uuid4()}/")
    filtered = site_staff_client.get(f"/api/v1/assessments/?patient={elsewhere_patient.uuid}")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert "ETag" not in hidden
    assert filtered.json()["results"] == []


def test_a_scope_with_no_site_left_sees_no_patient(site_staff_user, site_staff_client, site_patient):
    site_staff_user.site_scope.sites.clear()

    assert site_staff_client.get("/api/v1/patients/").json()["results"] == []
    assert site_staff_client.get(f"/api/v1/patients/{site_patient.uuid}/").status_code == 404


def test_reconsent_pending_lists_the_members_sites_patients_only(
    staff_client, site_staff_client, site_patient, elsewhere_patient, document
):
    for patient in (site_patient, elsewhere_patient):
        consent_grant(patient=patient, document=document, purposes=["research"], granted_on=dt.date(2021, 1, 1))
    new = ConsentDocument.objects.create(
        code="registry-consent",
        version="2",
        title="Consent",
        effective_from=dt.date(2024, 1, 1),
        purposes=["research"],
        requires_reconsent=True,
    )
    url = f"/api/v1/consent-documents/{new.pk}/reconsent-pending/"

    limited = site_staff_client.get(url).json()["results"]
    everyone = staff_client.get(url).json()["results"]

    assert [row["patient"] for row in limited] == [str(site_patient.uuid)]
    assert len(everyone) == 2


def test_history_of_another_sites_patient_is_not_found(staff_client, site_staff_client, elsewhere_patient):
    url = f"/api/v1/patients/{elsewhere_patient.uuid}/history/"

    assert site_staff_client.get(url).status_code == 404
    assert staff_client.get(url).status_code == 200


# Token, the member's scope and its sites (prefetched), the page of rows: the same at any page size.
@pytest.mark.parametrize("page_size", [2, 20])
def test_a_site_limited_list_costs_the_same_at_any_page_size(
    site_staff_client, site_patient, django_assert_num_queries, page_size
):
    for index in range(25):
        factories.AssessmentFactory(patient=site_patient, assessment_date=dt.date(2000, 1, 1) + dt.timedelta(index))

    with django_assert_num_queries(5) as captured:  # + the page's measurements (one UNION ALL query)
        response = site_staff_client.get(f"/api/v1/assessments/?page_size={page_size}")

    sqls = [query["sql"] for query in captured.captured_queries]
    assert 'FROM "patients_staffsitescope"' in sqls[1]
    assert 'FROM "patients_site" INNER JOIN "patients_staffsitescope_sites"' in sqls[2]
    assert '"patients_patient"."site_id" IN' in sqls[3]
    assert len(response.json()["results"]) == page_size


# --- Writing ------------------------------------------------------------------------------------

CREATES = {
    "diagnoses": {},
    "genotypes": {"allele1": "M712T", "allele2": "M712T"},
    "treatments": {"kind": "sialic_acid", "start_date": "2020"},
    "assessments": {"assessment_date": "2021-01-01", "source": "clinician", "falls_count": 0},
    "milestones": {"kind": "cane", "date": "2016"},
    "consents": {"document": None, "purposes": ["research"], "granted_on": "2021-01-01"},
    "consents/withdraw": {"purpose": "research", "withdrawn_on": "2022-01-01"},
    "invitations": {},
}


def _body(resource, patient, document) -> dict:
    body = {**CREATES[resource], "patient": str(patient.uuid)}
    if "document" in body:
        body["document"] = document.pk
    return body


def _stored():
    return [
        Diagnosis.objects.count(),
        Treatment.objects.count(),
        Assessment.objects.count(),
        Milestone.objects.count(),
        ConsentGrant.objects.filter(withdrawn_on=None).count(),
        Invitation.objects.count(),
    ]


@pytest.mark.parametrize("resource", CREATES)
def test_writes_for_another_sites_patient_are_refused_as_for_an_unknown_id(
    site_staff_client, elsewhere_patient, document, resource
):
    consent_grant(patient=elsewhere_patient, document=document, purposes=["research"], granted_on=dt.date(2021, 1, 1))
    before = _stored()

    response = site_staff_client.post(
        f"/api/v1/{resource}/", _body(resource, elsewhere_patient, document), format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["patient"] == [f"No record with id {elsewhere_patient.uuid}."]
    assert _stored() == before


@pytest.mark.parametrize("resource", ["treatments", "assessments", "milestones", "consents"])
def test_writes_for_the_members_own_sites_patients_are_made(site_staff_client, site_patient, document, resource):
    response = site_staff_client.post(f"/api/v1/{resource}/", _body(resource, site_patient, document), format="json")

    assert response.status_code == 201, response.json()
    created = response.json()
    assert {row["patient"] for row in (created if isinstance(created, list) else [created])} == {str(site_patient.uuid)}


NEW_PATIENT = {"sex": "female", "country": "GB", "identity": {"family_name": "Marsh", "given_name": "Ada"}}


def test_a_site_limited_member_registers_patients_at_their_sites_only(site_staff_client, elsewhere_patient):
    elsewhere = site_staff_client.post("/api/v1/patients/", {**NEW_PATIENT, "site": "tel-aviv"}, format="json")
    nowhere = site_staff_client.post("/api/v1/patients/", NEW_PATIENT, format="json")
    no_site = site_staff_client.post("/api/v1/patients/", {**NEW_PATIENT, "site": None}, format="json")
    london = site_staff_client.post("/api/v1/patients/", {**NEW_PATIENT, "site": "london"}, format="json")

    assert elsewhere.status_code == 400
    assert elsewhere.json()["error"]["fields"]["site"] == ["You can only place patients at the sites you work for."]
    # Without a site the new patient would be hidden from the member at once.
    assert nowhere.status_code == no_site.status_code == 400
    assert set(nowhere.json()["error"]["fields"]) == {"site"}
    assert london.status_code == 201
    assert Patient.objects.get(uuid=london.json()["id"]).site.code == "london"
    assert Patient.objects.filter(identity__family_name="Marsh").count() == 1


def test_foundation_wide_staff_may_still_register_a_patient_without_a_site(staff_client):
    response = staff_client.post("/api/v1/patients/", NEW_PATIENT, format="json")

    assert response.status_code == 201
    assert Patient.objects.get(uuid=response.json()["id"]).site is None


def test_a_site_limited_member_moves_patients_between_their_sites_only(
    site_staff_user, site_staff_client, site_patient
):
    site_staff_user.site_scope.sites.add(factories.SiteFactory(code="newcastle", name="Newcastle"))
    url = f"/api/v1/patients/{site_patient.uuid}/"

    away = site_staff_client.patch(url, {"site": "tel-aviv"}, format="json", HTTP_IF_MATCH='"1"')
    factories.SiteFactory(code="tel-aviv", name="Tel Aviv clinic", country="IL")
    away_known = site_staff_client.patch(url, {"site": "tel-aviv"}, format="json", HTTP_IF_MATCH='"1"')
    cleared = site_staff_client.patch(url, {"site": None}, format="json", HTTP_IF_MATCH='"1"')
    moved = site_staff_client.patch(url, {"site": "newcastle"}, format="json", HTTP_IF_MATCH='"1"')

    assert away.status_code == away_known.status_code == cleared.status_code == 400
    assert set(away_known.json()["error"]["fields"]) == {"site"}
    assert moved.status_code == 200
    site_patient.refresh_from_db()
    assert (site_patient.site.code, site_patient.version) == ("newcastle", 2)


def test_another_sites_patient_cannot_be_changed_or_erased(site_staff_client, elsewhere_patient):
    url = f"/api/v1/patients/{elsewhere_patient.uuid}/"

    patched = site_staff_client.patch(url, {"country": "GB"}, format="json", HTTP_IF_MATCH='"1"')
    status = site_staff_client.post(url + "status/", {"status": "enrolled", "effective_date": "2024-01-01"})
    erasure = site_staff_client.post(url + "erasure/", {}, format="json")

    assert (patched.status_code, status.status_code, erasure.status_code) == (404, 404, 404)
    elsewhere_patient.refresh_from_db()
    assert (elsewhere_patient.country, elsewhere_patient.version, elsewhere_patient.status) == ("IL", 1, "candidate")


def _deleted_assessment(patient):
    assessment = factories.AssessmentFactory(patient=patient)
    DynamometryMeasurement.objects.create(assessment=assessment, muscle_group="knee_flexion", side="left", kg=5)
    assessment_services.assessment_delete(assessment=assessment, expected_version=assessment.version)
    return assessment


def test_restoring_another_sites_assessment_is_not_found(site_staff_client, site_patient, elsewhere_patient):
    theirs, ours = _deleted_assessment(elsewhere_patient), _deleted_assessment(site_patient)
    present = factories.AssessmentFactory(patient=elsewhere_patient)

    hidden = site_staff_client.post(f"/api/v1/assessments/{theirs.uuid}/restore/")
    hidden_present = site_staff_client.post(f"/api/v1/assessments/{present.uuid}/restore/")
    never = site_staff_client.post(f"/api/v1/assessments/{uuid.uuid4()}/restore/")
    restored = site_staff_client.post(f"/api/v1/assessments/{ours.uuid}/restore/")

    # Deleted or not, another site's assessment is answered as one that was never deleted.
    assert hidden.status_code == hidden_present.status_code == never.status_code == 404
    assert hidden.json() == hidden_present.json() == never.json()
    assert restored.status_code == 201
    assert not Assessment.objects.filter(uuid=theirs.uuid).exists()


# --- Deleted records from the audit trail ------------------------------------------------------------


def test_deleted_records_of_another_site_are_not_listed(
    staff_client, site_staff_client, site_patient, elsewhere_patient
):
    ours, theirs = _deleted_assessment(site_patient), _deleted_assessment(elsewhere_patient)

    def listed(client, record_type):
        response = client.get(f"/api/v1/audit/deleted/?type={record_type}")
        return [(row["record_id"], row["patient"]) for row in response.json()["results"]]

    assert listed(site_staff_client, "assessment") == [(str(ours.uuid), str(site_patient.uuid))]
    assert len(listed(staff_client, "assessment")) == 2
    # Parts of a record, through the deleted assessment they belonged to.
    assert len(listed(site_staff_client, "dynamometrymeasurement")) == 1
    assert len(listed(staff_client, "dynamometrymeasurement")) == 2
    assert theirs.uuid not in [row[0] for row in listed(site_staff_client, "assessment")]


def test_deleted_patients_are_listed_to_the_members_of_the_site_they_were_at(
    staff_client, site_staff_client, site_patient, elsewhere_patient
):
    ours, theirs = site_patient.uuid, elsewhere_patient.uuid
    site_patient.delete()
    elsewhere_patient.delete()

    limited = site_staff_client.get("/api/v1/audit/deleted/?type=patient").json()["results"]
    identities = site_staff_client.get("/api/v1/audit/deleted/?type=patientidentity").json()["results"]

    assert [row["record_id"] for row in limited] == [str(ours)]
    assert len(identities) == 1
    assert identities[0]["patient"] != str(theirs)
    assert len(staff_client.get("/api/v1/audit/deleted/?type=patient").json()["results"]) == 2


def test_every_audited_record_reaches_a_patient_except_consent_documents():
    """A new kind of record that reached its patient some other way would be listed unfiltered."""
    unreached = {
        history.instance_type._meta.model_name
        for history in history_models()
        if history.instance_type is not Patient and patient_key_path(history.instance_type) is None
    }

    assert unreached == {"consentdocument"}


# --- Foundation-wide only: other users' tokens, the admin ----------------------------------------------


def test_a_site_limited_member_cannot_manage_other_users_tokens(site_staff_client, staff_client):
    nurse = factories.UserFactory(username="nurse.nora")
    tokens.token_create(user=nurse)
    url = "/api/v1/auth/users/nurse.nora/tokens/"

    listed = site_staff_client.get(url)
    revoked = site_staff_client.delete(url)

    assert (listed.status_code, revoked.status_code) == (403, 403)
    assert listed.json()["error"]["message"] == "Only staff with access to every site can do this."
    assert len(tokens.tokens_active(user=nurse)) == 1
    assert staff_client.get(url).status_code == 200
    assert site_staff_client.get("/api/v1/auth/tokens/").status_code == 200  # their own, still


def test_the_admin_is_refused_to_a_site_limited_member(site_staff_user, client):
    site_staff_user.is_staff = True
    site_staff_user.save()
    client.force_login(site_staff_user)

    assert client.get("/admin/patients/patient/").status_code == 403
    assert client.get("/admin/patients/staffsitescope/").status_code == 403
    assert client.get("/admin/registry/auditevent/").status_code == 403


def test_foundation_wide_staff_set_a_scope_in_the_admin(staff_user, client):
    staff_user.is_staff = True
    staff_user.save()
    member = factories.UserFactory(username="staff.omer")
    member.groups.add(staff_user.groups.get())
    london = factories.SiteFactory(code="london")
    client.force_login(staff_user)

    page = client.get("/admin/patients/staffsitescope/add/")
    response = client.post("/admin/patients/staffsitescope/add/", {"user": member.pk, "sites": [london.pk]})

    assert page.status_code == 200
    assert [user.username for user in page.context["adminform"].form.fields["user"].queryset] == [
        "staff.omer",
        "staff.sam",
    ]
    assert response.status_code == 302
    assert list(StaffSiteScope.objects.get(user=member).sites.all()) == [london]


# --- The demo --------------------------------------------------------------------------------------


def test_the_demo_has_a_site_limited_staff_member(settings):
    settings.DEBUG = True
    call_command("seed_demo", patients=3, demo_users=True, stdout=io.StringIO())

    member = get_user_model().objects.get(username="demo.site-staff")
    client = APIClient()
    client.force_authenticate(member)
    listed = client.get("/api/v1/patients/?page_size=500").json()["results"]

    assert [site.code for site in member.site_scope.sites.all()] == ["tel-aviv"]
    assert member.check_password("demo-registry-pass")
    assert not member.is_staff  # the admin is for foundation-wide staff
    assert {Patient.objects.get(uuid=row["id"]).site.code for row in listed} <= {"tel-aviv"}
