"""Property-based run of every operation in /api/schema/: no 5xx, every status code and body as documented.

Cases are generated from the OpenAPI document the app serves and sent in-process through the WSGI
application, authenticated as staff (the role that reaches every operation).
"""

import itertools

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from assessments.models import Milestone
from patients.models import Treatment
from patients.services import genotype_create
from registry.tokens import AuthToken, token_create
from tests.factories import AssessmentFactory, DiagnosisFactory, PatientFactory, UserFactory

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
    """A function giving a staff token that works: generated requests include logging out and revoking
    tokens, so after one of those the next example gets a new token instead of a run of 401s."""
    issued = {"token": ""}

    def live_token() -> str:
        if not AuthToken.objects.filter(user=staff_user, token_key=issued["token"][:15]).exists():
            issued["token"] = token_create(user=staff_user)[1]
        return issued["token"]

    return live_token


def _records() -> dict:
    """One patient with a record of each kind, for generated requests to aim at, and one with none."""
    patient = PatientFactory()
    return {
        "patients": patient,
        "bare_patient": PatientFactory(),
        "token_holder": _token_holder(),
        "diagnoses": DiagnosisFactory(patient=patient),
        "genotypes": genotype_create(patient=patient, data={"allele1": "M712T", "allele2": "c.620A>T"})[0],
        "assessments": AssessmentFactory(patient=patient),
        "milestones": Milestone.objects.create(
            patient=patient, kind="afo", source="reported", date="2015-01-01", date_precision="year"
        ),
        "treatments": Treatment.objects.create(
            patient=patient, kind="sialic_acid", start_date="2019-01-01", start_date_precision="year"
        ),
    }


def _token_holder():
    """A user with a token, for the staff token endpoints to list and revoke."""
    user = UserFactory()
    token_create(user=user)
    return user


@pytest.fixture
def records(db):
    return _records()


_turn = itertools.count()


def _aim_at_real_records(case, records: dict) -> None:
    """Point most generated requests at records that exist, so that they get past "no such record"
    and reach the services' rules; every fourth keeps its random ids and tests the 404 path."""
    if next(_turn) % 4 == 0:
        return
    resource = case.path.split("/")[3]
    if "username" in (case.path_parameters or {}):
        case.path_parameters["username"] = records["token_holder"].username
    if isinstance(case.body, dict) and "patient" in case.body:
        # The first diagnosis or genotype of a patient can only be created for one who has none.
        owner = records["bare_patient"] if resource in ("diagnoses", "genotypes") else records["patients"]
        case.body["patient"] = str(owner.uuid)
    if isinstance(case.body, dict) and "assessment_date" in case.body:
        case.body["assessment_date"] = "2021-06-01"  # inside the patient's life and after onset
    if "id" in (case.path_parameters or {}) and resource in records:
        record = records[resource]
        if not type(record).objects.filter(pk=record.pk).exists():  # deleted by an earlier example
            records.update(_records())
            record = records[resource]
        record.refresh_from_db()
        case.path_parameters["id"] = str(record.uuid)
        case.headers = {**(case.headers or {}), "If-Match": f'"{record.version}"'}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_matches_its_schema(case, staff_token, records):
    _aim_at_real_records(case, records)
    response = case.call(headers={"Authorization": f"Token {staff_token()}"})
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, response_schema_conformance])
