"""Consent through the API (docs/consent.md): document versions, paper consents, withdrawals, re-consent.

Who may do what: staff everything; a patient reads the documents and their own grants only (another
patient's grant answers 404, as if it did not exist); a researcher nothing (403); anonymous 401. The
status codes of every endpoint for every persona are in tests/registry/test_access_matrix.py.
"""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from patients.models import ConsentDocument, ConsentGrant, EnrollmentStatus
from patients.selectors import consent_is_active, patients_needing_reconsent
from patients.services import consent_grant, consent_withdraw
from registry.dates import today
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clients(staff_user, patient_user, researcher_user, own_patient):
    """A session client per persona (`force_login`), as the staff pages and the portal use the API."""
    users = {"staff": staff_user, "patient": patient_user, "researcher": researcher_user, "anonymous": None}
    found = {}
    for role, user in users.items():
        client = APIClient()
        if user is not None:
            client.force_login(user)
        found[role] = client
    return found


@pytest.fixture
def document():
    return ConsentDocument.objects.create(
        code="registry-consent",
        version="1.0",
        title="Registry consent",
        effective_from=dt.date(2020, 1, 1),
        purposes=["research", "recontact"],
        text="I agree that ...",
    )


def _grant(patient, document, purposes=("research",), on=dt.date(2021, 1, 1)):
    return consent_grant(patient=patient, document=document, purposes=list(purposes), granted_on=on)


# --- Who may do what -----------------------------------------------------------------------------

# Which persona may call which consent endpoint, and what each answers, is part of the one access
# matrix (tests/registry/test_access_matrix.py, PATIENT_RECORD_ENDPOINTS); here, what each one sees.


def test_a_patient_lists_and_reads_only_their_own_grants(clients, own_patient, other_patient, document):
    own = _grant(own_patient, document, ["research", "recontact"])
    other = _grant(other_patient, document)[0]

    listed = clients["patient"].get("/api/v1/consents/").json()["results"]
    staff_listed = clients["staff"].get("/api/v1/consents/").json()["results"]

    assert sorted(row["id"] for row in listed) == sorted(grant.pk for grant in own)
    assert {row["patient"] for row in listed} == {str(own_patient.uuid)}
    assert {row["id"] for row in staff_listed} == {grant.pk for grant in own} | {other.pk}
    assert clients["patient"].get(f"/api/v1/consents/{other.pk}/").status_code == 404


# --- Documents -----------------------------------------------------------------------------------

NEW_VERSION = {
    "code": "registry-consent",
    "version": "2.0",
    "title": "Registry consent",
    "effective_from": "2024-01-01",
    "purposes": ["trial_matching", "research", "research"],
    "text": "New wording.",
    "requires_reconsent": True,
}


