"""The patient's time zone: chosen on the settings page, stored on the record, put in the session
at login and on change, and used to judge the patient's dates. The dates are checked at a moment
when UTC and Tokyo disagree about the day: 20:00 UTC on 30 June 2024 is 05:00 on 1 July in Tokyo."""

import datetime as dt
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from patients.models import ConsentDocument, ConsentGrant, ConsentPurpose, EnrollmentStatus, Patient
from patients.services import consent_grant, patient_set_time_zone
from portal.middleware import SESSION_KEY
from registry import roles
from registry.errors import ValidationError
from research.cohort import cohort_clean, cohort_patient_ids
from tests import factories

ME = reverse("portal:me")
SETTINGS = reverse("portal:settings")
CONSENT = reverse("portal:consent")
# Still 30 June in UTC (and in the registry's default zone), already 1 July in Tokyo.
EVENING_IN_UTC = dt.datetime(2024, 6, 30, 20, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def at(moment: dt.datetime):
    return mock.patch("django.utils.timezone.now", return_value=moment)


@pytest.fixture
def in_tokyo(own_patient):
    own_patient.time_zone = "Asia/Tokyo"
    own_patient.status = EnrollmentStatus.ENROLLED
    own_patient.save(update_fields=["time_zone", "status"])
    return own_patient


# --- Choosing it ------------------------------------------------------------------------------


def test_the_settings_page_offers_the_zones_grouped_with_the_current_one_chosen(patient_user, in_tokyo):
    content = login(patient_user).get(SETTINGS).content.decode()
    assert '<optgroup label="Asia">' in content and '<optgroup label="Europe">' in content
    assert '<option value="Asia/Tokyo" selected>Tokyo</option>' in content
    assert '<option value="America/Argentina/Buenos_Aires">Argentina / Buenos Aires</option>' in content
    assert "Your dates are judged in the time zone <strong>Asia/Tokyo</strong>" in content


def test_saving_a_zone_stores_it_and_puts_it_in_the_session(patient_user, own_patient):
    client = login(patient_user)
    response = client.post(SETTINGS, {"time_zone": "Pacific/Auckland"}, follow=True)
    assert response.redirect_chain == [(ME, 302)]
    assert "Your time zone is now Pacific/Auckland." in response.content.decode()
    own_patient.refresh_from_db()
    assert own_patient.time_zone == "Pacific/Auckland"
    assert own_patient.version == 2  # a change of the record, like any other
    assert client.session[SESSION_KEY] == "Pacific/Auckland"


def test_a_zone_that_does_not_exist_is_refused_and_nothing_changes(patient_user, in_tokyo):
    client = login(patient_user)
    response = client.post(SETTINGS, {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "There is a problem" in content and 'href="#id_time_zone"' in content
    in_tokyo.refresh_from_db()
    assert in_tokyo.time_zone == "Asia/Tokyo"


def test_choosing_the_default_clears_the_zone_and_the_session(patient_user, in_tokyo):
    client = login(patient_user)
    assert client.session[SESSION_KEY] == "Asia/Tokyo"
    client.post(SETTINGS, {"time_zone": ""})
    in_tokyo.refresh_from_db()
    assert in_tokyo.time_zone == ""
    assert SESSION_KEY not in client.session


def test_the_service_checks_the_name_whatever_page_calls_it(own_patient):
    with pytest.raises(ValidationError) as raised:
        patient_set_time_zone(patient=own_patient, time_zone="Asia/Atlantis")
    assert "time_zone" in raised.value.message_dict
    # Old aliases are real zones, though the page does not list them.
    assert patient_set_time_zone(patient=own_patient, time_zone="Japan").time_zone == "Japan"
    assert Patient.objects.get(pk=own_patient.pk).zone.key == "Japan"


def test_a_zone_set_elsewhere_stays_selectable_on_the_page(patient_user, own_patient):
    patient_set_time_zone(patient=own_patient, time_zone="Japan")
    content = login(patient_user).get(SETTINGS).content.decode()
    assert '<option value="Japan" selected>Japan</option>' in content


# --- Carried in the session -------------------------------------------------------------------


def test_logging_in_puts_the_patients_zone_in_the_session(patient_user, in_tokyo):
    assert login(patient_user).session[SESSION_KEY] == "Asia/Tokyo"


def test_a_login_without_a_zone_or_without_a_record_puts_none(patient_user, own_patient, staff_user):
    assert SESSION_KEY not in login(patient_user).session  # the record's zone is blank
    assert SESSION_KEY not in login(staff_user).session


def test_pages_show_the_time_in_the_patients_zone(patient_user, in_tokyo):
    with at(EVENING_IN_UTC):
        content = login(patient_user).get(SETTINGS).content.decode()
    assert "It is now 05:00 on 1 July 2024 there." in content


# --- Dates judged in it -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Tokyo", "Your follow-up report was due on"),  # already 1 July there
        ("", "Your next follow-up report is due on"),  # still 30 June in UTC
        ("America/Los_Angeles", "Your next follow-up report is due on"),  # 13:00 on 30 June there
    ],
)
def test_whether_the_follow_up_is_due_is_judged_on_the_patients_calendar(patient_user, own_patient, zone, expected):
    own_patient.time_zone = zone
    own_patient.save(update_fields=["time_zone"])
    factories.AssessmentFactory(patient=own_patient, assessment_date=dt.date(2024, 1, 1))  # due 1 July 2024
    with at(EVENING_IN_UTC):
        response = login(patient_user).get(ME)
    assert response.context["home"].today == (dt.date(2024, 7, 1) if zone == "Asia/Tokyo" else dt.date(2024, 6, 30))
    assert expected in response.content.decode()


def test_a_withdrawal_is_dated_on_the_patients_own_calendar(patient_user, in_tokyo):
    document = ConsentDocument.objects.create(
        code="registry-consent",
        version="1.0",
        title="GNE registry participation",
        effective_from=dt.date(2010, 1, 1),
        purposes=list(ConsentPurpose.values),
    )
    consent_grant(patient=in_tokyo, document=document, purposes=["recontact"], granted_on=dt.date(2020, 1, 6))
    with at(EVENING_IN_UTC):
        response = login(patient_user).post(CONSENT, {"purpose": "recontact", "confirm": "on"})
    assert response.status_code == 302
    # 1 July, Tokyo's today: not refused as "in the future" although UTC is still on 30 June.
    assert ConsentGrant.objects.get(patient=in_tokyo).withdrawn_on == dt.date(2024, 7, 1)


def test_a_patient_with_a_broken_zone_name_still_gets_their_page(patient_user, own_patient):
    Patient.objects.filter(pk=own_patient.pk).update(time_zone="Not/A_Zone")  # e.g. written by an import
    response = login(patient_user).get(ME)
    assert response.status_code == 200
    assert "judged in <strong>UTC</strong>" in response.content.decode()


def test_the_zone_a_patient_chose_is_not_shown_to_another_patient(patient_user, in_tokyo):
    other_user = factories.UserFactory(username="patient.other")
    other_user.groups.add(Group.objects.get_or_create(name=roles.PATIENT)[0])
    factories.PatientFactory(account=other_user)
    assert SESSION_KEY not in login(other_user).session


def test_a_withdrawal_east_of_utc_leaves_the_patient_out_of_an_export_built_at_that_moment(patient_user, in_tokyo):
    document = ConsentDocument.objects.create(
        code="registry-consent",
        version="1.0",
        title="GNE registry participation",
        effective_from=dt.date(2010, 1, 1),
        purposes=list(ConsentPurpose.values),
    )
    consent_grant(patient=in_tokyo, document=document, purposes=["research"], granted_on=dt.date(2020, 1, 6))
    cohort = cohort_clean({})
    with at(EVENING_IN_UTC):
        login(patient_user).post(CONSENT, {"purpose": "research", "confirm": "on"})
        # What research.services.export_run does when it builds an export now.
        selected = cohort_patient_ids(cohort, on=timezone.localdate())
    assert in_tokyo.pk not in selected
