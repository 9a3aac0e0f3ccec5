"""Everything under /api/ answers bad input with a 4xx in the one JSON error shape, never a 500 or
an HTML page (each case here was a 500 or HTML when the running API was probed)."""

import json
import subprocess
import sys

import pytest
from django.test import Client

from patients.models import Patient, PatientIdentity
from tests import factories

pytestmark = pytest.mark.django_db

PATIENTS = "/api/v1/patients/"


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status
    assert error["code"] and error["message"]
    return error


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/patients/not-a-uuid/",
        "/api/v1/assessments/123/",
        "/api/v1/no-such-resource/",
        "/api/v2/patients/",
        "/api/",
    ],
)
def test_a_path_that_matches_no_route_is_a_json_404(staff_client, path):
    assert_json_error(staff_client.get(path), 404)


def test_pages_outside_the_api_keep_their_html_404(staff_client):
    response = staff_client.get("/no-such-page/")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_json_body_over_the_upload_limit_is_413_and_nothing_is_written(staff_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"sex": "female", "country": "IL", "identity": {"postal_address": "x" * 20_000}}

    error = assert_json_error(staff_client.post(PATIENTS, body, format="json"), 413)

    assert "too large" in error["message"]
    assert not Patient.objects.exists()


def test_a_form_body_over_the_upload_limit_is_413_on_the_token_endpoint(anonymous_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000

    response = anonymous_client.post(
        "/api/v1/auth/token/", f"username=a&password={'x' * 20_000}", content_type="application/x-www-form-urlencoded"
    )

    assert_json_error(response, 413)


def test_the_token_endpoint_refuses_absurd_nesting_with_a_400(anonymous_client):
    response = anonymous_client.post("/api/v1/auth/token/", "[" * 100_000, content_type="application/json")

    assert "nested too deeply" in assert_json_error(response, 400)["message"]


def test_the_token_endpoint_names_the_missing_fields(anonymous_client):
    error = assert_json_error(anonymous_client.post("/api/v1/auth/token/", {}, format="json"), 400)

    assert set(error["fields"]) == {"username", "password"}


@pytest.mark.parametrize("field", ["sex", "consanguinity"])
def test_a_lone_surrogate_in_a_choice_field_is_a_field_error(staff_client, field):
    body = {"sex": "female", "country": "IL", field: "\ud800"}

    response = staff_client.post(PATIENTS, json.dumps(body), content_type="application/json")

    error = assert_json_error(response, 400)
    assert list(error["fields"]) == [field]
    assert "surrogate" in error["fields"][field][0]
    assert not Patient.objects.exists()


def test_a_lone_surrogate_in_free_text_is_refused_before_the_database(staff_client):
    body = {"sex": "female", "country": "IL", "identity": {"given_name": "Ana\udfff"}}

    response = staff_client.post(PATIENTS, json.dumps(body), content_type="application/json")

    assert list(assert_json_error(response, 400)["fields"]) == ["identity.given_name"]
    assert not PatientIdentity.objects.exists()


def test_paired_surrogates_and_other_unicode_are_stored_as_typed(staff_client):
    name = "Zoë 🦶 Nguyễn ‮عربى"
    body = {"sex": "female", "country": "IL", "identity": {"given_name": name}}

    response = staff_client.post(PATIENTS, body, format="json")

    assert response.status_code == 201, response.content
    assert PatientIdentity.objects.get().given_name == name


@pytest.mark.parametrize("header", ["Token abc\x00def", "Token " + "a" * 39 + "\x00", "Token ünïcode", "Token"])
def test_a_malformed_token_header_is_401(header):
    response = Client().get(PATIENTS, HTTP_AUTHORIZATION=header)

    assert_json_error(response, 401)


def test_an_unexpected_error_is_a_json_500_and_is_logged(staff_user, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr("patients.services.patient_create", broken)
    client = Client(raise_request_exception=False)
    client.force_login(staff_user)

    response = client.post(PATIENTS, {"sex": "female", "country": "IL"}, content_type="application/json")

    error = assert_json_error(response, 500)
    assert "planted" not in error["message"]  # no internals leak to the client
    assert any("planted failure" in str(record.exc_info) for record in caplog.records if record.exc_info)


def test_a_delete_of_a_record_already_gone_is_404(staff_client):
    treatment = factories.PatientFactory().treatments.create(
        kind="sialic_acid", start_date="2020-01-01", start_date_precision="year"
    )
    url = f"/api/v1/treatments/{treatment.uuid}/"
    assert staff_client.delete(url, HTTP_IF_MATCH='"1"').status_code == 204

    assert_json_error(staff_client.delete(url, HTTP_IF_MATCH='"1"'), 404)


def test_a_worker_never_falls_back_to_the_local_settings():
    env = {"PATH": "/usr/bin:/bin"}
    code = "from config.celery_app import app; print(app.conf.broker_url)"

    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "DJANGO_SETTINGS_MODULE" in result.stderr


def test_password_guessing_on_the_token_endpoint_is_throttled(anonymous_client, staff_user):
    """Guesses spread over many usernames from one address: the per-address rate limit stops them
    (one username guessed again and again is locked out sooner: tests/portal/test_lockout.py)."""
    statuses = [
        anonymous_client.post("/api/v1/auth/token/", {"username": f"user-{n}", "password": "guess"}).status_code
        for n in range(12)
    ]

    assert statuses[:10] == [400] * 10
    error = assert_json_error(
        anonymous_client.post("/api/v1/auth/token/", {"username": "staff.sam", "password": "a-long-test-password"}),
        429,
    )
    assert statuses[10:] == [429, 429]
    assert "throttled" in error["code"]


@pytest.mark.parametrize("debug", [False, True])
def test_a_write_to_a_path_without_its_trailing_slash_is_a_404_naming_the_right_path(staff_client, settings, debug):
    settings.DEBUG = debug  # in DEBUG, Django's own redirect would raise instead

    response = staff_client.post("/api/v1/patients", {"sex": "female", "country": "IL"}, format="json")

    assert "/api/v1/patients/" in assert_json_error(response, 404)["message"]
    assert not Patient.objects.exists()
