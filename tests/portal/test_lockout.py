"""Login throttling (django-axes): after five wrong passwords for one username from one address,
even the right password is refused until the cool-off is over, on every way in: the login page,
the admin's login page and the API token endpoint. Pages explain it, the API answers in its error shape."""

import datetime as dt
import json

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import AnonymousUser, Group
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from registry import roles
from registry.lockout import lockout_response
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
LIMIT = 5
COOL_OFF_MINUTES = 15
LOGIN = reverse("login")
ADMIN_LOGIN = "/admin/login/"
TOKEN = "/api/v1/auth/token/"


@pytest.fixture
def nurse(db):
    user = factories.UserFactory(username="nurse", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=roles.STAFF)[0])
    return user


def page_login(client, path, password):
    return client.post(path, {"username": "nurse", "password": password})


def token_login(client, password):
    return client.post(TOKEN, {"username": "nurse", "password": password}, format="json")


def fail_until_locked(send) -> list:
    return [send("wrong password") for _ in range(LIMIT)]


def end_cool_off():
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=COOL_OFF_MINUTES + 1))


@pytest.mark.parametrize("path", [LOGIN, ADMIN_LOGIN])
def test_a_page_login_is_locked_after_five_failures_with_a_clear_page(nurse, path):
    client = Client()

    failures = fail_until_locked(lambda password: page_login(client, path, password))
    right = page_login(client, path, PASSWORD)

    assert [response.status_code for response in failures[:-1]] == [200] * (LIMIT - 1)  # the form again
    for response in (failures[-1], right):
        assert response.status_code == 429
        assert response["Retry-After"] == str(COOL_OFF_MINUTES * 60)
        page = response.content.decode()
        assert "Too many failed attempts" in page
        assert f"Try again in {COOL_OFF_MINUTES} minutes" in page
        assert f'href="{reverse("password_reset")}"' in page
        assert 'class="skip-link"' in page  # the registry's layout
    assert "_auth_user_id" not in client.session  # the right password did not log in


@pytest.mark.parametrize("path", [LOGIN, ADMIN_LOGIN])
def test_the_right_password_works_again_after_the_cool_off(nurse, path):
    client = Client()
    fail_until_locked(lambda password: page_login(client, path, password))
    end_cool_off()

    response = page_login(client, path, PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(nurse.pk)


def test_fewer_failures_than_the_limit_lock_nothing_and_a_success_starts_again(nurse):
    client = Client()
    for _ in range(LIMIT - 1):
        page_login(client, LOGIN, "wrong password")

    first = page_login(client, LOGIN, PASSWORD)
    client.logout()
    for _ in range(LIMIT - 1):
        page_login(client, LOGIN, "wrong password")
    second = page_login(client, LOGIN, PASSWORD)

    assert first.status_code == second.status_code == 302


def test_another_account_from_the_same_address_is_not_locked(nurse):
    factories.UserFactory(username="desk", password=PASSWORD)
    client = Client()
    fail_until_locked(lambda password: page_login(client, LOGIN, password))

    response = client.post(LOGIN, {"username": "desk", "password": PASSWORD})

    assert response.status_code == 302


def test_the_api_token_is_refused_while_locked_even_with_the_right_password(nurse):
    client = APIClient()
    fail_until_locked(lambda password: token_login(client, password))

    right = token_login(client, PASSWORD)

    assert right.status_code in (400, 429)
    assert "token" not in right.json()
    end_cool_off()
    assert "token" in token_login(client, PASSWORD).json()


def test_the_api_token_endpoint_answers_429_in_the_error_shape_while_locked(nurse):
    client = APIClient()
    fail_until_locked(lambda password: token_login(client, password))

    right = token_login(client, PASSWORD)

    assert right.status_code == 429
    assert right.json()["error"]["code"] == "locked_out"


def test_the_api_lockout_answer_is_the_registrys_error_shape():
    request = RequestFactory().post(TOKEN, {"username": "nurse", "password": "x"})

    response = lockout_response(request, None, {"username": "nurse"})

    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == str(COOL_OFF_MINUTES * 60)
    error = json.loads(response.content)["error"]
    assert error == {
        "status": 429,
        "code": "locked_out",
        "message": f"Too many failed login attempts. Try again in {COOL_OFF_MINUTES} minutes, or reset your password.",
    }


def test_the_cool_off_and_limit_come_from_the_settings(settings):
    settings.AXES_COOLOFF_TIME = 1 / 60  # one minute, in hours as axes reads it
    settings.AXES_FAILURE_LIMIT = 3
    request = RequestFactory().post(LOGIN)
    request.user = AnonymousUser()

    response = lockout_response(request, None, {"username": "nurse"})

    assert response["Retry-After"] == "60"
    assert "after 3 wrong passwords. Try again in 1 minute." in response.content.decode()


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/api/v1/auth/token/"])
def test_an_absurdly_long_username_is_refused_like_any_wrong_login(path):
    response = Client().post(path, {"username": "x" * 100_000, "password": "guess"})

    assert response.status_code in (200, 400)  # the form again, or the API's field errors
    assert AccessAttempt.objects.get().username == "x" * 150
