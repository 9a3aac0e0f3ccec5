"""Property-based run of every operation in /api/schema/: no 5xx, and responses match the schema.

Cases are generated from the OpenAPI document the app serves and sent in-process through the WSGI
application, authenticated as staff (the role that reaches every operation).
"""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.factories import AssessmentFactory, DiagnosisFactory, PatientFactory

pytestmark = [pytest.mark.django_db, pytest.mark.schemathesis]


# Serving the schema needs no database, so it can be read when the module is collected.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def keep_test_connection_open(db):
    """As Django's test client does: keep the test's connection (and its transaction) open across
    requests, instead of closing it when each request finishes."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(staff_user):
    patient = PatientFactory()  # something for list endpoints to return
    DiagnosisFactory(patient=patient)
    AssessmentFactory(patient=patient)
    return Token.objects.get_or_create(user=staff_user)[0].key


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_matches_its_schema(case, staff_token):
    response = case.call(headers={"Authorization": f"Token {staff_token}"})
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
