"""The audit trail (docs/audit.md): record history with who, when, which path and the values, written
through the API, a page and an import alike; events; who may read it; and that nobody can change it."""

import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from rest_framework.test import APIClient

from assessments.models import Assessment, DynamometryMeasurement
from patients import services as patient_services
from patients.models import Patient, PatientIdentity, Treatment
from registry import tokens
from registry.audit import audit_context, audit_purge_allowed, current_via
from registry.history import record_history
from registry.models import AuditEvent
from research import services as research_services
from research.models import ExportStatus, ResearchExport
from tests import factories
from tests.portal.test_report_pages import STEPS, TYPED, fill_in, new_step

pytestmark = pytest.mark.django_db

HistoricalAssessment = Assessment.history.model
HistoricalPatient = Patient.history.model
HistoricalIdentity = PatientIdentity.history.model
HistoricalTreatment = Treatment.history.model


def _changes(entry) -> dict:
    return {change.field: (change.old, change.new) for change in entry.changes}


# --- Record history through each path ---------------------------------------------------------------


def test_a_staff_patch_through_the_api_is_recorded_with_user_path_and_old_and_new_values(staff_client, staff_user):
    assessment = factories.AssessmentFactory(falls_count=2, injurious_falls_count=0, ambulation_class=2)
    url = f"/api/v1/assessments/{assessment.uuid}/"

    response = staff_client.patch(
        url, {"falls_count": 5, "injurious_falls_count": 1}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 200, response.content
    row = HistoricalAssessment.objects.filter(uuid=assessment.uuid).latest()
    assert (row.history_type, row.via, row.history_user_id, row.history_username) == (
        "~",
        "api",
        staff_user.pk,
        "staff.sam",
    )
    assert (row.falls_count, row.injurious_falls_count, row.version) == (5, 1, 2)
    entry = next(e for e in record_history(assessment.patient) if e.record_type == "assessment" and e.version == 2)
    assert (entry.action, entry.username, entry.via, entry.record_id) == (
        "changed",
        "staff.sam",
        "api",
        str(assessment.uuid),
    )
    assert _changes(entry) == {"falls_count": (2, 5), "injurious_falls_count": (0, 1)}


def test_a_patient_report_sent_from_the_portal_page_is_recorded_as_the_patient_through_a_page(
    patient_user, own_patient
):
    page = Client()
    page.force_login(patient_user)
    fill_in(page, new_step)

    sent = page.post(new_step(STEPS[-1]), {"action": "send"})

    assert sent.status_code == 302
    report = Assessment.objects.get(patient=own_patient)
    row = HistoricalAssessment.objects.get(uuid=report.uuid)
    assert (row.history_type, row.via, row.history_user_id, row.history_username) == (
        "+",
        "page",
        patient_user.pk,
        "patient.pat",
    )
    created = next(e for e in record_history(own_patient) if e.record_id == str(report.uuid))
    assert created.action == "created"
    values = _changes(created)
    assert values["falls_count"] == (None, int(TYPED["when-and-falls"]["falls_count"]))
    assert values["assessment_date"] == (None, dt.date(2024, 3, 1))
    assert values["source"] == (None, "patient")
    assert values["ibmfrs_total"] == (None, 30)  # computed fields are part of what was recorded


def test_a_service_called_inside_an_import_context_is_recorded_as_an_import_by_its_user(staff_user):
    with audit_context(via="import", user=staff_user):
        patient = patient_services.patient_create(
            data={"sex": "female", "country": "IL"}, identity={"family_name": "Levi"}, recorded_by=staff_user
        )
        patient_services.patient_update(
            patient=patient, expected_version=1, data={"sex": "male"}, identity={"family_name": "Levy"}
        )
    assert current_via() == "shell"  # the context ends with the block

    rows = list(HistoricalPatient.objects.filter(id=patient.pk).order_by("history_id"))
    assert [(row.history_type, row.via, row.history_user_id) for row in rows] == [
        ("+", "import", staff_user.pk),
        ("~", "import", staff_user.pk),
    ]
    history = record_history(patient)
    patient_change = next(e for e in history if e.record_type == "patient" and e.action == "changed")
    assert _changes(patient_change) == {"sex": ("female", "male")}
    identity_change = next(e for e in history if e.record_type == "patientidentity" and e.action == "changed")
    assert (identity_change.record_id, identity_change.via) == (str(patient.uuid), "import")
    assert _changes(identity_change) == {"family_name": ("Levi", "Levy")}
    enrollment = next(e for e in history if e.record_type == "enrollmentevent")
    assert _changes(enrollment)["recorded_by"] == (None, "staff.sam")  # a user shown by username, not by id


def test_changes_outside_any_request_or_context_are_recorded_as_shell_without_a_user():
    treatment = Treatment.objects.create(
        patient=factories.PatientFactory(), kind="mannac", start_date="2020-01-01", start_date_precision="year"
    )

    row = HistoricalTreatment.objects.get(uuid=treatment.uuid)
    assert (row.history_type, row.via, row.history_user_id, row.history_username) == ("+", "shell", None, "")


def test_record_history_reads_with_one_query_per_audited_model_whatever_the_number_of_changes(
    staff_client, django_assert_max_num_queries
):
    patient = factories.PatientFactory()
    assessment = factories.AssessmentFactory(patient=patient, falls_count=0, ambulation_class=2)
    for version in range(1, 6):
        response = staff_client.patch(
            f"/api/v1/assessments/{assessment.uuid}/",
            {"falls_count": version},
            format="json",
            HTTP_IF_MATCH=f'"{version}"',
        )
        assert response.status_code == 200

    # 11 audited models belong to a patient (consent documents do not), plus one per kind of record
    # referred to: users (entered_by, account), sites, variants.
    with django_assert_max_num_queries(11 + 3):
        history = record_history(patient)

    changes = [_changes(e)["falls_count"] for e in history if e.record_type == "assessment" and e.action == "changed"]
    assert changes == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert [e.at for e in history] == sorted(e.at for e in history)


def test_a_record_written_in_bulk_first_appears_at_its_first_change_with_old_values_unknown(staff_client):
    patient = factories.PatientFactory()
    [assessment] = Assessment.objects.bulk_create([factories.AssessmentFactory.build(patient=patient, falls_count=1)])
    assert not HistoricalAssessment.objects.filter(uuid=assessment.uuid).exists()  # bulk: not recorded

    staff_client.patch(
        f"/api/v1/assessments/{assessment.uuid}/", {"falls_count": 2}, format="json", HTTP_IF_MATCH='"1"'
    )

    [entry] = [e for e in record_history(patient) if e.record_type == "assessment"]
    assert (entry.action, entry.old_values_known) == ("changed", False)
    assert _changes(entry)["falls_count"] == (None, 2)


def test_a_death_recorded_as_a_status_change_is_in_the_identity_history_with_the_old_and_new_date(
    staff_client, staff_user
):
    patient = factories.PatientFactory()

    response = staff_client.post(
        f"/api/v1/patients/{patient.uuid}/status/",
        {"status": "deceased", "effective_date": "2024-05-01", "reason": "Told by the family"},
        format="json",
    )

    assert response.status_code == 201, response.content
    row = HistoricalIdentity.objects.filter(patient_id=patient.pk).latest()
    assert (row.history_type, row.via, row.history_user_id, row.history_username, row.date_of_death) == (
        "~",
        "api",
        staff_user.pk,
        "staff.sam",
        dt.date(2024, 5, 1),
    )
    [entry] = [e for e in record_history(patient) if e.record_type == "patientidentity" and e.action == "changed"]
    assert (entry.username, entry.via, entry.record_id, entry.old_values_known) == (
        "staff.sam",
        "api",
        str(patient.uuid),
        True,
    )
    assert _changes(entry) == {"date_of_death": (None, dt.date(2024, 5, 1))}


def test_a_date_of_death_already_recorded_is_kept_by_the_status_change_and_no_identity_change_is_recorded(
    staff_user,
):
    patient = factories.PatientFactory(identity__date_of_death=dt.date(2024, 4, 30))
    rows_before = HistoricalIdentity.objects.filter(patient_id=patient.pk).count()

    with audit_context(via="import", user=staff_user):
        patient_services.patient_change_status(
            patient=patient, status="deceased", effective_date=dt.date(2024, 5, 1), recorded_by=staff_user
        )

    assert PatientIdentity.objects.get(patient=patient).date_of_death == dt.date(2024, 4, 30)
    assert HistoricalIdentity.objects.filter(patient_id=patient.pk).count() == rows_before


# --- Deleted clinical data ------------------------------------------------------------------------


def test_an_assessment_deleted_through_the_api_keeps_its_values_and_who_deleted_it(staff_client, staff_user):
    assessment = factories.AssessmentFactory(falls_count=4, injurious_falls_count=1, ambulation_class=2)
    DynamometryMeasurement.objects.create(assessment=assessment, muscle_group="hip_flexion", side="left", kg=12)
    patient = assessment.patient

    deleted = staff_client.delete(f"/api/v1/assessments/{assessment.uuid}/", HTTP_IF_MATCH='"1"')

    assert deleted.status_code == 204
    row = HistoricalAssessment.objects.get(uuid=assessment.uuid, history_type="-")
    assert (row.via, row.history_user_id, row.falls_count) == ("api", staff_user.pk, 4)
    measurement = DynamometryMeasurement.history.model.objects.get(assessment_id=assessment.pk, history_type="-")
    assert (measurement.via, measurement.kg) == ("api", 12)

    listed = staff_client.get("/api/v1/audit/deleted/?type=assessment")

    assert listed.status_code == 200, listed.content
    [body] = listed.json()["results"]
    assert (body["record_type"], body["record_id"], body["patient"]) == (
        "assessment",
        str(assessment.uuid),
        str(patient.uuid),
    )
    assert (body["user"], body["via"]) == ("staff.sam", "api")
    assert body["values"]["falls_count"] == 4
    assert body["values"]["injurious_falls_count"] == 1
    assert body["values"]["assessment_date"] == str(assessment.assessment_date)
    # The patient's history shows the deletion, and the measurement deleted with it.
    history = record_history(patient)
    gone = next(e for e in history if e.record_type == "assessment" and e.action == "deleted")
    assert _changes(gone)["falls_count"] == (4, None)
    gone_measure = next(e for e in history if e.record_type == "dynamometrymeasurement" and e.action == "deleted")
    assert gone_measure.record_id == str(assessment.uuid)


def test_the_deleted_list_refuses_an_unknown_type_and_is_for_staff_only(persona_clients):
    bad = persona_clients["staff"].get("/api/v1/audit/deleted/?type=spaceship")

    assert bad.status_code == 400
    assert "assessment" in bad.json()["error"]["fields"]["type"][0]
    for role, status in {"patient": 403, "researcher": 403, "anonymous": 401}.items():
        assert persona_clients[role].get("/api/v1/audit/deleted/?type=assessment").status_code == status


# --- Reading a record's history through the API ---------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "owner", "status"),
    [
        ("staff", "own", 200),
        ("staff", "other", 200),
        ("patient", "own", 403),
        ("patient", "other", 403),
        ("researcher", "own", 403),
        ("anonymous", "own", 401),
    ],
)
def test_history_endpoint_access(persona_clients, own_patient, other_patient, role, owner, status):
    patient = own_patient if owner == "own" else other_patient

    response = persona_clients[role].get(f"/api/v1/patients/{patient.uuid}/history/")

    assert response.status_code == status


