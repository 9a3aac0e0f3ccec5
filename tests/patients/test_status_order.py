"""A status change may not be dated before the previous one; the same day is allowed.

Only changes after the first real transition are tested here: the first transition out of the
automatic "Registered" candidate event may carry an earlier real date (the candidate event is
re-dated), so ordering against that event is a rule of its own.
"""

import datetime as dt

import pytest

from patients import services
from patients.models import EnrollmentEvent, EnrollmentStatus
from registry.dates import today
from registry.errors import ValidationError
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

ENROLLED, WITHDRAWN = EnrollmentStatus.ENROLLED, EnrollmentStatus.WITHDRAWN
LOST, DECEASED = EnrollmentStatus.LOST_TO_FOLLOW_UP, EnrollmentStatus.DECEASED
IDENTITY = {"given_name": "Ada", "family_name": "Levi", "date_of_birth": dt.date(1980, 6, 15)}


def change(patient, status, when):
    return services.patient_change_status(patient=patient, status=status, effective_date=when)


def change_refused(patient, status, when) -> str:
    """Assert the change is refused on effective_date and leaves the patient as it was."""
    patient.refresh_from_db()
    before = (patient.status, patient.version, EnrollmentEvent.objects.filter(patient=patient).count())
    with pytest.raises(ValidationError) as info:
        change(patient, status, when)
    assert "effective_date" in info.value.message_dict, info.value.message_dict
    patient.refresh_from_db()
    assert (patient.status, patient.version, EnrollmentEvent.objects.filter(patient=patient).count()) == before
    return info.value.message_dict["effective_date"][0]


def statuses(patient) -> list[tuple[str, dt.date]]:
    events = EnrollmentEvent.objects.filter(patient=patient).order_by("effective_date", "id")
    return list(events.values_list("status", "effective_date"))


def test_registered_patient_enrolled_today_cannot_be_withdrawn_yesterday():
    patient = services.patient_create(data={"country": "IL"}, identity=IDENTITY)
    change(patient, ENROLLED, today())

    message = change_refused(patient, WITHDRAWN, today() - dt.timedelta(days=1))

    assert str(today()) in message
    assert change(patient, WITHDRAWN, today()).status == WITHDRAWN  # the same day is allowed


def test_withdrawal_dated_before_enrollment_refused_the_same_day_allowed():
    patient = PatientFactory()
    change(patient, ENROLLED, dt.date(2024, 2, 1))

    change_refused(patient, WITHDRAWN, dt.date(2024, 1, 31))
    change(patient, WITHDRAWN, dt.date(2024, 2, 1))

    patient.refresh_from_db()
    assert patient.status == WITHDRAWN
    assert statuses(patient) == [(ENROLLED, dt.date(2024, 2, 1)), (WITHDRAWN, dt.date(2024, 2, 1))]


def test_each_change_is_ordered_after_the_latest_one_not_the_first():
    patient = PatientFactory()
    change(patient, ENROLLED, dt.date(2024, 2, 1))
    change(patient, LOST, dt.date(2024, 6, 1))

    # After the enrollment but before the loss to follow-up: still refused.
    change_refused(patient, ENROLLED, dt.date(2024, 3, 1))
    change_refused(patient, WITHDRAWN, dt.date(2024, 5, 31))
    change(patient, ENROLLED, dt.date(2024, 6, 1))
    change(patient, WITHDRAWN, dt.date(2024, 9, 1))
    change_refused(patient, ENROLLED, dt.date(2024, 8, 31))

    assert [status for status, _ in statuses(patient)] == [ENROLLED, LOST, ENROLLED, WITHDRAWN]


def test_death_dated_before_the_last_change_refused_and_death_date_untouched():
    patient = PatientFactory()
    change(patient, ENROLLED, dt.date(2024, 2, 1))

    change_refused(patient, DECEASED, dt.date(2024, 1, 31))

    patient.identity.refresh_from_db()
    assert patient.identity.date_of_death is None
    change(patient, DECEASED, dt.date(2024, 2, 1))
    patient.identity.refresh_from_db()
    assert patient.identity.date_of_death == dt.date(2024, 2, 1)


def _post_status(client, patient, status, when):
    return client.post(
        f"/api/v1/patients/{patient.uuid}/status/", {"status": status, "effective_date": str(when)}, format="json"
    )


def test_api_refuses_a_status_change_dated_before_the_previous_one(staff_client):
    patient = PatientFactory()
    assert _post_status(staff_client, patient, ENROLLED, dt.date(2024, 2, 1)).status_code == 201

    earlier = _post_status(staff_client, patient, WITHDRAWN, dt.date(2024, 1, 31))

    assert earlier.status_code == 400, earlier.json()
    assert "effective_date" in earlier.json()["error"]["fields"]
    patient.refresh_from_db()
    assert (patient.status, EnrollmentEvent.objects.filter(patient=patient).count()) == (ENROLLED, 1)

    same_day = _post_status(staff_client, patient, WITHDRAWN, dt.date(2024, 2, 1))
    assert same_day.status_code == 201, same_day.json()
    assert same_day.json()["status"] == WITHDRAWN


def test_api_registered_patient_enrolled_today_cannot_be_withdrawn_yesterday(staff_client):
    created = staff_client.post(
        "/api/v1/patients/",
        {"sex": "female", "country": "IL", "identity": {"given_name": "Ada", "date_of_birth": "1980-06-15"}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    patient = PatientFactory._meta.model.objects.get(uuid=created.json()["id"])
    assert _post_status(staff_client, patient, ENROLLED, today()).status_code == 201

    yesterday = _post_status(staff_client, patient, WITHDRAWN, today() - dt.timedelta(days=1))

    assert yesterday.status_code == 400, yesterday.json()
    assert "effective_date" in yesterday.json()["error"]["fields"]
    assert _post_status(staff_client, patient, WITHDRAWN, today()).status_code == 201
