"""Cohort definitions: what cohort_clean accepts and refuses, and whom cohort_patient_ids selects."""

import datetime as dt

import pytest

from assessments.models import AmbulationClass
from patients.selectors import consent_is_active
from registry.errors import ValidationError
from research.cohort import cohort_clean, cohort_patient_ids

pytestmark = pytest.mark.django_db

ON = dt.date(2026, 1, 15)


def _errors(data) -> dict:
    with pytest.raises(ValidationError) as raised:
        cohort_clean(data)
    return raised.value.message_dict


def test_an_empty_definition_is_every_enrolled_or_lost_patient():
    assert cohort_clean({}) == {
        "genotype_group": "",
        "domain_pair": "",
        "variant": "",
        "onset_age_min": None,
        "onset_age_max": None,
        "countries": [],
        "regions": [],
        "baseline_ambulation": [],
        "assessed_from": None,
        "assessed_to": None,
        "statuses": ["enrolled", "lost_to_follow_up"],
    }


def test_definitions_that_mean_the_same_are_stored_the_same():
    one = cohort_clean(
        {"domain_pair": "kinase/epimerase", "countries": ["jp", "IL", "JP"], "regions": ["western asia"]}
    )
    other = cohort_clean({"domain_pair": "epimerase/kinase", "countries": ["IL", "JP"], "regions": ["Western Asia"]})

    assert one == other
    assert one["domain_pair"] == "epimerase/kinase"
    assert one["countries"] == ["IL", "JP"]


def test_a_variant_is_read_in_either_numbering():
    assert cohort_clean({"variant": "c.2228T>C"})["variant"] == "c.2228T>C"
    # The legacy name of the founder variant: read as legacy, kept in current numbering.
    assert cohort_clean({"variant": "M712T"})["variant"] == "p.(Met743Thr)"


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"variant": "M999Q"}, "cohort.variant", "M999Q"),
        ({"variant": "c.99999A>G"}, "cohort.variant", "99999"),
        ({"onset_age_min": 40, "onset_age_max": 20}, "cohort.onset_age_max", "below the lowest (40)"),
        ({"onset_age_min": -1}, "cohort.onset_age_min", "from 0 to 120"),
        ({"countries": ["XX", "IL"]}, "cohort.countries", "XX"),
        ({"countries": "IL"}, "cohort.countries", "list"),
        ({"regions": ["Atlantis"]}, "cohort.regions", "Atlantis"),
        ({"genotype_group": "heterozygous"}, "cohort.genotype_group", "homozygous_founder"),
        ({"domain_pair": "kinase"}, "cohort.domain_pair", "two domains"),
        ({"domain_pair": "kinase/kinase", "genotype_group": "single_variant"}, "cohort.domain_pair", "two alleles"),
        ({"baseline_ambulation": [9]}, "cohort.baseline_ambulation", "0 = Walks unaided"),
        ({"assessed_from": "2021-02-30"}, "cohort.assessed_from", "YYYY-MM-DD"),
        ({"assessed_from": "2022-01-01", "assessed_to": "2021-01-01"}, "cohort.assessed_to", "before it starts"),
        ({"statuses": ["withdrawn"]}, "cohort.statuses", "never exported"),
        ({"name": "Smith"}, "cohort.name", "Unknown cohort filter"),
    ],
)
def test_bad_definitions_name_the_field_and_the_problem(data, field, fragment):
    errors = _errors(data)

    assert list(errors) == [field]
    assert fragment in errors[field][0]


def test_a_definition_must_be_an_object():
    assert "JSON object" in _errors(["IL"])["cohort"][0]


@pytest.fixture
def scene(export_make_patient):
    """Patients that differ in one respect each from `founder`, the one every filter below keeps."""
    make = export_make_patient
    return {
        "founder": make(),  # homozygous M743T (legacy M712T), IL, onset 24, baseline cane
        "compound": make(
            alleles=("c.620A>T", "c.1807G>C"),
            country="JP",
            onset_age=30,
            visits=((dt.date(2019, 5, 1), AmbulationClass.UNAIDED), (dt.date(2024, 5, 1), AmbulationClass.WALKER)),
        ),
        "kinase_pair": make(alleles=("c.2228T>C", "c.2000T>C p.(Leu667Pro)"), country="GB", onset_age=40),
        "homozygous_private": make(alleles=("c.1225G>A p.(Asp409Asn)", "c.1225G>A p.(Asp409Asn)"), country="IN"),
        "single": make(alleles=("c.1807G>C", None), country="JP", visits=()),
        "legacy_typed": make(alleles=("M712T", "M712T"), country="IR", onset_age=20),
        "lost": make(status="lost_to_follow_up", country="US"),
        "deceased": make(status="deceased"),
        "withdrawn_registry": make(status="withdrawn"),
        "candidate": make(status="candidate"),
        "consent_withdrawn": make(consent_until=ON - dt.timedelta(days=1)),
        "consent_later": make(consent_from=ON + dt.timedelta(days=1)),
        "never_consented": make(consent_from=None),
    }