def test_history_endpoint_lists_changes_with_who_when_how_and_values(staff_client):
    patient = factories.PatientFactory()
    assessment = factories.AssessmentFactory(patient=patient, falls_count=1, ambulation_class=2)
    staff_client.patch(
        f"/api/v1/assessments/{assessment.uuid}/", {"falls_count": 3}, format="json", HTTP_IF_MATCH='"1"'
    )

    response = staff_client.get(f"/api/v1/patients/{patient.uuid}/history/")

    assert response.status_code == 200
    change = next(e for e in response.json() if e["action"] == "changed" and e["record_type"] == "assessment")
    assert {key: change[key] for key in ("record_id", "user", "via", "version")} == {
        "record_id": str(assessment.uuid),
        "user": "staff.sam",
        "via": "api",
        "version": 2,
    }
    assert change["changes"] == [{"field": "falls_count", "old": 1, "new": 3}]
    assert change["at"]
    assert staff_client.get(f"/api/v1/patients/{factories.PatientFactory().uuid}/history/").json() != []
    assert staff_client.get("/api/v1/patients/00000000-0000-0000-0000-000000000000/history/").status_code == 404


def test_history_endpoint_is_in_the_openapi_schema(staff_client):
    schema = staff_client.get("/api/schema/?format=json").json()

    assert "get" in schema["paths"]["/api/v1/patients/{id}/history/"]
    assert "get" in schema["paths"]["/api/v1/audit/deleted/"]


