"""Personas used everywhere (docs/architecture.md, "Personas and the access matrix"): staff, a
patient and another patient, a researcher, and anonymous. Each `*_client` is an API client
authenticated with that persona's token."""

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.test import APIClient

from patients.models import StaffSiteScope
from registry import roles, tokens
from tests import factories
from tests.browser import browser  # noqa: F401 (the headless Chromium fixture of every browser test)


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with no rate-limit history (the token endpoint's throttle lives in the cache)."""
    cache.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The role groups, which a migration creates: a reused test database whose tables an earlier
    transactional test flushed would otherwise lack them."""
    with django_db_blocker.unblock():
        for name in roles.ROLES:
            Group.objects.get_or_create(name=name)


def _user_with_role(username: str, role: str | None):
    user = factories.UserFactory(username=username)
    if role:
        # get_or_create: transactional tests flush the groups the migration made.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def _client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        _, token = tokens.token_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def staff_user(db):
    return _user_with_role("staff.sam", roles.STAFF)


@pytest.fixture
def researcher_user(db):
    return _user_with_role("researcher.rita", roles.RESEARCHER)


@pytest.fixture
def patient_user(db):
    return _user_with_role("patient.pat", roles.PATIENT)


@pytest.fixture
def own_patient(patient_user):
    """The patient record that `patient_user` has claimed."""
    return factories.PatientFactory(account=patient_user)


@pytest.fixture
def other_patient(db):
    return factories.PatientFactory()


@pytest.fixture
def staff_client(staff_user):
    return _client_for(staff_user)


@pytest.fixture
def patient_client(patient_user, own_patient):
    return _client_for(patient_user)


@pytest.fixture
def researcher_client(researcher_user):
    return _client_for(researcher_user)


@pytest.fixture
def anonymous_client():
    return _client_for(None)


@pytest.fixture
def persona_clients(staff_client, patient_client, researcher_client, anonymous_client):
    return {
        "staff": staff_client,
        "patient": patient_client,
        "researcher": researcher_client,
        "anonymous": anonymous_client,
    }


@pytest.fixture
def site_staff_user(db):
    """A staff member limited to the London site (docs/sites.md): sees only London's patients."""
    user = _user_with_role("staff.lena", roles.STAFF)
    scope = StaffSiteScope.objects.create(user=user)
    scope.sites.add(factories.SiteFactory(code="london"))
    return user


@pytest.fixture
def site_patient(db):
    """A patient of the London site, whom `site_staff_user` may see."""
    return factories.PatientFactory(site=factories.SiteFactory(code="london"))


@pytest.fixture
def elsewhere_patient(db):
    """A patient of another site (Tel Aviv), hidden from `site_staff_user`."""
    return factories.PatientFactory(site=factories.SiteFactory(code="tel-aviv", name="Tel Aviv clinic", country="IL"))


@pytest.fixture
def site_staff_client(site_staff_user):
    return _client_for(site_staff_user)
