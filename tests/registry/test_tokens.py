"""API tokens (docs/accounts.md, "API tokens"): stored hashed, expiring, revocable by their owner, by
staff and by a password change; and Argon2 for passwords."""

import datetime as dt
import hashlib
import re
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from config.settings import base
from registry.tokens import AuthToken, token_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
NEW_PASSWORD = "another-long-passphrase-42"
TOKEN = "/api/v1/auth/token/"
OWN_TOKENS = "/api/v1/auth/tokens/"
ROLES = ["staff", "patient", "researcher", "anonymous"]


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def works(token: str) -> bool:
    """Whether the token opens the API (the variant catalogue needs only a login)."""
    status = client_with(token).get("/api/v1/variants/").status_code
    assert status in (200, 401)
    return status == 200


def user_tokens(user) -> str:
    return f"/api/v1/auth/users/{user.username}/tokens/"


@pytest.fixture
def nurse(db):
    return UserFactory(username="nurse", password=PASSWORD)


# --- Issuing ----------------------------------------------------------------------------------


def test_token_is_issued_with_its_expiry_and_stored_only_as_a_digest(nurse):
    before = timezone.now()
    response = APIClient().post(TOKEN, {"username": "nurse", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiry"}
    token = body["token"]
    stored = AuthToken.objects.get(user=nurse)
    assert stored.digest == hashlib.sha512(token.encode()).hexdigest()
    assert stored.token_key == token[:15]
    assert dt.datetime.fromisoformat(body["expiry"]) == stored.expiry
    assert before + dt.timedelta(hours=12) <= stored.expiry <= timezone.now() + dt.timedelta(hours=12)
    # Nowhere in the table: neither the token nor its part beyond the lookup key.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {AuthToken._meta.db_table}")
        row_text = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert token not in row_text and token[15:] not in row_text
    assert works(token)


def test_form_encoded_login_works_as_in_the_readme(nurse):
    response = APIClient().post(TOKEN, {"username": "nurse", "password": PASSWORD})

    assert response.status_code == 200 and works(response.json()["token"])


def test_a_stale_token_sent_along_does_not_stop_a_new_login(nurse):
    stale, token = token_create(user=nurse)
    AuthToken.objects.filter(digest=stale.digest).update(expiry=timezone.now() - dt.timedelta(minutes=1))

    response = client_with(token).post(TOKEN, {"username": "nurse", "password": PASSWORD}, format="json")

    assert response.status_code == 200 and works(response.json()["token"])


def test_a_login_clears_the_users_expired_tokens_only(nurse):
    expired, _ = token_create(user=nurse)
    AuthToken.objects.filter(digest=expired.digest).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    live, _ = token_create(user=nurse)
    other_expired, _ = token_create(user=UserFactory())
    AuthToken.objects.filter(digest=other_expired.digest).update(expiry=timezone.now() - dt.timedelta(seconds=1))

    token_create(user=nurse)

    remaining = set(AuthToken.objects.values_list("digest", flat=True))
    assert expired.digest not in remaining
    assert {live.digest, other_expired.digest} <= remaining


# --- Expiry -----------------------------------------------------------------------------------


def test_token_works_until_it_expires_then_answers_401_in_the_error_shape(nurse):
    stored, token = token_create(user=nurse)
    expiry = stored.expiry

    with mock.patch("django.utils.timezone.now", return_value=expiry - dt.timedelta(seconds=1)):
        assert works(token)
    with mock.patch("django.utils.timezone.now", return_value=expiry + dt.timedelta(seconds=1)):
        response = client_with(token).get("/api/v1/variants/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    assert "/api/v1/auth/token/" in response.json()["error"]["message"]


def test_using_a_token_does_not_extend_it(nurse):
    stored, token = token_create(user=nurse)

    with mock.patch("django.utils.timezone.now", return_value=stored.expiry - dt.timedelta(hours=1)):
        assert works(token)

    assert AuthToken.objects.get(digest=stored.digest).expiry == stored.expiry


def test_an_expiry_set_in_the_past_ends_the_token(nurse):
    stored, token = token_create(user=nurse)
    AuthToken.objects.filter(digest=stored.digest).update(expiry=timezone.now() - dt.timedelta(seconds=1))

    assert not works(token)


def test_ttl_comes_from_the_setting(nurse, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": dt.timedelta(hours=1)}

    stored, _ = token_create(user=nurse)

    assert stored.expiry - stored.created < dt.timedelta(hours=1, seconds=5)
    assert base.REST_KNOX["TOKEN_TTL"] == dt.timedelta(hours=base.REGISTRY_TOKEN_TTL_HOURS)
    assert base.REST_KNOX["AUTH_HEADER_PREFIX"] == "Token"


# --- Revoking: the owner ----------------------------------------------------------------------


def test_logout_revokes_only_the_token_it_was_sent_with(nurse):
    used, used_token = token_create(user=nurse)
    _, other_token = token_create(user=nurse)

    response = client_with(used_token).delete(TOKEN)

    assert response.status_code == 204 and not response.content
    assert not AuthToken.objects.filter(digest=used.digest).exists()
    assert not works(used_token)
    assert works(other_token)


def test_logout_of_a_session_is_refused_and_revokes_nothing(nurse):
    token_create(user=nurse)
    client = APIClient()
    client.force_login(nurse)

    response = client.delete(TOKEN)

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["non_field_errors"]
    assert AuthToken.objects.filter(user=nurse).count() == 1


def test_revoke_all_of_ones_own_tokens(nurse):
    _, first = token_create(user=nurse)
    _, second = token_create(user=nurse)
    _, someone_elses = token_create(user=UserFactory())

    response = client_with(first).delete(OWN_TOKENS)

    assert response.status_code == 204
    assert not AuthToken.objects.filter(user=nurse).exists()
    assert not works(first) and not works(second)
    assert works(someone_elses)


def test_own_list_shows_live_tokens_without_secrets(nurse):
    live, token = token_create(user=nurse)
    expired, _ = token_create(user=nurse)
    AuthToken.objects.filter(digest=expired.digest).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    token_create(user=UserFactory())

    response = client_with(token).get(OWN_TOKENS)

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert set(row) == {"token_key", "created", "expiry"}
    assert row["token_key"] == live.token_key == token[:15]
    assert live.digest not in response.content.decode() and token not in response.content.decode()


# --- Revoking: staff --------------------------------------------------------------------------


def test_staff_list_a_users_live_tokens_newest_first(staff_client, nurse):
    older, _ = token_create(user=nurse)
    newer, _ = token_create(user=nurse)
    AuthToken.objects.filter(digest=older.digest).update(created=timezone.now() - dt.timedelta(hours=1))
    expired, _ = token_create(user=nurse)
    AuthToken.objects.filter(digest=expired.digest).update(expiry=timezone.now() - dt.timedelta(seconds=1))

    response = staff_client.get(user_tokens(nurse))

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["token_key"] for row in rows] == [newer.token_key, older.token_key]
    assert all(set(row) == {"token_key", "created", "expiry"} for row in rows)
    assert older.digest not in response.content.decode() and newer.digest not in response.content.decode()


def test_staff_revoke_all_of_a_users_tokens(staff_client, nurse):
    _, first = token_create(user=nurse)
    _, second = token_create(user=nurse)
    _, bystander = token_create(user=UserFactory())

    response = staff_client.delete(user_tokens(nurse))

    assert response.status_code == 204
    assert not AuthToken.objects.filter(user=nurse).exists()
    assert not works(first) and not works(second)
    assert works(bystander)


def test_staff_revoke_one_token_by_its_key(staff_client, nurse):
    revoked, revoked_token = token_create(user=nurse)
    _, kept_token = token_create(user=nurse)

    response = staff_client.delete(f"{user_tokens(nurse)}{revoked.token_key}/")
    again = staff_client.delete(f"{user_tokens(nurse)}{revoked.token_key}/")

    assert response.status_code == 204
    assert not works(revoked_token) and works(kept_token)
    assert again.status_code == 404 and again.json()["error"]["status"] == 404


def test_a_key_of_another_users_token_is_not_found(staff_client, nurse):
    someone_elses, token = token_create(user=UserFactory())

    response = staff_client.delete(f"{user_tokens(nurse)}{someone_elses.token_key}/")

    assert response.status_code == 404
    assert works(token)


@pytest.mark.parametrize("method", ["get", "delete"])
def test_an_unknown_user_is_not_found(staff_client, method):
    response = getattr(staff_client, method)("/api/v1/auth/users/nobody/tokens/")

    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


@pytest.mark.parametrize("username", ["a%00b", "%F0%9F%94%91", "x" * 151])
def test_a_username_no_account_could_have_is_not_found(staff_client, username):
    response = staff_client.get(f"/api/v1/auth/users/{username}/tokens/")

    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


# The token endpoints against every persona (the access matrix, docs/architecture.md). "target" is
# another user whose tokens the request is about; a refused request must leave them all working.
TOKEN_ENDPOINTS = {
    ("get", "users/{target}/tokens/"): {"staff": 200, "patient": 403, "researcher": 403, "anonymous": 401},
    ("delete", "users/{target}/tokens/"): {"staff": 204, "patient": 403, "researcher": 403, "anonymous": 401},
    ("delete", "users/{target}/tokens/{key}/"): {"staff": 204, "patient": 403, "researcher": 403, "anonymous": 401},
    ("get", "tokens/"): {"staff": 200, "patient": 200, "researcher": 200, "anonymous": 401},
    ("delete", "tokens/"): {"staff": 204, "patient": 204, "researcher": 204, "anonymous": 401},
    ("delete", "token/"): {"staff": 204, "patient": 204, "researcher": 204, "anonymous": 401},
}


@pytest.mark.parametrize(("method", "path"), TOKEN_ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_token_endpoints_access(persona_clients, method, path, role):
    target = UserFactory(username="target.tom")
    target_row, target_token = token_create(user=target)
    url = "/api/v1/auth/" + path.format(target=target.username, key=target_row.token_key)

    response = getattr(persona_clients[role], method)(url)

    expected = TOKEN_ENDPOINTS[(method, path)][role]
    assert response.status_code == expected
    if expected >= 400:
        assert response.json()["error"]["status"] == expected
    revoked_targets_tokens = expected == 204 and path.startswith("users/")
    assert works(target_token) is not revoked_targets_tokens
    if expected == 200:
        rows = response.json()["results"]
        if path.startswith("users/"):
            assert [row["token_key"] for row in rows] == [target_row.token_key]
        else:  # one's own: the persona's client token, never the target's
            assert target_row.token_key not in {row["token_key"] for row in rows} and len(rows) == 1


def test_token_request_needs_no_login_for_any_persona(persona_clients, nurse):
    for role in ROLES:
        response = persona_clients[role].post(TOKEN, {"username": "nurse", "password": PASSWORD}, format="json")
        assert response.status_code == 200, role


# --- A new password revokes every token --------------------------------------------------------


@pytest.fixture
def nurse_tokens(nurse):
    """Two tokens of the nurse, and one of a bystander that must survive the nurse's password change."""
    bystander = UserFactory()
    return [token_create(user=nurse)[1] for _ in range(2)], token_create(user=bystander)[1]


def assert_revoked(nurse, nurse_tokens):
    tokens, bystanders = nurse_tokens
    assert not AuthToken.objects.filter(user=nurse).exists()
    assert not any(works(token) for token in tokens)
    assert works(bystanders)


def test_password_change_page_revokes_the_users_tokens(client, nurse, nurse_tokens):
    client.force_login(nurse)

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    assert_revoked(nurse, nurse_tokens)


def test_password_reset_revokes_the_users_tokens(client, nurse, nurse_tokens):
    client.post(reverse("password_reset"), {"email": nurse.email})
    [message] = mail.outbox
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert all(works(token) for token in nurse_tokens[0])  # asking for a reset changes nothing yet

    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert response.status_code == 302 and response["Location"] == reverse("password_reset_complete")
    assert_revoked(nurse, nurse_tokens)


def test_admin_password_change_revokes_the_users_tokens(client, nurse, nurse_tokens):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)

    response = client.post(
        f"/admin/auth/user/{nurse.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302
    nurse.refresh_from_db()
    assert nurse.check_password(NEW_PASSWORD)
    assert_revoked(nurse, nurse_tokens)


def test_set_password_and_save_revokes_the_users_tokens(nurse, nurse_tokens):
    user = get_user_model().objects.get(pk=nurse.pk)  # as in a shell: a fresh instance
    user.set_password(NEW_PASSWORD)
    assert all(works(token) for token in nurse_tokens[0])  # not before it is saved

    user.save()

    assert_revoked(nurse, nurse_tokens)


def test_saving_a_user_without_a_new_password_keeps_the_tokens(client, nurse, nurse_tokens):
    nurse.email = "nurse@example.com"
    nurse.save()
    client.force_login(nurse)  # a page login updates last_login

    assert all(works(token) for token in nurse_tokens[0])


# --- Argon2 -----------------------------------------------------------------------------------


def test_a_new_password_is_hashed_with_argon2_outside_the_tests(nurse):
    with override_settings(PASSWORD_HASHERS=base.PASSWORD_HASHERS):
        nurse.set_password(NEW_PASSWORD)
        nurse.save()
        nurse.refresh_from_db()

        assert nurse.password.startswith("argon2$argon2id$")
        assert nurse.check_password(NEW_PASSWORD)


def test_an_older_hash_still_works_and_is_rehashed_with_argon2_at_login_keeping_tokens(nurse):
    with override_settings(PASSWORD_HASHERS=base.PASSWORD_HASHERS):
        get_user_model().objects.filter(pk=nurse.pk).update(password=make_password(PASSWORD, hasher="pbkdf2_sha256"))
        _, token = token_create(user=nurse)

        response = Client().post(reverse("login"), {"username": "nurse", "password": PASSWORD})

        assert response.status_code == 302
        nurse.refresh_from_db()
        assert nurse.password.startswith("argon2$")
        assert works(token)  # a rehash of the same password is not a password change


# --- Query counts -----------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [1, 5])
def test_staff_token_list_query_count(staff_client, nurse, django_assert_num_queries, tokens):
    for _ in range(tokens):
        token_create(user=nurse)

    #   1. token authentication with the user and their roles (knox_authtoken joined to auth_user)
    #   2. the caller's site scope: only foundation-wide staff manage other users' tokens (docs/sites.md)
    #   3. the user named in the path
    #   4. the page of their live tokens
    with django_assert_num_queries(4) as captured:
        response = staff_client.get(user_tokens(nurse))

    sqls = [query["sql"] for query in captured.captured_queries]
    assert 'FROM "knox_authtoken" INNER JOIN "auth_user"' in sqls[0] and "string_agg" in sqls[0]
    assert 'FROM "patients_staffsitescope"' in sqls[1]
    assert 'FROM "auth_user" WHERE "auth_user"."username" =' in sqls[2]
    assert 'FROM "knox_authtoken" WHERE ("knox_authtoken"."expiry" >' in sqls[3]
    assert len(response.json()["results"]) == tokens


def test_own_token_list_query_count(nurse, django_assert_num_queries):
    _, token = token_create(user=nurse)
    client = client_with(token)

    #   1. token authentication with the user and their roles; 2. the page of the user's live tokens
    with django_assert_num_queries(2):
        response = client.get(OWN_TOKENS)

    assert len(response.json()["results"]) == 1


def test_token_authentication_is_one_query(nurse, django_assert_num_queries):
    _, token = token_create(user=nurse)
    client = client_with(token)

    # The variant catalogue reads no table: all that runs is the token with its user and roles.
    with django_assert_num_queries(1) as captured:
        client.get("/api/v1/variants/")

    assert 'FROM "knox_authtoken" INNER JOIN "auth_user"' in captured.captured_queries[0]["sql"]
