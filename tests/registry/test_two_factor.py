"""Two-factor authentication (docs/security.md): setting it up, the code after the password,
recovery codes, turning it off, REGISTRY_REQUIRE_2FA for staff and researchers on the pages, the
admin and the API, and the token endpoint's check."""

import re
import time
from base64 import b32encode

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect
from rest_framework.test import APIClient

from registry import roles
from registry.errors import ValidationError
from registry.twofactor import services
from registry.twofactor.selectors import PENDING_SESSION_KEY
from tests import factories
from tests.browser import new_page, policy_violations, save_screenshot, serious_violations

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
OVERVIEW = reverse("two_factor:overview")
SETUP = reverse("two_factor:setup")
VERIFY = reverse("two_factor:verify")
RECOVERY_CODES = reverse("two_factor:recovery-codes")
DISABLE = reverse("two_factor:disable")
RESEARCH = reverse("research:project-list")
ME = reverse("portal:me")


# --- Scene ------------------------------------------------------------------------------------


class Clock:
    """The time as the authenticator app and django-otp's check both see it. Each new code is taken a
    period (30 s) after the last one, as a person would: a code already used is refused as a replay."""

    def __init__(self):
        self.offset = 0

    def time(self) -> float:
        return time.time() + self.offset


CLOCK = Clock()


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    CLOCK.offset = 0
    monkeypatch.setattr("django_otp.plugins.otp_totp.models.time", CLOCK)
    return CLOCK


def code_from_app(device: TOTPDevice) -> str:
    """The next code an authenticator app holding the device's key shows."""
    CLOCK.offset += device.step
    generator = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    generator.time = CLOCK.time()
    return f"{generator.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    generator = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    generator.time = CLOCK.time()
    return "000000" if generator.token() != 0 else "111111"


def enable_two_factor(user) -> tuple[TOTPDevice, list[str]]:
    """Two-factor set up through the services, as the setup page does."""
    device = services.two_factor_setup_start(user=user)
    return services.two_factor_setup_confirm(user=user, code=code_from_app(device))


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def verified(user, device: TOTPDevice) -> Client:
    client = logged_in(user)
    response = client.post(VERIFY, {"code": code_from_app(device)})
    assert response.status_code == 302, response.content
    return client


