"""The account pages: accepting an invitation (consent per purpose, a password, the same record
claimed, logged in), links that no longer work, asking for a new link, self-registration, and
password reset and change."""

import datetime as dt
import re
import threading
import zoneinfo

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.template.loader import get_template
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from patients.models import ConsentDocument, ConsentGrant, EnrollmentStatus, Patient
from portal import invitations
from portal.models import Invitation
from registry import roles
from tests import factories

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "violet-kettle-harbour-42"
ME = reverse("portal:me")
RENEW = reverse("portal:invitation-renew")
REGISTER = reverse("portal:register")
LINK = re.compile(r"https?://[^/\s]+(/invitations/[A-Za-z0-9_-]+/)")
RESET_LINK = re.compile(r"https?://[^/\s]+(/accounts/reset/\S+/)")


def make_consent_document(**fields) -> ConsentDocument:
    fields = {
        "code": "registry-consent",
        "version": "2.0",
        "title": "GNE registry consent",
        "effective_from": dt.date(2020, 1, 1),
        "purposes": ["research", "recontact", "trial_matching"],
        "text": "Your data helps research into GNE myopathy.\n\nYou may withdraw at any time.",
        **fields,
    }
    return ConsentDocument.objects.create(**fields)


@pytest.fixture
def document(db):
    return make_consent_document()


@pytest.fixture
def patient(db):
    return factories.PatientFactory(identity__email="noa.levi@example.org", status=EnrollmentStatus.ENROLLED)


@pytest.fixture
def link(patient) -> str:
    """The path of a fresh invitation link, as emailed to `patient`."""
    invitations.invitation_create(patient=patient)
    return LINK.search(mail.outbox[-1].body).group(1)


def accept(client, link, **fields):
    data = {"username": "noa", "password1": PASSWORD, "password2": PASSWORD, **fields}
    return client.post(link, data)


def zone_whose_date_is_not_utcs() -> str:
    """A time zone where today is not UTC's today, whatever the hour: so a date judged in UTC shows."""
    utc_today = timezone.now().date()
    for name in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14, UTC-11
        if timezone.localdate(timezone=zoneinfo.ZoneInfo(name)) != utc_today:
            return name
    raise AssertionError("unreachable: one of the two is always on another day")


# --- Accepting an invitation ------------------------------------------------------------------


def test_the_accept_page_shows_the_consent_and_a_prefilled_username(client, link, document):
    response = client.get(link)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Your data helps research into GNE myopathy." in page
    assert "<legend" in page and "What you agree to" in page
    for purpose in ("research", "recontact", "trial_matching"):
        assert f'type="checkbox" name="purposes" value="{purpose}"' in page
        assert f'value="{purpose}" id="id_purposes_' in page
    assert "checked" not in page  # nothing is ticked for the patient
    assert f'name="consent_document" value="{document.pk}"' in page
    assert 'name="username" value="noa.levi@example.org"' in page
    assert 'autocomplete="username"' in page
    assert page.count('autocomplete="new-password"') == 2
    assert response["Cache-Control"].startswith("max-age=0")


def test_accepting_claims_the_same_record_with_the_purposes_ticked(client, link, patient, document):
    patient.time_zone = zone_whose_date_is_not_utcs()
    patient.save()
    patients_before = Patient.objects.count()

    response = accept(client, link, purposes=["research", "trial_matching"])

    assert response.status_code == 302
    assert response["Location"] == ME
    user = User.objects.get(username="noa")
    assert user.email == "noa.levi@example.org"
    assert user.check_password(PASSWORD)
    assert roles.user_roles(user) == {roles.PATIENT}
    assert Patient.objects.count() == patients_before  # no new record: the staff's one is claimed
    patient.refresh_from_db()
    assert patient.account == user
    grants = ConsentGrant.objects.filter(patient=patient)
    assert sorted(grants.values_list("purpose", flat=True)) == ["research", "trial_matching"]
    local_today = timezone.localdate(timezone=patient.zone)
    assert {(grant.document, grant.granted_on, grant.withdrawn_on, grant.recorded_by) for grant in grants} == {
        (document, local_today, None, user)
    }
    assert Invitation.objects.get(patient=patient).used_at is not None
    assert client.session["_auth_user_id"] == str(user.pk)  # logged in


