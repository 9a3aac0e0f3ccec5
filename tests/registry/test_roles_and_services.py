import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_superuser_without_groups_has_staff_rights():
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    PatientFactory()
    client = APIClient()
    client.force_authenticate(superuser)

    response = client.get("/api/v1/patients/?count=true")

    assert response.status_code == 200 and response.json()["count"] == 1


def test_user_without_a_role_sees_nothing():
    client = APIClient()
    client.force_authenticate(UserFactory(username="nobody"))
    assert client.get("/api/v1/patients/").status_code == 403


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_check_services_fails_fast_with_how_to_start(settings):
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "PORT": "1"}}
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    with pytest.raises(CommandError) as error:
        call_command("check_services")

    message = str(error.value)
    assert "pg_ctlcluster" in message and "redis-server" in message


def test_check_services_passes_when_both_answer(capsys):
    call_command("check_services")
    assert "reachable" in capsys.readouterr().out