# --- Events -----------------------------------------------------------------------------------------


def test_logins_failed_logins_and_logouts_are_events(db):
    user = factories.UserFactory(username="desk.dana", password="a-long-test-password")
    page = Client()

    page.post("/accounts/login/", {"username": "desk.dana", "password": "not-it"})
    page.post("/accounts/login/", {"username": "desk.dana", "password": "a-long-test-password"})
    page.post("/accounts/logout/")

    events = list(AuditEvent.objects.order_by("id").values_list("kind", "username", "user_id", "via"))
    assert events == [
        ("login_failed", "desk.dana", None, "page"),
        ("login", "desk.dana", user.pk, "page"),
        ("logout", "desk.dana", user.pk, "page"),
    ]
    assert "not-it" not in str(list(AuditEvent.objects.values()))


def test_a_failed_api_token_login_is_an_event_with_the_name_as_typed(anonymous_client):
    anonymous_client.post("/api/v1/auth/token/", {"username": "Nobody Here", "password": "guess"}, format="json")

    event = AuditEvent.objects.get(kind="login_failed")
    assert (event.username, event.via, event.user_id) == ("Nobody Here", "api", None)
    assert "guess" not in str(event.detail)


TOKEN_PASSWORD = "a-long-test-password"  # tests.factories.UserFactory's