def _selected(scene, **definition) -> set[str]:
    ids = cohort_patient_ids(cohort_clean(definition), on=ON)
    assert ids == sorted(ids)
    by_id = {patient.pk: name for name, patient in scene.items()}
    return {by_id[pk] for pk in ids}


CONSENTING_ENROLLED = {"founder", "compound", "kinase_pair", "homozygous_private", "single", "legacy_typed", "lost"}


def test_only_patients_with_research_consent_on_the_day_and_an_exportable_status(scene):
    assert _selected(scene) == CONSENTING_ENROLLED
    assert _selected(scene, statuses=["deceased"]) == {"deceased"}


def test_the_consent_rule_agrees_with_the_patients_selector(scene):
    for day in (ON - dt.timedelta(days=1), ON, ON + dt.timedelta(days=1)):
        everyone = cohort_clean({"statuses": ["enrolled", "lost_to_follow_up", "deceased"]})
        selected = set(cohort_patient_ids(everyone, on=day))
        expected = {
            patient.pk
            for patient in scene.values()
            if patient.status in ("enrolled", "lost_to_follow_up", "deceased")
            and consent_is_active(patient=patient, purpose="research", on=day)
        }
        assert selected == expected


def test_genotype_groups(scene):
    assert _selected(scene, genotype_group="homozygous") == {
        "founder",
        "homozygous_private",
        "legacy_typed",
        "lost",
    }
    assert _selected(scene, genotype_group="homozygous_founder") == {"founder", "legacy_typed", "lost"}
    assert _selected(scene, genotype_group="compound_heterozygous") == {"compound", "kinase_pair"}
    assert _selected(scene, genotype_group="single_variant") == {"single"}


def test_domain_pairs_in_either_order(scene):
    assert _selected(scene, domain_pair="kinase/epimerase") == {"compound"}
    assert _selected(scene, domain_pair="kinase/kinase") == {"founder", "kinase_pair", "legacy_typed", "lost"}
    assert _selected(scene, domain_pair="epimerase/epimerase") == {"homozygous_private"}


def test_a_variant_in_either_numbering_finds_it_however_it_was_entered(scene):
    carriers = {"founder", "kinase_pair", "legacy_typed", "lost"}
    assert _selected(scene, variant="M712T") == carriers
    assert _selected(scene, variant="c.2228T>C") == carriers
    assert _selected(scene, variant="p.(Met743Thr)") == carriers
    assert _selected(scene, variant="c.1807G>C") == {"compound", "single"}


def test_onset_age_range_is_inclusive(scene):
    assert _selected(scene, onset_age_min=24, onset_age_max=30) == CONSENTING_ENROLLED - {"kinase_pair", "legacy_typed"}
    assert _selected(scene, onset_age_min=31) == {"kinase_pair"}


def test_countries_and_regions_together(scene):
    assert _selected(scene, countries=["JP"]) == {"compound", "single"}
    assert _selected(scene, regions=["Southern Asia"]) == {"homozygous_private", "legacy_typed"}  # IN and IR
    assert _selected(scene, regions=["Europe"], countries=["US"]) == {"kinase_pair", "lost"}


def test_ambulation_is_the_class_at_the_first_assessment(scene):
    # "compound" walks with a walker now, but walked unaided at baseline.
    assert _selected(scene, baseline_ambulation=[AmbulationClass.UNAIDED]) == {"compound"}
    assert _selected(scene, baseline_ambulation=[AmbulationClass.WALKER]) == set()
    # "single" has no assessment, hence no baseline.
    assert "single" not in _selected(scene, baseline_ambulation=[choice.value for choice in AmbulationClass])


def test_assessment_period_keeps_patients_seen_in_it(scene):
    assert _selected(scene, assessed_from="2024-01-01") == {"compound"}
    assert _selected(scene, assessed_to="2019-12-31") == {"compound"}
    assert "single" not in _selected(scene, assessed_from="2000-01-01")


def test_filters_combine(scene):
    assert _selected(scene, genotype_group="homozygous_founder", countries=["IL", "IR"], onset_age_max=22) == {
        "legacy_typed"
    }