def test_staff_publish_a_new_version(clients, document):
    response = clients["staff"].post("/api/v1/consent-documents/", NEW_VERSION, format="json")

    assert response.status_code == 201, response.json()
    stored = ConsentDocument.objects.get(version="2.0")
    assert (stored.code, stored.effective_from, stored.requires_reconsent) == (
        "registry-consent",
        dt.date(2024, 1, 1),
        True,
    )
    assert stored.purposes == ["research", "trial_matching"]  # once each, in the registry's order
    assert response.json()["id"] == stored.pk
    assert response.json()["purposes"] == ["research", "trial_matching"]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_documents_are_never_edited(clients, document, method):
    response = getattr(clients["staff"], method)(
        f"/api/v1/consent-documents/{document.pk}/", {"text": "Changed."}, format="json"
    )

    assert response.status_code == 405
    assert "new version" in response.json()["error"]["message"]
    document.refresh_from_db()
    assert document.text == "I agree that ..."


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": "1.0"}, "version"),  # exists already
        ({"effective_from": "2020-01-01"}, "effective_from"),  # the same day as 1.0
        ({"code": "new-form"}, "requires_reconsent"),  # nothing earlier to re-consent from
        ({"purposes": []}, "purposes"),
        ({"purposes": ["marketing"]}, "purposes.0"),
        ({"purposes": ["research"] * 10_000}, "purposes"),
        ({"code": "not a slug ☃"}, "code"),
        ({"title": "x" * 201}, "title"),
        ({"title": "nul \x00 byte"}, "title"),
        ({"effective_from": "2024-02-30"}, "effective_from"),
        ({"requires_reconsent": "maybe"}, "requires_reconsent"),
    ],
)
def test_bad_documents_get_field_errors(clients, document, change, field):
    response = clients["staff"].post("/api/v1/consent-documents/", NEW_VERSION | change, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert ConsentDocument.objects.count() == 1


# --- Paper consents and withdrawals --------------------------------------------------------------


def test_a_paper_consent_is_recorded_with_who_entered_it(clients, staff_user, document):
    patient = PatientFactory()

    response = clients["staff"].post(
        "/api/v1/consents/",
        {
            "patient": str(patient.uuid),
            "document": document.pk,
            "purposes": ["recontact", "research"],
            "granted_on": "2021-05-04",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    grants = ConsentGrant.objects.filter(patient=patient).order_by("purpose")
    assert [(g.purpose, g.granted_on, g.withdrawn_on, g.recorded_by) for g in grants] == [
        ("recontact", dt.date(2021, 5, 4), None, staff_user),
        ("research", dt.date(2021, 5, 4), None, staff_user),
    ]
    body = response.json()
    assert [row["purpose"] for row in body] == ["recontact", "research"]
    assert body[0] | {"id": None, "recorded_at": None} == {
        "id": None,
        "patient": str(patient.uuid),
        "document": document.pk,
        "document_code": "registry-consent",
        "document_version": "1.0",
        "purpose": "recontact",
        "granted_on": "2021-05-04",
        "withdrawn_on": None,
        "active": True,
        "recorded_by": staff_user.username,
        "recorded_at": None,
    }
    assert consent_is_active(patient=patient, purpose="research", on=dt.date(2021, 5, 4))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"purposes": ["trial_matching"]}, "purposes"),  # not asked by this document
        ({"purposes": ["marketing"]}, "purposes.0"),
        ({"purposes": ["r\u0301esearch"]}, "purposes.0"),  # odd unicode
        ({"purposes": ["research"] * 100_000}, "purposes"),
        ({"purposes": []}, "purposes"),
        ({"purposes": "research"}, "purposes"),
        ({"granted_on": "2999-01-01"}, "granted_on"),  # in the future
        ({"granted_on": "2019-12-31"}, "granted_on"),  # before the document was in use
        ({"granted_on": "yesterday"}, "granted_on"),
        ({"patient": "not-a-uuid"}, "patient"),
        ({"patient": "00000000-0000-0000-0000-000000000000"}, "patient"),
        ({"document": 99_999_999_999_999_999}, "document"),
        ({"document": "1; drop table"}, "document"),
    ],
)
def test_bad_paper_consents_get_field_errors_and_store_nothing(clients, document, change, field):
    patient = PatientFactory()
    body = {"patient": str(patient.uuid), "document": document.pk, "purposes": ["research"], "granted_on": "2021-01-01"}

    response = clients["staff"].post("/api/v1/consents/", body | change, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert not ConsentGrant.objects.exists()


def test_consent_already_active_is_refused(clients, document):
    patient = PatientFactory()
    _grant(patient, document)
    body = {"patient": str(patient.uuid), "document": document.pk, "purposes": ["research"], "granted_on": "2022-01-01"}

    response = clients["staff"].post("/api/v1/consents/", body, format="json")

    assert response.status_code == 400
    assert "already active" in response.json()["error"]["fields"]["purposes"][0]
    assert ConsentGrant.objects.get().granted_on == dt.date(2021, 1, 1)


def test_a_withdrawal_ends_the_purpose_from_its_day(clients, document):
    patient = PatientFactory()
    _grant(patient, document, ["research", "recontact"])
    url = "/api/v1/consents/withdraw/"
    body = {"patient": str(patient.uuid), "purpose": "research", "withdrawn_on": "2023-03-01"}

    response = clients["staff"].post(url, body, format="json")
    again = clients["staff"].post(url, body, format="json")

    assert response.status_code == 200, response.json()
    assert [(row["purpose"], row["withdrawn_on"], row["active"]) for row in response.json()] == [
        ("research", "2023-03-01", False)
    ]
    assert ConsentGrant.objects.get(patient=patient, purpose="research").withdrawn_on == dt.date(2023, 3, 1)
    assert not consent_is_active(patient=patient, purpose="research", on=dt.date(2023, 3, 1))
    assert consent_is_active(patient=patient, purpose="recontact", on=dt.date(2023, 3, 1))
    # Nothing left to withdraw: said, not silently accepted.
    assert again.status_code == 400
    assert "no active consent" in again.json()["error"]["fields"]["purpose"][0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"withdrawn_on": "2999-01-01"}, "withdrawn_on"),
        ({"withdrawn_on": "2020-06-01"}, "withdrawn_on"),  # before the consent was given
        ({"purpose": "everything"}, "purpose"),
        ({"purpose": "trial_matching"}, "purpose"),  # never given
    ],
)
def test_bad_withdrawals_are_refused(clients, document, change, field):
    patient = PatientFactory()
    _grant(patient, document)
    body = {"patient": str(patient.uuid), "purpose": "research", "withdrawn_on": "2023-03-01"}

    response = clients["staff"].post("/api/v1/consents/withdraw/", body | change, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert ConsentGrant.objects.get().withdrawn_on is None


def test_grants_are_filtered_by_patient_purpose_and_activity(clients, document):
    first, second = PatientFactory(), PatientFactory()
    _grant(first, document, ["research", "recontact"])
    _grant(second, document, ["research"])
    consent_withdraw(patient=second, purpose="research", withdrawn_on=dt.date(2022, 1, 1))

    def listed(query):
        rows = clients["staff"].get(f"/api/v1/consents/?{query}").json()["results"]
        return sorted((row["patient"] == str(first.uuid), row["purpose"]) for row in rows)

    assert listed(f"patient={first.uuid}") == [(True, "recontact"), (True, "research")]
    assert listed("purpose=research") == [(False, "research"), (True, "research")]
    assert listed("active=true") == [(True, "recontact"), (True, "research")]
    assert listed("active=false") == [(False, "research")]
    assert clients["staff"].get("/api/v1/consents/?purpose=everything").status_code == 400
    assert clients["staff"].get("/api/v1/consents/?patient=nope").status_code == 400


# --- Re-consent ----------------------------------------------------------------------------------


@pytest.fixture
def second_version(document):
    return ConsentDocument.objects.create(
        code="registry-consent",
        version="2.0",
        title="Registry consent",
        effective_from=dt.date(2023, 1, 1),
        purposes=["research", "recontact", "trial_matching"],
        requires_reconsent=True,
    )


def test_reconsent_pending_lists_who_consented_before_and_has_not_answered(clients, document, second_version):
    waiting = PatientFactory()
    _grant(waiting, document, ["research", "recontact"])
    answered = PatientFactory()  # consented again under 2.0, even if to less
    _grant(answered, document, ["research", "recontact"])
    _grant(answered, second_version, ["research"], on=dt.date(2023, 2, 1))
    withdrew = PatientFactory()  # no active consent left: nothing to ask again
    _grant(withdrew, document)
    consent_withdraw(patient=withdrew, purpose="research", withdrawn_on=dt.date(2022, 1, 1))
    partly = PatientFactory()  # recontact withdrawn: asked about research only
    _grant(partly, document, ["research", "recontact"])
    consent_withdraw(patient=partly, purpose="recontact", withdrawn_on=dt.date(2022, 1, 1))
    deceased = PatientFactory(status=EnrollmentStatus.DECEASED)
    _grant(deceased, document)
    erased = PatientFactory(erased_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    ConsentGrant.objects.create(patient=erased, document=document, purpose="research", granted_on=dt.date(2021, 1, 1))
    other_code = ConsentDocument.objects.create(
        code="biobank", version="1", title="Biobank", effective_from=dt.date(2019, 1, 1), purposes=["research"]
    )
    _grant(PatientFactory(), other_code)

    response = clients["staff"].get(f"/api/v1/consent-documents/{second_version.pk}/reconsent-pending/")

    assert response.status_code == 200
    assert response.json()["results"] == [  # in the order the patients were registered
        {"patient": str(waiting.uuid), "purposes": ["research", "recontact"]},
        {"patient": str(partly.uuid), "purposes": ["research"]},
    ]
    assert [row["patient_uuid"] for row in patients_needing_reconsent(second_version)] == [waiting.uuid, partly.uuid]


def test_nobody_is_pending_when_the_version_does_not_require_reconsent(clients, document, second_version):
    _grant(PatientFactory(), document)
    second_version.requires_reconsent = False
    second_version.save()

    response = clients["staff"].get(f"/api/v1/consent-documents/{second_version.pk}/reconsent-pending/")
    first = clients["staff"].get(f"/api/v1/consent-documents/{document.pk}/reconsent-pending/")

    assert (response.json()["results"], first.json()["results"]) == ([], [])


# --- Queries -------------------------------------------------------------------------------------

SESSION = ('FROM "django_session"', 'FROM "auth_user"', 'FROM "auth_group"')  # session, its user, the roles
# Staff only: whether the member is limited to some sites (docs/sites.md), read once per request.
SITE_SCOPE = 'FROM "patients_staffsitescope"'


def assert_queries(captured, *fragments):
    """The queries run were these, in this order (each identified by a fragment of its SQL)."""
    sqls = [query["sql"] for query in captured.captured_queries]
    assert len(sqls) == len(fragments), sqls
    for sql, fragment in zip(sqls, fragments, strict=True):
        assert fragment in sql, (fragment, sql)


@pytest.mark.parametrize("patients", [2, 12])
def test_reconsent_pending_queries_do_not_grow(clients, document, second_version, django_assert_num_queries, patients):
    for _ in range(patients):
        _grant(PatientFactory(), document, ["research", "recontact"])
    url = f"/api/v1/consent-documents/{second_version.pk}/reconsent-pending/?page_size=10"

    with django_assert_num_queries(len(SESSION) + 3) as captured:
        response = clients["staff"].get(url)

    assert len(response.json()["results"]) == min(patients, 10)
    assert_queries(
        captured,
        *SESSION,
        'FROM "patients_consentdocument" WHERE "patients_consentdocument"."id" =',  # the document
        SITE_SCOPE,
        'COUNT("patients_consentgrant"."id") FILTER',  # one page of patients, their purposes counted
    )


@pytest.mark.parametrize("patients", [2, 12])
def test_grant_list_queries_do_not_grow(clients, document, django_assert_num_queries, patients):
    for _ in range(patients):
        _grant(PatientFactory(), document, ["research", "recontact"])

    with django_assert_num_queries(len(SESSION) + 2) as captured:
        response = clients["staff"].get("/api/v1/consents/?page_size=20")

    assert len(response.json()["results"]) == min(2 * patients, 20)
    # One page of grants, document, recorder and patient id joined.
    assert_queries(captured, *SESSION, SITE_SCOPE, 'FROM "patients_consentgrant" INNER JOIN "patients_patient"')


def test_grant_and_document_detail_queries(clients, own_patient, document, django_assert_num_queries):
    grant = _grant(own_patient, document)[0]

    with django_assert_num_queries(len(SESSION) + 1) as captured:
        response = clients["patient"].get(f"/api/v1/consents/{grant.pk}/")
    assert response.json()["id"] == grant.pk
    assert_queries(captured, *SESSION, 'FROM "patients_consentgrant" INNER JOIN "patients_patient"')

    with django_assert_num_queries(len(SESSION) + 1):
        assert clients["patient"].get(f"/api/v1/consent-documents/{document.pk}/").json()["version"] == "1.0"


def test_a_new_grant_under_the_new_version_answers_the_reconsent(document, second_version):
    patient = PatientFactory()
    _grant(patient, document)
    assert [row["patient_uuid"] for row in patients_needing_reconsent(second_version)] == [patient.uuid]

    consent_grant(patient=patient, document=second_version, purposes=["research"], granted_on=today())

    assert list(patients_needing_reconsent(second_version)) == []