def test_an_api_token_issued_then_revoked_is_a_login_then_a_logout_through_the_api(db):
    user = factories.UserFactory(username="desk.dana")
    api = APIClient()

    issued = api.post("/api/v1/auth/token/", {"username": "desk.dana", "password": TOKEN_PASSWORD}, format="json")
    api.credentials(HTTP_AUTHORIZATION=f"Token {issued.json()['token']}")
    revoked = api.delete("/api/v1/auth/token/")

    assert (issued.status_code, revoked.status_code) == (200, 204)
    events = list(AuditEvent.objects.order_by("id").values_list("kind", "username", "user_id", "via", "detail"))
    assert events == [
        ("login", "desk.dana", user.pk, "api", {"method": "token"}),
        ("logout", "desk.dana", user.pk, "api", {"method": "token"}),
    ]
    assert issued.json()["token"] not in str(list(AuditEvent.objects.values()))


def test_revoking_tokens_is_an_event_naming_who_revoked_whose_and_how_many(staff_client, staff_user, db):
    holder = factories.UserFactory(username="lost.laptop")
    for _ in range(2):
        tokens.token_create(user=holder)
    other, _ = tokens.token_create(user=holder)

    one = staff_client.delete(f"/api/v1/auth/users/lost.laptop/tokens/{other.token_key}/")
    rest = staff_client.delete("/api/v1/auth/users/lost.laptop/tokens/")
    own = staff_client.delete("/api/v1/auth/tokens/")

    assert (one.status_code, rest.status_code, own.status_code) == (204, 204, 204)
    events = list(
        AuditEvent.objects.filter(kind="tokens_revoked")
        .order_by("id")
        .values_list("user_id", "target_type", "target_id", "detail")
    )
    assert events == [
        (staff_user.pk, "auth.user", str(holder.pk), {"method": "token", "count": 1, "own": False}),
        (staff_user.pk, "auth.user", str(holder.pk), {"method": "token", "count": 2, "own": False}),
        (staff_user.pk, "auth.user", str(staff_user.pk), {"method": "token", "count": 1, "own": True}),
    ]


def test_token_refusals_are_failed_logins_the_wrong_password_by_the_name_typed_the_second_factor_by_account(
    staff_user, settings
):
    settings.REGISTRY_REQUIRE_2FA = True  # staff must then give a code, and this one has none set up

    wrong_password = APIClient().post(
        "/api/v1/auth/token/", {"username": "staff.sam", "password": "not-it"}, format="json"
    )
    no_second_factor = APIClient().post(
        "/api/v1/auth/token/", {"username": "staff.sam", "password": TOKEN_PASSWORD}, format="json"
    )

    assert (wrong_password.status_code, no_second_factor.status_code) == (400, 400)
    assert list(no_second_factor.json()["error"]["fields"]) == ["otp"]
    events = list(AuditEvent.objects.order_by("id").values_list("kind", "username", "user_id", "via", "detail"))
    assert events == [
        ("login_failed", "staff.sam", None, "api", {"method": "token"}),
        ("login_failed", "staff.sam", staff_user.pk, "api", {"method": "token", "reason": "second_factor"}),
    ]


@pytest.fixture
def project(researcher_user, staff_user):
    return research_services.project_create(
        data={
            "title": "Natural history",
            "approving_body": "Example ethics committee",
            "approval_reference": "EC-1",
            "data_use_agreement_ends": dt.date.today() + dt.timedelta(days=365),
            "k_anonymity": 3,
            "minimum_cohort": 4,
        },
        members=[researcher_user],
        created_by=staff_user,
    )


