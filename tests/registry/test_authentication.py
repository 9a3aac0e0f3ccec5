"""Token and session authentication, as an API client would use them."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from registry.api.authentication import RoleAwareTokenAuthentication
from registry.tokens import token_create
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_token_from_username_and_password_opens_the_api():
    staff = UserFactory(username="nurse", password="a-long-test-password")
    staff.groups.add(Group.objects.get(name="staff"))
    PatientFactory()
    client = APIClient()

    issued = client.post(
        "/api/v1/auth/token/", {"username": "nurse", "password": "a-long-test-password"}, format="json"
    )
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.json()['token']}")
    listed = client.get("/api/v1/patients/")

    assert issued.status_code == 200
    assert listed.status_code == 200 and len(listed.json()["results"]) == 1


def test_wrong_password_is_a_field_error_not_a_token():
    UserFactory(username="nurse", password="a-long-test-password")

    response = APIClient().post("/api/v1/auth/token/", {"username": "nurse", "password": "wrong"}, format="json")

    assert response.status_code == 400
    assert "token" not in response.json()
    assert response.json()["error"]["fields"]["non_field_errors"]


@pytest.mark.parametrize(
    "token",
    [
        "0123456789abcdef" * 4,  # well formed, never issued
        "0123456789abcdef0123456789abcdef01234567",  # a DRF authtoken key of before knox
        "not-a-token\x00",
    ],
)
def test_unknown_or_malformed_token_is_refused_in_the_error_shape(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    response = client.get("/api/v1/patients/")

    assert response.status_code == 401
    assert response.json()["error"] == {"status": 401, "code": "authentication_failed", "message": "Invalid token."}
    assert response["WWW-Authenticate"] == "Token"


def test_inactive_user_token_is_refused():
    user = UserFactory(username="gone", is_active=False)
    user.groups.add(Group.objects.get(name="staff"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=user)[1]}")
    assert client.get("/api/v1/patients/").status_code == 401


def test_roles_read_with_the_token_match_the_groups():
    user = UserFactory(username="both")
    user.groups.add(Group.objects.get(name="researcher"), Group.objects.get(name="patient"))
    stored, token = token_create(user=user)

    authenticated, used = RoleAwareTokenAuthentication().authenticate_credentials(token.encode())

    assert authenticated._registry_roles == {"researcher", "patient"}
    assert used == stored


def test_session_login_works_and_unsafe_requests_need_csrf():
    staff = UserFactory(username="desk", password="a-long-test-password")
    staff.groups.add(Group.objects.get(name="staff"))
    patient = PatientFactory()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)  # django-axes needs the request, which client.login() does not pass

    read = client.get(f"/api/v1/patients/{patient.uuid}/")
    write = client.patch(f"/api/v1/patients/{patient.uuid}/", {"sex": "male"}, format="json", HTTP_IF_MATCH='"1"')

    assert read.status_code == 200
    assert write.status_code == 403  # no CSRF token: a session cannot be ridden by another site
    patient.refresh_from_db()
    assert patient.version == 1
