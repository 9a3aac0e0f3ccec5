"""Who has not yet re-consented: the list `/staff/reconsent/` and the notice on a patient's page
(docs/consent.md, "Re-consent")."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.models import ConsentDocument, ConsentPurpose
from patients.services import consent_grant
from tests import factories

pytestmark = pytest.mark.django_db

LIST = reverse("workspace:reconsent")


def _document(version, effective_from, *, requires_reconsent=False):
    return ConsentDocument.objects.create(
        code="registry-consent",
        version=version,
        title="Registry consent",
        effective_from=effective_from,
        purposes=["research", "recontact"],
        requires_reconsent=requires_reconsent,
    )


@pytest.fixture
def versions():
    return _document("1.0", dt.date(2018, 1, 1)), _document("2.0", dt.date(2023, 1, 1), requires_reconsent=True)


def _consented(patient, document, purposes=("research", "recontact")):
    consent_grant(patient=patient, document=document, purposes=list(purposes), granted_on=document.effective_from)
    return patient


def _patient(family, site=None):
    patient = factories.PatientFactory(site=site)
    patient.identity.family_name = family
    patient.identity.save()
    return patient


def test_the_list_shows_who_consented_before_and_has_not_answered_the_new_version(client, staff_user, versions):
    old, new = versions
    waiting = _consented(_patient("Avraham"), old)
    _consented(_consented(_patient("Ben-David"), old), new)  # answered the new version
    _consented(_patient("Cohen"), old, ["research"])
    _patient("Dayan")  # never consented: nothing to re-consent from
    client.force_login(staff_user)

    response = client.get(LIST)

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row["family_name"] for row in rows] == ["Avraham", "Cohen"]
    assert rows[0]["purposes"] == [ConsentPurpose.RESEARCH.label, ConsentPurpose.RECONTACT.label]
    assert rows[1]["purposes"] == [ConsentPurpose.RESEARCH.label]
    assert str(rows[0]["patient_uuid"]) == str(waiting.uuid)
    assert reverse("workspace:patient", kwargs={"patient": waiting.uuid}) in response.content.decode()


def test_site_limited_staff_see_only_their_sites_patients(client, site_staff_user, versions):
    old, _new = versions
    london = factories.SiteFactory(code="london")
    elsewhere = factories.SiteFactory(code="tel-aviv", name="Tel Aviv clinic", country="IL")
    _consented(_patient("Ours", site=london), old)
    _consented(_patient("Theirs", site=elsewhere), old)
    client.force_login(site_staff_user)

    rows = client.get(LIST).context["rows"]

    assert [row["family_name"] for row in rows] == ["Ours"]


def test_the_list_costs_the_same_queries_whatever_its_length(client, staff_user, versions):
    old, _new = versions
    client.force_login(staff_user)
    counts = []
    for size in (1, 12):
        for index in range(size):
            _consented(_patient(f"Patient {size}-{index}"), old)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST).status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1]


def test_with_no_document_asking_again_the_page_says_so(client, staff_user):
    _document("1.0", dt.date(2018, 1, 1))
    client.force_login(staff_user)

    response = client.get(LIST)

    assert response.status_code == 200 and response.context["document"] is None
    assert "No consent document asks for consent again" in response.content.decode()


def test_a_superseded_version_asking_again_is_not_listed(client, staff_user, versions):
    _old, new = versions
    latest = _document("3.0", dt.date(2025, 1, 1), requires_reconsent=True)
    client.force_login(staff_user)

    response = client.get(LIST, {"document": new.pk})  # no longer offered: the latest is shown

    assert response.context["documents"] == [latest]
    assert response.context["document"] == latest


def test_the_patients_page_says_they_are_asked_to_consent_again(client, staff_user, versions):
    old, new = versions
    waiting = _consented(_patient("Avraham"), old)
    answered = _consented(_consented(_patient("Ben-David"), old), new)
    client.force_login(staff_user)

    waiting_page = client.get(reverse("workspace:patient", kwargs={"patient": waiting.uuid}))
    answered_page = client.get(reverse("workspace:patient", kwargs={"patient": answered.uuid}))

    assert [(asked.document, asked.purposes) for asked in waiting_page.context["page"].reconsent] == [
        (new, ["research", "recontact"])
    ]
    assert "Asked to consent again under Registry consent v2.0" in waiting_page.content.decode()
    assert answered_page.context["page"].reconsent == []
    assert "Asked to consent again" not in answered_page.content.decode()