def test_accepting_without_ticking_anything_records_no_consent(client, link, patient, document):
    response = accept(client, link)

    assert response.status_code == 302
    assert Patient.objects.get(pk=patient.pk).account.username == "noa"
    assert not ConsentGrant.objects.exists()


def test_accepting_is_possible_before_any_consent_document_exists(client, link, patient):
    page = client.get(link).content.decode()
    response = accept(client, link)

    assert 'name="purposes"' not in page
    assert response.status_code == 302
    assert Patient.objects.get(pk=patient.pk).account is not None


def test_a_weak_password_shows_every_error_and_keeps_what_was_typed(client, link, patient, document):
    response = accept(client, link, username="noa-ü", password1="12345", password2="12345", purposes=["recontact"])

    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="error-summary"' in page
    assert 'href="#id_password1"' in page  # the summary links to the field
    assert "at least 12 characters" in page
    assert "entirely numeric" in page
    assert 'name="username" value="noa-ü"' in page
    assert re.search(r'value="recontact"[^>]*checked', page)
    assert "12345" not in page  # passwords are never sent back
    assert not User.objects.filter(username="noa-ü").exists()
    assert Patient.objects.get(pk=patient.pk).account is None
    assert Invitation.objects.get(patient=patient).used_at is None


def test_different_passwords_and_a_taken_username_are_field_errors(client, link, patient, document):
    factories.UserFactory(username="Noa")

    mismatch = accept(client, link, password2=PASSWORD + "!")
    taken = accept(client, link, username="noa")

    assert "The two passwords are different" in mismatch.content.decode()
    assert "This username is taken" in taken.content.decode()
    assert Patient.objects.get(pk=patient.pk).account is None


@pytest.mark.parametrize(
    "fields",
    [
        {"username": ""},
        {"username": "x" * 151},
        {"username": "名前 with spaces"},
        {"username": "🙂"},
        {"username": "a\x00b"},
        {"password1": "", "password2": ""},
        {"password1": "p" * 5000, "password2": "p" * 5000},
        {"purposes": ["not-a-purpose"]},
        {"consent_document": "not-a-number"},
    ],
)
def test_odd_input_is_shown_as_an_error_never_a_500(client, link, patient, document, fields):
    response = accept(client, link, **fields)

    assert response.status_code == 200
    assert 'class="error-summary"' in response.content.decode()
    assert Patient.objects.get(pk=patient.pk).account is None


def test_an_empty_post_shows_what_is_missing(client, link, document):
    response = client.post(link, {})

    assert response.status_code == 200
    assert 'class="error-summary"' in response.content.decode()


def test_a_new_consent_version_between_reading_and_accepting_must_be_read(client, link, patient, document):
    shown = document.pk
    newer = make_consent_document(version="3.0", effective_from=dt.date(2021, 1, 1), text="The new wording.")

    response = accept(client, link, consent_document=shown, purposes=["research"])

    assert response.status_code == 200
    assert "has just been updated" in response.content.decode()
    assert "The new wording." in response.content.decode()
    assert f'name="consent_document" value="{newer.pk}"' in response.content.decode()  # the next submit counts
    assert not ConsentGrant.objects.exists()
    assert Patient.objects.get(pk=patient.pk).account is None


# --- Links that no longer work ------------------------------------------------------------------


def test_a_used_link_says_so_and_offers_a_new_one(client, link, document):
    accept(client, link)
    client.logout()

    again = client.get(link)
    posted_again = accept(Client(), link, username="someone-else")

    for response in (again, posted_again):
        assert response.status_code == 410
        page = response.content.decode()
        assert "already been used" in page
        assert f'action="{RENEW}"' in page and 'autocomplete="email"' in page
    assert User.objects.filter(username="someone-else").count() == 0


def test_an_expired_link_says_so_and_offers_a_new_one(client, link, patient, document):
    Invitation.objects.filter(patient=patient).update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    shown = client.get(link)
    posted = accept(client, link)

    for response in (shown, posted):
        assert response.status_code == 410
        assert "This invitation link has expired" in response.content.decode()
        assert f'action="{RENEW}"' in response.content.decode()
    assert Patient.objects.get(pk=patient.pk).account is None


