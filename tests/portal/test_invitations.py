"""Invitations: staff invite a patient through the API, the email carries a single-use link that
expires, a new invitation supersedes the old one, and a patient may ask for a fresh link without
learning whether an address is registered."""

import datetime as dt
import hashlib
import re
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from patients.models import EnrollmentStatus
from portal import invitations
from portal.models import Invitation
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/invitations/"
LINK = re.compile(r"https?://[^/\s]+/invitations/([A-Za-z0-9_-]+)/")


class BrokenMailServer(BaseEmailBackend):
    """An email backend whose server refuses every message."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def token_in(message) -> str:
    return LINK.search(message.body).group(1)


def invite(staff_client, patient, **body):
    return staff_client.post(URL, {"patient": str(patient.uuid), **body}, format="json")


@pytest.fixture
def patient(db):
    return factories.PatientFactory(identity__email="noa.levi@example.org")


# --- Creating an invitation through the API ---------------------------------------------------


def test_staff_invite_a_patient_at_the_email_on_record(staff_client, staff_user, patient):
    before = timezone.now()

    response = invite(staff_client, patient)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "patient", "email", "created_at", "expires_at", "used_at"}
    assert body["patient"] == str(patient.uuid)
    assert body["email"] == "noa.levi@example.org"
    assert body["used_at"] is None
    invitation = Invitation.objects.get(pk=body["id"])
    assert invitation.created_by == staff_user
    assert before + dt.timedelta(days=14) <= invitation.expires_at <= timezone.now() + dt.timedelta(days=14)

    [message] = mail.outbox
    assert message.to == ["noa.levi@example.org"]
    token = token_in(message)
    assert f"http://testserver/invitations/{token}/" in message.body
    assert f"http://testserver/invitations/{token}/" in message.alternatives[0][0]  # the HTML part
    # Only a hash of the token is stored, and the API never shows the token.
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in response.content.decode()
    assert token not in str(Invitation.objects.values().get(pk=invitation.pk))


def test_staff_can_send_the_invitation_to_another_address(staff_client, patient):
    response = invite(staff_client, patient, email="noa@family.example")

    assert response.status_code == 201
    assert response.json()["email"] == "noa@family.example"
    assert mail.outbox[0].to == ["noa@family.example"]
    patient.identity.refresh_from_db()
    assert patient.identity.email == "noa.levi@example.org"  # the record is not changed


@pytest.mark.parametrize(("role", "expected"), [("patient", 403), ("researcher", 403), ("anonymous", 401)])
def test_only_staff_may_invite_or_see_invitations(persona_clients, staff_user, patient, role, expected):
    existing = invitations.invitation_create(patient=patient, created_by=staff_user)
    mail.outbox.clear()
    client = persona_clients[role]

    created = client.post(URL, {"patient": str(patient.uuid)}, format="json")
    listed = client.get(URL)
    shown = client.get(f"{URL}{existing.pk}/")

    assert (created.status_code, listed.status_code, shown.status_code) == (expected, expected, expected)
    assert created.json()["error"]["status"] == expected
    assert Invitation.objects.count() == 1
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"identity__email": ""}, "email"),
        ({"status": EnrollmentStatus.WITHDRAWN}, "patient"),
        ({"status": EnrollmentStatus.DECEASED}, "patient"),
    ],
)
def test_refused_without_an_email_or_for_a_closed_record(staff_client, change, field):
    patient = factories.PatientFactory(**change)

    response = invite(staff_client, patient)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_refused_when_the_patient_already_has_an_account(staff_client, own_patient):
    response = invite(staff_client, own_patient)

    assert response.status_code == 400
    assert "already has an account" in response.json()["error"]["fields"]["patient"][0]
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"patient": "not-a-uuid"},
        {"patient": "00000000-0000-0000-0000-000000000000"},
        {"patient": None},
        {"patient": ["a", "list"]},
        {"patient": "PATIENT", "email": "bad"},
        {"patient": "PATIENT", "email": "ünïcødé@exämple.org" * 20},
        {"patient": "PATIENT", "email": "x" * 5000},
        {"patient": "PATIENT", "email": "\u0000@example.org"},
    ],
)
def test_odd_input_is_a_field_error(staff_client, patient, body):
    body = {key: str(patient.uuid) if value == "PATIENT" else value for key, value in body.items()}

    response = staff_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]
    assert not Invitation.objects.exists()


def test_a_new_invitation_supersedes_the_unused_ones(staff_client, patient):
    invite(staff_client, patient)
    first = token_in(mail.outbox[0])

    invite(staff_client, patient)
    second = token_in(mail.outbox[1])

    assert invitations.invitation_for_token(first).reason == invitations.Unusable.EXPIRED
    assert invitations.invitation_for_token(second).reason is None
    assert Invitation.objects.filter(patient=patient, expires_at__gt=timezone.now()).count() == 1


def test_a_mail_server_failure_is_a_503_and_keeps_the_earlier_invitation(staff_client, patient, settings):
    invite(staff_client, patient)
    earlier = token_in(mail.outbox[0])
    settings.EMAIL_BACKEND = "tests.portal.test_invitations.BrokenMailServer"

    response = invite(staff_client, patient)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "email_unavailable"
    assert "could not be sent" in response.json()["error"]["message"]
    assert Invitation.objects.filter(patient=patient).count() == 1  # the new one was rolled back
    assert invitations.invitation_for_token(earlier).reason is None  # and the old one still works


def test_the_link_uses_the_public_url_when_there_is_no_request(patient, settings):
    settings.REGISTRY_PUBLIC_URL = "https://registry.example.org/"

    invitations.invitation_create(patient=patient)

    assert "https://registry.example.org/invitations/" in mail.outbox[0].body


# --- Reading invitations ----------------------------------------------------------------------

# token with the user's roles, the staff member's site scope (docs/sites.md: a site-limited member sees
# their sites' invitations only), then the page of invitations with their patient's uuid
LIST_QUERIES = 3


@pytest.mark.parametrize("count", [1, 6])
def test_staff_list_invitations_newest_first_in_fixed_queries(
    staff_client, staff_user, django_assert_num_queries, count
):
    made = [
        invitations.invitation_create(patient=factories.PatientFactory(), created_by=staff_user) for _ in range(count)
    ]

    with django_assert_num_queries(LIST_QUERIES):
        response = staff_client.get(URL)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [invitation.pk for invitation in reversed(made)]
    assert rows[0]["patient"] == str(made[-1].patient.uuid)


def test_staff_filter_invitations_by_patient(staff_client, staff_user, patient):
    invitations.invitation_create(patient=patient, created_by=staff_user)
    invitations.invitation_create(patient=factories.PatientFactory(), created_by=staff_user)

    response = staff_client.get(URL, {"patient": str(patient.uuid)})
    bad = staff_client.get(URL, {"patient": "not-a-uuid"})

    assert [row["patient"] for row in response.json()["results"]] == [str(patient.uuid)]
    assert bad.status_code == 400


def test_staff_read_one_invitation_in_fixed_queries(staff_client, staff_user, patient, django_assert_num_queries):
    invitation = invitations.invitation_create(patient=patient, created_by=staff_user)

    # token with the user's roles, the site scope (docs/sites.md), then the invitation with its patient's uuid
    with django_assert_num_queries(3):
        response = staff_client.get(f"{URL}{invitation.pk}/")

    assert response.status_code == 200
    assert response.json() == {
        "id": invitation.pk,
        "patient": str(patient.uuid),
        "email": "noa.levi@example.org",
        "created_at": response.json()["created_at"],
        "expires_at": response.json()["expires_at"],
        "used_at": None,
    }
    assert staff_client.get(f"{URL}999999999/").status_code == 404
    assert staff_client.get(f"{URL}{'9' * 30}/").status_code == 404


# --- What a link's token says ---------------------------------------------------------------


def test_a_token_is_unknown_used_expired_or_its_record_claimed(patient, patient_user):
    fresh = invitations.invitation_create(patient=patient)
    token = token_in(mail.outbox[-1])
    assert invitations.invitation_for_token(token).invitation == fresh
    assert invitations.invitation_for_token(token).reason is None

    for odd in ("", "x", "é" * 50, "\ud800", "a" * 10_000):
        assert invitations.invitation_for_token(odd).reason == invitations.Unusable.UNKNOWN

    Invitation.objects.filter(pk=fresh.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert invitations.invitation_for_token(token).reason == invitations.Unusable.EXPIRED

    Invitation.objects.filter(pk=fresh.pk).update(used_at=timezone.now())
    assert invitations.invitation_for_token(token).reason == invitations.Unusable.USED

    other = factories.PatientFactory(identity__email="other@example.org")
    invitations.invitation_create(patient=other)
    other_token = token_in(mail.outbox[-1])
    other.account = patient_user
    other.save()
    assert invitations.invitation_for_token(other_token).reason == invitations.Unusable.CLAIMED


# --- Asking for a new link ----------------------------------------------------------------------


def test_renew_sends_a_fresh_link_to_a_known_unclaimed_address(patient):
    invitations.invitation_create(patient=patient)
    old = token_in(mail.outbox[0])
    Invitation.objects.update(created_at=timezone.now() - dt.timedelta(hours=1))

    invitations.invitation_renew_request(email="  NOA.Levi@Example.org ")

    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == ["noa.levi@example.org"]
    assert invitations.invitation_for_token(token_in(mail.outbox[1])).reason is None
    assert invitations.invitation_for_token(old).reason == invitations.Unusable.EXPIRED


def test_renew_sends_nothing_for_unknown_claimed_or_closed_records(patient_user):
    factories.PatientFactory(identity__email="claimed@example.org", account=patient_user)
    factories.PatientFactory(identity__email="gone@example.org", status=EnrollmentStatus.DECEASED)

    for email in ("nobody@example.org", "claimed@example.org", "gone@example.org", "", "é" * 300):
        invitations.invitation_renew_request(email=email)

    assert mail.outbox == []
    assert not Invitation.objects.exists()


def test_renew_right_after_an_invitation_sends_nothing_more(patient):
    invitations.invitation_create(patient=patient)

    invitations.invitation_renew_request(email="noa.levi@example.org")

    assert len(mail.outbox) == 1


def test_renew_when_the_mail_server_is_down_fails_quietly(patient, settings):
    settings.EMAIL_BACKEND = "tests.portal.test_invitations.BrokenMailServer"

    invitations.invitation_renew_request(email="noa.levi@example.org")  # no exception: same answer

    assert not Invitation.objects.exists()
