"""Enrolling a patient (`/staff/enroll/`): the record made through the services, possible duplicates
shown before anything is written, the "different person" override logged, and nothing of another
site's patient shown to a site-limited member."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from patients.models import EnrollmentEvent, EnrollmentStatus, Patient, PatientIdentity
from registry import roles
from registry.audit import EventKind
from registry.dates import today
from registry.models import AuditEvent
from tests import factories
from workspace.duplicates import duplicate_candidates, edit_distance, fold

pytestmark = pytest.mark.django_db

ENROLL = reverse("workspace:enroll")


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def london(db):
    return factories.SiteFactory(code="london")


def _form(**values):
    base = {
        "given_name": "Sara",
        "family_name": "Cohen",
        "date_of_birth": "1984-09-12",
        "sex": "female",
        "email": "",
        "hospital_id": "",
        "country": "GB",
        "site": "",
        "status": "candidate",
        "enrolled_on": "",
    }
    return base | values


def _existing(given="Sara", family="Cohen", birth=dt.date(1984, 9, 12), site=None, **identity):
    patient = factories.PatientFactory(identity=None, site=site)
    PatientIdentity.objects.create(
        patient=patient, given_name=given, family_name=family, date_of_birth=birth, **identity
    )
    return patient


def test_a_new_patient_is_registered_as_a_candidate(staff, staff_user, london):
    response = staff.post(ENROLL, _form(site=london.pk, email="sara@example.org", hospital_id=" LDN-9 "))
    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("workspace:patient", kwargs={"patient": patient.uuid})
    assert (patient.status, patient.site, patient.country.code, patient.sex) == ("candidate", london, "GB", "female")
    identity = patient.identity
    assert (identity.given_name, identity.family_name, identity.date_of_birth) == (
        "Sara",
        "Cohen",
        dt.date(1984, 9, 12),
    )
    assert (identity.email, identity.hospital_id) == ("sara@example.org", "LDN-9")
    event = EnrollmentEvent.objects.get(patient=patient)
    assert (event.status, event.recorded_by) == ("candidate", staff_user)
    assert not AuditEvent.objects.filter(kind=EventKind.DUPLICATE_OVERRIDE).exists()
    # The change is recorded as made from a page, by this member.
    assert patient.history.get().via == "page"
    assert "is registered" in staff.get(response["Location"]).content.decode()


def test_a_patient_can_be_enrolled_at_once_from_a_given_date(staff):
    staff.post(ENROLL, _form(status="enrolled", enrolled_on="2024-03-01"))
    patient = Patient.objects.get()
    assert patient.status == EnrollmentStatus.ENROLLED
    assert list(patient.enrollment_events.values_list("status", "effective_date")) == [
        ("candidate", dt.date(2024, 3, 1)),  # registration dated back to the enrollment (patient_change_status)
        ("enrolled", dt.date(2024, 3, 1)),
    ]


def test_an_enrollment_with_no_date_is_dated_today(staff):
    staff.post(ENROLL, _form(status="enrolled"))
    assert Patient.objects.get().enrollment_events.last().effective_date == today()


def test_errors_come_back_at_their_fields_with_everything_typed(staff):
    future = (today() + dt.timedelta(days=3)).isoformat()
    response = staff.post(ENROLL, _form(date_of_birth=future, given_name="Ëlise"))
    assert response.status_code == 200
    assert not Patient.objects.exists()
    html = response.content.decode()
    # The service's message, at the field, and in the summary linking to it
    assert response.context["form"].errors["date_of_birth"] == ["Date of birth cannot be in the future."]
    assert 'href="#id_date_of_birth"' in html
    assert 'value="Ëlise"' in html
    response = staff.post(ENROLL, _form(email="not-an-email", date_of_birth="15/06/1980"))
    assert set(response.context["form"].errors) == {"email", "date_of_birth"}
    assert 'value="not-an-email"' in response.content.decode()


def test_an_enrollment_date_in_the_future_is_refused_and_nothing_is_written(staff):
    future = (today() + dt.timedelta(days=3)).isoformat()
    response = staff.post(ENROLL, _form(status="enrolled", enrolled_on=future))
    assert "The effective date cannot be in the future." in response.context["form"].errors["enrolled_on"][0]
    assert not Patient.objects.exists()  # the candidate record made first was rolled back


def test_a_candidate_takes_no_enrollment_date(staff):
    response = staff.post(ENROLL, _form(enrolled_on="2024-03-01"))
    assert response.context["form"].errors["enrolled_on"]
    assert not Patient.objects.exists()


def test_an_enrollment_sent_twice_registers_one_patient(staff):
    token = staff.get(ENROLL).context["form"]["submission"].value()

    first = staff.post(ENROLL, _form(submission=token, different_person="on"))
    again = staff.post(ENROLL, _form(submission=token, different_person="on"))  # a double tap

    assert first.status_code == 302 and again.status_code == 302
    assert again["Location"] == f"{reverse('workspace:find')}?q=Cohen"
    assert PatientIdentity.objects.filter(family_name="Cohen").count() == 1


def test_same_name_and_birth_is_shown_as_a_warning_before_anything_is_written(staff):
    existing = _existing()
    response = staff.post(ENROLL, _form(given_name="sara", family_name="COHEN"))
    assert response.status_code == 200
    assert Patient.objects.count() == 1
    html = response.content.decode()
    assert "This person may already be registered" in html
    assert reverse("workspace:patient", kwargs={"patient": existing.uuid}) in html
    assert "Same name and date of birth" in html
    assert response.context["show_override"]
    assert "This is a different person" in html
    assert 'value="COHEN"' in html  # what was typed is kept


def test_ticking_different_person_enrolls_and_logs_the_override_without_names(staff, staff_user):
    existing = _existing()
    response = staff.post(ENROLL, _form(different_person="on"))
    assert response.status_code == 302
    new = Patient.objects.exclude(pk=existing.pk).get()
    event = AuditEvent.objects.get(kind=EventKind.DUPLICATE_OVERRIDE)
    assert (event.user, event.via, event.target_id) == (staff_user, "page", str(new.uuid))
    assert event.detail == {"candidates": [{"patient": str(existing.uuid), "reasons": ["same_name_and_birth"]}]}
    assert "Cohen" not in str(event.detail) and "Sara" not in str(event.detail)


@pytest.mark.parametrize(
    ("existing", "typed", "reason"),
    [
        ({"family": "Kohen"}, {}, "similar_name_and_birth"),  # one letter apart
        ({"given": "Sarah"}, {}, "similar_name_and_birth"),
        ({"family": "Müller"}, {"family_name": "Muller"}, "same_name_and_birth"),  # accents
        ({"family": "Ben-David"}, {"family_name": "Ben David"}, "same_name_and_birth"),  # punctuation
        ({"given": "Cohen", "family": "Sara"}, {}, "same_name_and_birth"),  # given and family swapped
        ({"birth": dt.date(1984, 12, 9)}, {}, "same_name_other_birth"),  # day and month swapped
        ({"given": "Dana", "family": "Levi", "email": "Sara@Example.org"}, {"email": "sara@example.org"}, "same_email"),
        ({"given": "Dana", "family": "Levi", "hospital_id": "TA-100"}, {"hospital_id": "ta-100"}, "same_hospital_id"),
    ],
)
def test_possible_duplicates_are_found(staff_user, existing, typed, reason):
    record = _existing(**existing)
    form = _form(**typed)
    found = duplicate_candidates(
        user=staff_user,
        given_name=form["given_name"],
        family_name=form["family_name"],
        date_of_birth=dt.date.fromisoformat(form["date_of_birth"]),
        email=form["email"],
        hospital_id=form["hospital_id"],
    )
    assert [(candidate.patient, candidate.reasons) for candidate in found] == [(record, (reason,))]


@pytest.mark.parametrize(
    "existing",
    [
        {"given": "Rachel"},  # a sister: same family name and birthday, another given name
        {"given": "Rachel", "birth": dt.date(1988, 1, 1)},  # a sister born another day
        {"family": "Cohn", "birth": dt.date(1990, 1, 1)},  # a similar name, another birthday
        {"given": "Sara", "family": "Levi"},  # same given name and birthday only
    ],
)
def test_other_people_are_not_duplicates(staff_user, existing):
    _existing(**existing)
    found = duplicate_candidates(
        user=staff_user, given_name="Sara", family_name="Cohen", date_of_birth=dt.date(1984, 9, 12)
    )
    assert found == []


def test_an_erased_record_is_not_a_candidate(staff_user):
    erased = _existing()
    Patient.objects.filter(pk=erased.pk).update(erased_at="2024-01-01T00:00:00Z")
    assert (
        duplicate_candidates(
            user=staff_user, given_name="Sara", family_name="Cohen", date_of_birth=dt.date(1984, 9, 12)
        )
        == []
    )


def test_site_limited_staff_are_told_only_that_another_site_has_a_match(client, site_staff_user, london):
    elsewhere = factories.SiteFactory(code="tel-aviv", name="Tel Aviv clinic", country="IL")
    hidden = _existing(site=elsewhere, email="sara.c@example.org", hospital_id="TA-55")
    client.force_login(site_staff_user)
    response = client.post(ENROLL, _form(site=london.pk, email="sara.c@example.org"))
    html = response.content.decode()
    assert "A possible duplicate exists at another site" in html
    assert response.context["candidates"] == []
    assert str(hidden.uuid) not in html and "TA-55" not in html and "Tel Aviv" not in html
    # Going on is allowed, and the override names the hidden record for the foundation team.
    response = client.post(ENROLL, _form(site=london.pk, email="sara.c@example.org", different_person="on"))
    assert response.status_code == 302
    event = AuditEvent.objects.get(kind=EventKind.DUPLICATE_OVERRIDE)
    assert event.detail["candidates"] == [
        {"patient": str(hidden.uuid), "reasons": ["same_email", "same_name_and_birth"]}
    ]


def test_site_limited_staff_must_choose_one_of_their_sites(client, site_staff_user, london):
    elsewhere = factories.SiteFactory(code="tel-aviv", name="Tel Aviv clinic", country="IL")
    client.force_login(site_staff_user)
    response = client.get(ENROLL)
    assert [site.code for site in response.context["form"].fields["site"].queryset] == ["london"]
    assert client.post(ENROLL, _form()).context["form"].errors["site"]
    assert client.post(ENROLL, _form(site=elsewhere.pk)).context["form"].errors["site"]
    assert not Patient.objects.exists()
    assert client.post(ENROLL, _form(site=london.pk)).status_code == 302
    assert Patient.objects.get().site == london


@pytest.mark.parametrize("role", [roles.PATIENT, roles.RESEARCHER])
def test_only_staff_reach_the_page(client, role):
    user = factories.UserFactory(username=f"someone.{role}")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    client.force_login(user)
    assert client.get(ENROLL).status_code == 403
    assert client.post(ENROLL, _form()).status_code == 403
    assert not Patient.objects.exists()


def test_names_are_compared_folded():
    assert fold("  Ben-David ") == "bendavid"
    assert fold("Müller") == fold("MULLER") == "muller"
    assert fold("O'Connor") == "oconnor"
    assert edit_distance("cohen", "kohen", limit=2) == 1
    assert edit_distance("sara", "sarah", limit=2) == 1
    assert edit_distance("abcdefgh", "a", limit=2) == 3  # stops early past the limit


def test_a_common_family_name_does_not_crowd_out_the_same_birth_date(staff_user, monkeypatch):
    monkeypatch.setattr("workspace.duplicates.MAX_ROWS_COMPARED", 3)
    for number in range(5):
        _existing(given=f"Other{number}", birth=dt.date(1950 + number, 1, 1))
    same = _existing(given="Sarah")
    found = duplicate_candidates(
        user=staff_user, given_name="Sara", family_name="Cohen", date_of_birth=dt.date(1984, 9, 12)
    )
    assert [candidate.patient for candidate in found] == [same]