@pytest.mark.parametrize("token", ["unknown-token", "x" * 500, "%F0%9F%99%82", "a.b"])
def test_an_unknown_link_says_so(client, token):
    response = client.get(f"/invitations/{token}/")

    assert response.status_code == 404
    assert "We do not recognise this invitation link" in response.content.decode()
    assert f'action="{RENEW}"' in response.content.decode()


def test_a_record_claimed_meanwhile_points_to_login_and_password_reset(client, link, patient, patient_user):
    patient.account = patient_user
    patient.save()

    response = client.get(link)

    assert response.status_code == 410
    assert "Your record already has an account" in response.content.decode()
    assert reverse("password_reset") in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_accepts_of_one_link_at_the_same_moment_make_one_account():
    """Two devices (or a double click) submit the same link at once: the row lock lets one through."""
    patient = factories.PatientFactory(identity__email="twice@example.org")
    invitations.invitation_create(patient=patient)
    token = LINK.search(mail.outbox[-1].body).group(1).split("/")[2]
    outcomes = [None, None]
    start = threading.Barrier(2)

    def accept_as(index):
        try:
            start.wait()
            invitations.invitation_accept(token=token, username=f"twin{index}", password=PASSWORD, purposes=[])
            outcomes[index] = "accepted"
        except invitations.InvitationUnusable as error:
            outcomes[index] = error.reason
        finally:
            connection.close()

    threads = [threading.Thread(target=accept_as, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["accepted", "used"]
    assert User.objects.filter(username__startswith="twin").count() == 1
    patient.refresh_from_db()
    assert patient.account.username == f"twin{outcomes.index('accepted')}"
    assert Patient.objects.count() == 1


# --- Asking for a new link ----------------------------------------------------------------------


def test_renew_answers_the_same_whether_or_not_the_address_is_known(client, patient):
    known = client.post(RENEW, {"email": "noa.levi@example.org"})
    unknown = client.post(RENEW, {"email": "stranger@example.org"})

    assert known.status_code == unknown.status_code == 200
    assert known.content.decode().replace("noa.levi@example.org", "@") == unknown.content.decode().replace(
        "stranger@example.org", "@"
    )
    [message] = mail.outbox
    assert message.to == ["noa.levi@example.org"]
    assert client.get(LINK.search(message.body).group(1)).status_code == 200


def test_renew_page_checks_the_address(client):
    page = client.get(RENEW)
    invalid = client.post(RENEW, {"email": "not an email"})
    long = client.post(RENEW, {"email": "é" * 10_000})

    assert page.status_code == 200 and 'autocomplete="email"' in page.content.decode()
    assert invalid.status_code == long.status_code == 200
    assert 'class="error-summary"' in invalid.content.decode()
    assert mail.outbox == []


# --- Self-registration ------------------------------------------------------------------------

REGISTRATION = {
    "given_name": "Yuki",
    "family_name": "Tanaka",
    "date_of_birth": "1986-04-02",
    "email": "yuki@example.jp",
    "country": "JP",
    "username": "yuki",
    "password1": PASSWORD,
    "password2": PASSWORD,
}


def test_self_registration_is_off_by_default(client):
    assert client.get(REGISTER).status_code == 404
    assert client.post(REGISTER, REGISTRATION).status_code == 404
    assert not Patient.objects.exists()


def test_self_registration_makes_a_candidate_record_with_its_account(client, settings, document):
    settings.REGISTRY_SELF_REGISTRATION = True

    page = client.get(REGISTER)
    response = client.post(REGISTER, {**REGISTRATION, "purposes": ["research"]})

    assert page.status_code == 200 and 'autocomplete="bday"' in page.content.decode()
    assert response.status_code == 302 and response["Location"] == ME
    patient = Patient.objects.select_related("identity", "account").get()
    assert patient.status == EnrollmentStatus.CANDIDATE
    assert (patient.identity.given_name, patient.identity.family_name) == ("Yuki", "Tanaka")
    assert patient.identity.date_of_birth == dt.date(1986, 4, 2)
    assert patient.identity.email == "yuki@example.jp"
    assert patient.country == "JP"
    assert patient.enrollment_events.get().status == EnrollmentStatus.CANDIDATE
    assert patient.account.username == "yuki"
    assert roles.user_roles(patient.account) == {roles.PATIENT}
    assert list(patient.consents.values_list("purpose", flat=True)) == ["research"]
    assert client.session["_auth_user_id"] == str(patient.account.pk)


def test_self_registration_errors_keep_what_was_typed(client, settings, document):
    settings.REGISTRY_SELF_REGISTRATION = True
    future = (timezone.localdate() + dt.timedelta(days=3)).isoformat()

    response = client.post(REGISTER, {**REGISTRATION, "date_of_birth": future, "country": "ZZ"})
    born_tomorrow = client.post(REGISTER, {**REGISTRATION, "date_of_birth": future})

    assert response.status_code == 200
    assert 'value="Tanaka"' in response.content.decode()
    assert "Select a valid choice" in response.content.decode()
    assert "cannot be in the future" in born_tomorrow.content.decode()
    assert not Patient.objects.exists() and not User.objects.filter(username="yuki").exists()


# --- Password reset and change -----------------------------------------------------------------


def test_password_reset_by_email(client, patient_user):
    patient_user.email = "pat@example.org"
    patient_user.save()

    asked = client.post(reverse("password_reset"), {"email": "pat@example.org"})
    [message] = mail.outbox
    link = RESET_LINK.search(message.body).group(1)
    form_page = client.get(link, follow=True)
    changed = client.post(form_page.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    logged_in = Client().post(reverse("login"), {"username": "patient.pat", "password": PASSWORD})

    assert asked.status_code == 302 and asked["Location"] == reverse("password_reset_done")
    assert message.to == ["pat@example.org"]
    assert form_page.status_code == 200 and 'name="new_password1"' in form_page.content.decode()
    assert changed.status_code == 302 and changed["Location"] == reverse("password_reset_complete")
    assert logged_in.status_code == 302  # the new password works


def test_password_change(client, patient_user):
    client.force_login(patient_user)

    page = client.get(reverse("password_change"))
    changed = client.post(
        reverse("password_change"),
        {"old_password": "a-long-test-password", "new_password1": PASSWORD, "new_password2": PASSWORD},
    )

    assert page.status_code == 200
    assert changed.status_code == 302 and changed["Location"] == reverse("password_change_done")
    patient_user.refresh_from_db()
    assert patient_user.check_password(PASSWORD)


def test_the_login_page_links_to_password_reset(client):
    page = client.get(reverse("login")).content.decode()

    assert "Forgotten your password?" in page
    assert f'href="{reverse("password_reset")}"' in page


@pytest.mark.parametrize(
    "name",
    [
        "password_reset_form.html",
        "password_reset_done.html",
        "password_reset_confirm.html",
        "password_reset_complete.html",
        "password_reset_email.html",
        "password_change_form.html",
        "password_change_done.html",
    ],
)
def test_the_registrys_own_account_templates_are_the_ones_used(name):
    assert "/registry/templates/" in get_template(f"registration/{name}").origin.name


def test_the_account_pages_render_with_the_registry_layout(client, patient_user, settings):
    """The templates themselves, whichever app's templates Django finds first for these names."""
    registry_templates = settings.BASE_DIR / "registry" / "templates"
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [registry_templates]}]
    patient_user.email = "pat@example.org"
    patient_user.save()

    reset = client.get(reverse("password_reset")).content.decode()
    client.post(reverse("password_reset"), {"email": "pat@example.org"})
    form_page = client.get(RESET_LINK.search(mail.outbox[0].body).group(1), follow=True).content.decode()
    bad_link = client.get("/accounts/reset/MQ/set-password-nope/").content.decode()
    client.force_login(patient_user)
    change = client.get(reverse("password_change")).content.decode()
    weak = client.post(
        reverse("password_change"), {"old_password": "wrong", "new_password1": "1", "new_password2": "2"}
    ).content.decode()

    assert 'class="skip-link"' in reset and 'autocomplete="email"' in reset
    assert mail.outbox[0].subject == "Choose a new password for the GNE myopathy registry"
    assert "Your username is: patient.pat" in mail.outbox[0].body
    assert 'autocomplete="new-password"' in form_page and 'autocomplete="username"' in form_page
    assert "This reset link does not work" in bad_link
    assert 'autocomplete="current-password"' in change
    assert 'class="error-summary"' in weak and 'href="#id_old_password"' in weak
