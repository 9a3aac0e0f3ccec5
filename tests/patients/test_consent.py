"""Consent as data: versioned documents, per-purpose grants, withdrawal by date."""

import datetime as dt

import pytest

from patients.models import ConsentDocument, ConsentGrant
from patients.selectors import consent_is_active
from patients.services import consent_grant, consent_withdraw
from registry.errors import ValidationError
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def document():
    return ConsentDocument.objects.create(
        code="registry",
        version="2.0",
        title="Registry consent",
        effective_from=dt.date(2020, 1, 1),
        purposes=["research", "recontact"],
    )


def test_each_purpose_is_granted_and_withdrawn_on_its_own(document):
    patient = PatientFactory()
    consent_grant(
        patient=patient, document=document, purposes=["research", "recontact"], granted_on=dt.date(2021, 3, 1)
    )

    withdrawn = consent_withdraw(patient=patient, purpose="research", withdrawn_on=dt.date(2023, 5, 1))

    assert withdrawn == 1
    assert consent_is_active(patient=patient, purpose="research", on=dt.date(2022, 1, 1))
    assert not consent_is_active(patient=patient, purpose="research", on=dt.date(2023, 5, 1))
    assert not consent_is_active(patient=patient, purpose="research", on=dt.date(2021, 2, 28))
    assert consent_is_active(patient=patient, purpose="recontact", on=dt.date(2024, 1, 1))
    assert not consent_is_active(patient=patient, purpose="trial_matching", on=dt.date(2024, 1, 1))


def test_reconsent_after_withdrawal_reopens_the_grant(document):
    patient = PatientFactory()
    consent_grant(patient=patient, document=document, purposes=["research"], granted_on=dt.date(2021, 1, 1))
    consent_withdraw(patient=patient, purpose="research", withdrawn_on=dt.date(2022, 1, 1))

    consent_grant(patient=patient, document=document, purposes=["research"], granted_on=dt.date(2023, 1, 1))

    grant = ConsentGrant.objects.get(patient=patient, purpose="research")
    assert (grant.granted_on, grant.withdrawn_on) == (dt.date(2023, 1, 1), None)


@pytest.mark.parametrize(
    ("purposes", "granted_on", "field"),
    [
        (["trial_matching"], dt.date(2021, 1, 1), "purposes"),  # not asked by this document
        (["research"], dt.date(2019, 6, 1), "granted_on"),  # before the document was in use
        (["research"], dt.date(2999, 1, 1), "granted_on"),
    ],
)
def test_grants_that_cannot_be_right_are_refused(document, purposes, granted_on, field):
    patient = PatientFactory()
    with pytest.raises(ValidationError) as error:
        consent_grant(patient=patient, document=document, purposes=purposes, granted_on=granted_on)
    assert field in error.value.message_dict
    assert not ConsentGrant.objects.exists()


def test_double_grant_and_early_withdrawal_refused(document):
    patient = PatientFactory()
    consent_grant(patient=patient, document=document, purposes=["research"], granted_on=dt.date(2021, 1, 1))

    with pytest.raises(ValidationError):
        consent_grant(patient=patient, document=document, purposes=["research"], granted_on=dt.date(2021, 2, 1))
    with pytest.raises(ValidationError):
        consent_withdraw(patient=patient, purpose="research", withdrawn_on=dt.date(2020, 12, 31))
    assert ConsentGrant.objects.get().withdrawn_on is None