def test_an_export_requested_and_downloaded_are_events(project, researcher_user, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    (tmp_path / "package.zip").write_bytes(b"zip")

    export = research_services.export_request(project=project, requested_by=researcher_user, cohort={})
    ResearchExport.objects.filter(pk=export.pk).update(status=ExportStatus.DONE, file_name="package.zip")
    export.refresh_from_db()
    link = research_services.export_download_link(export=export, user=researcher_user)
    token = parse_qs(urlsplit(link).query)["token"][0]
    _, handle = research_services.export_download_open(export_id=export.pk, user=researcher_user, token=token)
    handle.close()

    events = AuditEvent.objects.order_by("id").values_list("kind", "user", "target_type", "target_id", "detail")
    assert list(events) == [
        ("export_requested", researcher_user.pk, "research.researchexport", str(export.pk), {"project": project.pk}),
        ("export_downloaded", researcher_user.pk, "research.researchexport", str(export.pk), {"project": project.pk}),
    ]


# --- Nobody changes the trail -----------------------------------------------------------------------


def _assessment_with_history():
    assessment = factories.AssessmentFactory()
    return HistoricalAssessment.objects.get(uuid=assessment.uuid)


@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_database_refuses_to_update_or_delete_history_rows(change):
    row = _assessment_with_history()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        if change == "update":
            HistoricalAssessment.objects.filter(pk=row.pk).update(falls_count=99)
        else:
            HistoricalAssessment.objects.filter(pk=row.pk).delete()

    row.refresh_from_db()
    assert row.falls_count != 99


def test_the_database_refuses_to_change_an_event_but_lets_an_account_go(staff_user):
    factories.UserFactory(username="temp.tom")
    with audit_context(via="api"):
        event = AuditEvent.objects.create(kind="login", user=staff_user, username="staff.sam")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(username="someone.else")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    # Deleting the account clears the event's user key (ON DELETE SET NULL); the username stays.
    staff_user.delete()
    event.refresh_from_db()
    assert (event.user_id, event.username, event.kind) == (None, "staff.sam", "login")


def test_history_can_be_purged_inside_audit_purge_allowed_only():
    row = _assessment_with_history()

    with audit_purge_allowed():
        HistoricalAssessment.objects.filter(pk=row.pk).delete()

    assert not HistoricalAssessment.objects.filter(pk=row.pk).exists()
    # The permission ended with the block.
    other = _assessment_with_history()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        HistoricalAssessment.objects.filter(pk=other.pk).delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('registry.audit_purge', true)")
        assert cursor.fetchone()[0] != "on"


def test_the_admin_shows_the_trail_but_offers_no_add_change_or_delete_even_to_a_superuser():
    row = _assessment_with_history()
    superuser = factories.UserFactory(username="root.ruth", is_staff=True, is_superuser=True)
    page = Client()
    page.force_login(superuser)  # which itself records a login event

    listing = page.get("/admin/assessments/historicalassessment/")
    events = page.get("/admin/registry/auditevent/")

    assert (listing.status_code, events.status_code) == (200, 200)
    assert page.get(f"/admin/assessments/historicalassessment/{row.pk}/change/").status_code == 200
    for url in (
        "/admin/assessments/historicalassessment/add/",
        f"/admin/assessments/historicalassessment/{row.pk}/delete/",
        "/admin/registry/auditevent/add/",
    ):
        assert page.get(url).status_code == 403
    edit = page.post(f"/admin/assessments/historicalassessment/{row.pk}/change/", {"falls_count": "99"})
    assert edit.status_code == 403


def test_measurements_of_an_assessment_are_recorded_with_their_user_and_path(staff_user):
    from assessments.models import DynamometryMeasurement, ManualMuscleTest
    from assessments.services import assessment_create
    from tests.factories import PatientFactory

    patient = PatientFactory()
    with audit_context(via="import", user=staff_user):
        assessment = assessment_create(
            patient=patient,
            data={"assessment_date": dt.date(2024, 3, 1), "source": "clinician"},
            dynamometry=[{"muscle_group": "hip_flexion", "side": "left", "kg": Decimal("12.5")}],
            manual_muscle_tests=[{"muscle": "hip_flexion", "side": "left", "grade": "4-"}],
        )

    for model in (DynamometryMeasurement, ManualMuscleTest):
        rows = list(model.history.filter(assessment_id=assessment.pk))
        assert [(row.history_type, row.via, row.history_user_id) for row in rows] == [("+", "import", staff_user.pk)]
