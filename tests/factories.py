"""Factories build valid records directly; tests of the rules go through the services."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model

from assessments.models import AmbulationClass, Assessment, Source, WheelchairUse
from patients.models import Diagnosis, Genotype, Patient, PatientIdentity, Sex, Site, Zygosity
from patients.services import variant_for
from patients.variants import parse_variant


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("a-long-test-password")


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)

    code = "london"
    name = "London neuromuscular centre"
    country = "GB"


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    sex = Sex.FEMALE
    country = "IL"
    ancestry = factory.LazyFunction(lambda: ["middle_eastern_jewish"])
    identity = factory.RelatedFactory("tests.factories.PatientIdentityFactory", factory_related_name="patient")


class PatientIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientIdentity

    patient = factory.SubFactory(PatientFactory, identity=None)
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    date_of_birth = dt.date(1980, 6, 15)
    email = factory.Faker("email")
    phone = "+44 20 7946 0000"
    national_id = factory.Sequence(lambda n: f"NID{n:06d}")


class DiagnosisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Diagnosis

    patient = factory.SubFactory(PatientFactory)
    genetically_confirmed = True
    onset_date = dt.date(2005, 1, 1)
    onset_date_precision = "year"
    onset_age = 24


class GenotypeFactory(factory.django.DjangoModelFactory):
    """Homozygous for the Middle Eastern founder variant, entered under its legacy name."""

    class Meta:
        model = Genotype

    patient = factory.SubFactory(PatientFactory)
    allele1 = factory.LazyFunction(lambda: variant_for(parse_variant("M712T")))
    allele1_entered_as = "M712T"
    allele1_entered_numbering = "legacy"
    allele2 = factory.SelfAttribute("allele1")
    allele2_entered_as = "M712T"
    allele2_entered_numbering = "legacy"
    zygosity = Zygosity.HOMOZYGOUS


class AssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assessment

    patient = factory.SubFactory(PatientFactory)
    assessment_date = dt.date(2020, 3, 1)
    source = Source.CLINICIAN
    ambulation_class = AmbulationClass.CANE
    wheelchair_use = WheelchairUse.NONE
    falls_count = 2