@pytest.fixture
def no_throttle(settings):
    """For tests that give a wrong code and then a right one at once (throttling has its own test)."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


@pytest.fixture
def require_2fa(settings):
    settings.REGISTRY_REQUIRE_2FA = True


def is_verified(client) -> bool:
    return DEVICE_ID_SESSION_KEY in client.session


# --- Setting up -------------------------------------------------------------------------------


def test_setup_shows_a_qr_code_and_the_key_and_needs_a_first_code(staff_user, no_throttle):
    client = logged_in(staff_user)

    page = client.get(SETUP)
    device = TOTPDevice.objects.get(user=staff_user)
    key = b32encode(device.bin_key).decode()

    assert page.status_code == 200
    assert not device.confirmed
    assert re.search(r'<svg class="qr-code" aria-hidden="true"[^>]*>.*<path ', page.text, re.DOTALL)
    assert " ".join(key[start : start + 4] for start in range(0, len(key), 4)) in page.text
    assert client.get(SETUP).context["secret"] == page.context["secret"]  # a reload keeps the key scanned

    wrong = client.post(SETUP, {"code": wrong_code(device)})

    assert wrong.status_code == 200
    assert wrong.context["form"].errors == {"code": [services._wrong_authenticator_code()]}
    assert 'class="error-summary"' in wrong.text
    assert not TOTPDevice.objects.filter(user=staff_user, confirmed=True).exists()

    done = client.post(f"{SETUP}?next={RESEARCH}", {"code": code_from_app(device)})

    assert done.status_code == 302 and done["Location"] == f"{RECOVERY_CODES}?next=%2Fresearch%2F"
    device.refresh_from_db()
    assert device.confirmed
    assert is_verified(client)
    assert StaticToken.objects.filter(device__user=staff_user).count() == 10


def test_recovery_codes_are_shown_once(staff_user):
    client = logged_in(staff_user)
    device = services.two_factor_setup_start(user=staff_user)
    client.post(f"{SETUP}?next={RESEARCH}", {"code": code_from_app(device)})
    stored = sorted(StaticToken.objects.filter(device__user=staff_user).values_list("token", flat=True))

    first = client.get(f"{RECOVERY_CODES}?next={RESEARCH}")
    again = client.get(RECOVERY_CODES)

    shown = sorted(code.replace(" ", "") for code in first.context["codes"])
    assert shown == stored and len(shown) == 10
    assert f'href="{RESEARCH}"' in first.text  # then on to the page the person was going to
    assert again.context["codes"] == []
    assert stored[0][:4] not in again.text
    assert "You have 10 unused recovery codes." in again.text


def test_setup_is_refused_a_code_that_is_not_six_digits(staff_user):
    client = logged_in(staff_user)
    client.get(SETUP)

    response = client.post(SETUP, {"code": "abcdefgh"})

    assert response.context["form"].errors == {
        "code": ["Enter the 6-digit code your authenticator app shows for the registry."]
    }


def test_setup_when_already_on_goes_to_the_overview(staff_user):
    device, _codes = enable_two_factor(staff_user)
    client = verified(staff_user, device)

    response = client.get(SETUP)

    assert response.status_code == 302 and response["Location"] == OVERVIEW
    assert TOTPDevice.objects.filter(user=staff_user).count() == 1


# --- After the password: the code -------------------------------------------------------------


def test_login_with_two_factor_asks_for_a_code_before_anything_else(researcher_user):
    device, _codes = enable_two_factor(researcher_user)
    client = Client()

    login = client.post(
        reverse("login"), {"username": researcher_user.username, "password": PASSWORD, "next": RESEARCH}
    )
    blocked = client.get(RESEARCH)

    assert login.status_code == 302 and login["Location"] == RESEARCH
    assert client.session[PENDING_SESSION_KEY] is True
    assert blocked.status_code == 302 and blocked["Location"] == f"{VERIFY}?next=%2Fresearch%2F"
    assert client.get(ME)["Location"].startswith(VERIFY)
    assert client.get(OVERVIEW)["Location"].startswith(VERIFY)
    assert client.get(reverse("password_change"))["Location"].startswith(VERIFY)
    assert not is_verified(client)

    page = client.get(blocked["Location"])
    assert page.status_code == 200 and "Enter your security code" in page.text

    passed = client.post(blocked["Location"], {"code": code_from_app(device)})

    assert passed.status_code == 302 and passed["Location"] == RESEARCH
    assert is_verified(client) and PENDING_SESSION_KEY not in client.session
    assert client.get(RESEARCH).status_code == 200


def test_a_wrong_code_is_a_field_error(researcher_user, no_throttle):
    device, _codes = enable_two_factor(researcher_user)
    client = logged_in(researcher_user)
    wrong = wrong_code(device)

    response = client.post(f"{VERIFY}?next={RESEARCH}", {"code": wrong})
    empty = client.post(VERIFY, {"code": " "})

    assert response.status_code == 200
    assert response.context["form"].errors == {"code": [services._wrong_authenticator_code()]}
    assert f'href="#{response.context["form"]["code"].id_for_label}"' in response.text  # the error summary links to it
    assert empty.context["form"].errors["code"] == [
        "Enter the 6-digit code from your authenticator app, or one of your recovery codes."
    ]
    assert not is_verified(client)
    assert client.get(RESEARCH)["Location"].startswith(VERIFY)


def test_wrong_codes_slow_down_guessing(researcher_user):
    device, _codes = enable_two_factor(researcher_user)
    client = logged_in(researcher_user)
    client.post(VERIFY, {"code": wrong_code(device)})

    right_but_too_soon = client.post(VERIFY, {"code": code_from_app(device)})

    assert right_but_too_soon.context["form"].errors["code"][0].startswith("Too many wrong codes. Wait 1 second")
    assert not is_verified(client)


def test_a_recovery_code_works_once(researcher_user, no_throttle):
    _device, codes = enable_two_factor(researcher_user)
    first = logged_in(researcher_user)

    used = first.post(f"{VERIFY}?next={RESEARCH}", {"code": f"{codes[0][:4]} {codes[0][4:].upper()}"}, follow=True)

    assert used.redirect_chain == [(RESEARCH, 302)]
    assert "You used a recovery code; 9 are left." in used.text
    assert StaticToken.objects.filter(device__user=researcher_user).count() == 9

    second = logged_in(researcher_user)
    again = second.post(VERIFY, {"code": codes[0]})

    assert again.context["form"].errors == {"code": ["That recovery code is not right, or it has already been used."]}
    assert not is_verified(second)
    assert second.post(VERIFY, {"code": codes[1]}).status_code == 302


def test_verify_goes_only_to_pages_of_this_site(researcher_user):
    device, _codes = enable_two_factor(researcher_user)
    client = logged_in(researcher_user)

    response = client.post(f"{VERIFY}?next=https://evil.example/", {"code": code_from_app(device)})

    assert response["Location"] == "/"


def test_pages_needed_to_get_in_or_out_stay_open_before_the_code(researcher_user):
    enable_two_factor(researcher_user)
    client = logged_in(researcher_user)

    assert client.get(reverse("password_reset")).status_code == 200
    assert client.get(reverse("login")).status_code == 200
    assert client.get(VERIFY).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_device_removed_meanwhile_lets_a_waiting_login_through(researcher_user):
    enable_two_factor(researcher_user)
    client = logged_in(researcher_user)
    services.two_factor_disable(user=researcher_user)

    response = client.get(f"{VERIFY}?next={RESEARCH}")

    assert response["Location"] == RESEARCH
    assert client.get(RESEARCH).status_code == 200


# --- New recovery codes, turning it off -------------------------------------------------------


def test_new_recovery_codes_replace_the_old_ones(researcher_user):
    device, old_codes = enable_two_factor(researcher_user)
    client = verified(researcher_user, device)

    made = client.post(RECOVERY_CODES)
    shown = client.get(made["Location"]).context["codes"]

    new_codes = {code.replace(" ", "") for code in shown}
    assert len(new_codes) == 10 and not new_codes & set(old_codes)
    assert set(StaticToken.objects.filter(device__user=researcher_user).values_list("token", flat=True)) == new_codes
    assert StaticDevice.objects.filter(user=researcher_user).count() == 1


def test_changing_two_factor_needs_a_verified_session(researcher_user):
    enable_two_factor(researcher_user)
    client = logged_in(researcher_user)

    for page in (RECOVERY_CODES, DISABLE):
        assert client.get(page)["Location"].startswith(VERIFY)
        assert client.post(page, {"code": "123456"})["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=researcher_user).exists()
    assert StaticToken.objects.filter(device__user=researcher_user).count() == 10


def test_turning_it_off_takes_a_fresh_code(patient_user, own_patient, no_throttle):
    device, _codes = enable_two_factor(patient_user)
    client = verified(patient_user, device)

    refused = client.post(DISABLE, {"code": "12345"})
    done = client.post(DISABLE, {"code": code_from_app(device)}, follow=True)

    assert refused.context["form"].errors == {"code": ["A code from your authenticator app has 6 digits."]}
    assert done.redirect_chain == [(OVERVIEW, 302)]
    assert "Two-factor authentication is off for your account." in done.text
    assert not TOTPDevice.objects.filter(user=patient_user).exists()
    assert not StaticDevice.objects.filter(user=patient_user).exists()
    assert client.get(ME).status_code == 200

    logged_in_again = logged_in(patient_user)
    assert logged_in_again.get(ME).status_code == 200  # the password alone, now


def test_the_registry_team_turns_it_off_for_someone_who_lost_both(researcher_user, capsys):
    enable_two_factor(researcher_user)

    call_command("two_factor_reset", researcher_user.username)

    assert "Two-factor authentication is off for researcher.rita" in capsys.readouterr().out
    assert not TOTPDevice.objects.filter(user=researcher_user).exists()
    assert not StaticToken.objects.filter(device__user=researcher_user).exists()


def test_overview_says_whether_it_is_on(patient_user, own_patient):
    client = logged_in(patient_user)
    assert "Two-factor authentication is off." in client.get(OVERVIEW).text

    device, _codes = enable_two_factor(patient_user)
    client = verified(patient_user, device)
    page = client.get(OVERVIEW).text

    assert "Two-factor authentication is on." in page
    assert "You have 10 unused recovery codes." in page


def test_every_page_links_to_the_two_factor_page(patient_user, own_patient):
    assert f'href="{OVERVIEW}"' in logged_in(patient_user).get(ME).text


# --- Required for staff and researchers (REGISTRY_REQUIRE_2FA) --------------------------------


@pytest.mark.parametrize("persona", ["staff", "researcher"])
def test_required_accounts_without_two_factor_are_sent_to_set_it_up(persona, staff_user, researcher_user, require_2fa):
    user = {"staff": staff_user, "researcher": researcher_user}[persona]
    client = logged_in(user)

    for page in (RESEARCH, reverse("admin:index"), "/"):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith(f"{SETUP}?next="), page
    assert client.get(SETUP).status_code == 200
    assert "Your role in the registry requires two-factor authentication" in client.get(SETUP).text


def test_the_admin_also_asks_a_superuser(require_2fa):
    admin = factories.UserFactory(username="root", is_staff=True, is_superuser=True)
    client = logged_in(admin)

    response = client.get(reverse("admin:index"))

    assert response["Location"] == f"{SETUP}?next=%2Fadmin%2F"


def test_required_account_once_set_up_gets_everywhere(staff_user, require_2fa):
    staff_user.is_staff = True  # may open the admin
    staff_user.save()
    client = logged_in(staff_user)
    device = services.two_factor_setup_start(user=staff_user)
    client.post(SETUP, {"code": code_from_app(device)})

    assert client.get(RESEARCH).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get("/api/v1/patients/").status_code == 200


def test_required_account_with_two_factor_set_up_elsewhere_is_asked_for_a_code(staff_user, require_2fa):
    client = logged_in(staff_user)  # logged in before two-factor was set up in another browser
    enable_two_factor(staff_user)

    to_setup = client.get(RESEARCH)
    to_verify = client.get(to_setup["Location"])

    assert to_setup["Location"].startswith(SETUP)
    assert to_verify["Location"] == f"{VERIFY}?next=%2Fresearch%2F"


def test_patients_are_not_forced(patient_user, own_patient, require_2fa):
    client = logged_in(patient_user)

    assert client.get(ME).status_code == 200
    assert client.get(f"/api/v1/patients/{own_patient.uuid}/").status_code == 200


@pytest.mark.parametrize(
    ("has_device", "message"),
    [
        (False, "This account must use two-factor authentication: set it up at /accounts/two-factor/setup/"),
        (True, "This session has not passed two-factor authentication"),
    ],
)
def test_session_api_calls_before_the_second_factor_are_refused(staff_user, require_2fa, has_device, message):
    if has_device:
        enable_two_factor(staff_user)
    client = logged_in(staff_user)

    response = client.get("/api/v1/patients/")

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "two_factor_required"
    assert error["message"].startswith(message)


def test_nothing_is_forced_when_not_required(staff_user, researcher_user):
    staff_user.is_staff = True  # may open the admin
    staff_user.save()
    for user in (staff_user, researcher_user):
        client = logged_in(user)
        assert client.get(RESEARCH).status_code == 200
        assert client.get("/api/v1/research/projects/").status_code == 200
    assert logged_in(staff_user).get(reverse("admin:index")).status_code == 200


# --- The API's token endpoint -----------------------------------------------------------------


def otp_error(user, otp) -> str | None:
    try:
        services.token_second_factor_check(user=user, otp=otp)
    except ValidationError as error:
        return error.message_dict["otp"][0]
    return None


def test_token_needs_a_code_from_required_accounts(staff_user, require_2fa, no_throttle):
    assert otp_error(staff_user, None).startswith("This account must use two-factor authentication and has not")

    device, codes = enable_two_factor(staff_user)

    assert otp_error(staff_user, None) == (
        "Enter the 6-digit code from your authenticator app, or one of your recovery codes."
    )
    assert otp_error(staff_user, wrong_code(device)) == (services._wrong_authenticator_code())
    assert otp_error(staff_user, code_from_app(device)) is None
    assert otp_error(staff_user, codes[0]) is None
    assert otp_error(staff_user, codes[0]) == "That recovery code is not right, or it has already been used."


def test_token_needs_no_code_from_patients_without_two_factor(patient_user, researcher_user, require_2fa):
    assert otp_error(patient_user, None) is None
    assert otp_error(researcher_user, None) is not None


def test_token_needs_a_code_from_anyone_with_two_factor_even_when_not_required(patient_user, staff_user):
    assert otp_error(staff_user, None) is None  # not required, not set up
    device, _codes = enable_two_factor(patient_user)

    assert otp_error(patient_user, "") is not None
    assert otp_error(patient_user, code_from_app(device)) is None


TOKEN = "/api/v1/auth/token/"


def ask_for_token(user, **otp):
    return APIClient().post(TOKEN, {"username": user.username, "password": PASSWORD, **otp}, format="json")


def test_token_endpoint_refuses_staff_a_token_on_a_password_alone(staff_user, require_2fa):
    not_set_up = ask_for_token(staff_user)
    device, _codes = enable_two_factor(staff_user)
    without_code = ask_for_token(staff_user)
    with_code = ask_for_token(staff_user, otp=code_from_app(device))

    for refused in (not_set_up, without_code):
        assert refused.status_code == 400
        assert "token" not in refused.json()
        assert list(refused.json()["error"]["fields"]) == ["otp"]
    assert without_code.json()["error"]["fields"]["otp"] == [
        "Enter the 6-digit code from your authenticator app, or one of your recovery codes."
    ]
    assert with_code.status_code == 200
    token = with_code.json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/patients/").status_code == 200


def test_token_endpoint_checks_the_password_before_the_code(staff_user, require_2fa):
    device, _codes = enable_two_factor(staff_user)
    code = code_from_app(device)

    response = APIClient().post(
        TOKEN, {"username": staff_user.username, "password": "wrong", "otp": code}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["non_field_errors"]
    # The code was not even looked at: not used up, and not counted as a wrong guess.
    assert ask_for_token(staff_user, otp=code).status_code == 200


def test_token_endpoint_needs_no_code_from_a_patient_without_two_factor(patient_user, require_2fa):
    assert ask_for_token(patient_user).status_code == 200


# --- In a browser -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_setting_up_two_factor_in_a_browser(browser, live_server, settings):
    """Under the site's Content-Security-Policy, with no violation reported: log in, set up with the
    key typed from the page (as someone without a camera would), save the codes, log in again."""
    settings.REGISTRY_REQUIRE_2FA = True
    user = factories.UserFactory(username="staff.sam", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=roles.STAFF)[0])
    page = new_page(browser, live_server)
    violations = policy_violations(page)

    page.goto(RESEARCH)
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor authentication")
    assert serious_violations(page) == []
    save_screenshot(page, "two-factor-setup.png")
    key = page.locator(".secret-key code").inner_text().replace(" ", "")
    device = TOTPDevice.objects.get(user=user)
    assert key == b32encode(device.bin_key).decode()
    page.get_by_label("Code from the app").fill(wrong_code(device))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right.")
    time.sleep(1.1)  # the one-second pause after a wrong code
    page.get_by_label("Code from the app").fill(code_from_app(device))
    page.get_by_role("button", name="Turn on two-factor authentication").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Recovery codes")
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    assert serious_violations(page) == []
    save_screenshot(page, "two-factor-recovery-codes.png")
    page.get_by_role("link", name="I have saved my recovery codes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Research projects")

    page.get_by_role("button", name="Log out").click()
    page.goto(RESEARCH)
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your security code")
    assert serious_violations(page) == []
    page.get_by_label("Security code").fill(code_from_app(device))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Research projects")
    assert violations == []
