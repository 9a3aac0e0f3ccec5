"""The demo cohort against the published figures (docs/clinical-rules.md, "Published figures"), its
partial dates against the storage convention, and its kept truth against what was stored.

One cohort is seeded for the whole module (1,500 patients, fixed seed), read into memory and rolled
back. Tolerances: ±1 year for durations and ages, ±20% otherwise (docs/demo-cohort.md).
"""

import collections
import datetime as dt
import statistics
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from assessments.models import AmbulationClass, Assessment, Milestone, MilestoneKind, MilestoneSource
from demo.cohort import PARAMETERS, CohortParameters, PatientTruth, seed_demo_cohort, synthetic_private_variants
from patients.models import Diagnosis, Genotype, Treatment
from patients.variants import parse_variant
from registry.dates import PartialDate, years_between

# Marked so that the test database is set up; the data come from the module fixture below.
pytestmark = pytest.mark.django_db

PATIENTS, SEED = 1500, 20260
NULL_CLASSES = {"nonsense", "frameshift"}

# The published figures, typed here again rather than read from demo/cohort.py, so that a wrong
# parameter there fails here.
ONSET_AGE = (27.7, 9.6)  # Mori-Yoshimura 2014 (Remudy-GNE)
DIAGNOSTIC_DELAY_MEAN = 5.2  # Pogoryelova 2018 (GNEM-DMP)
YEARS_TO_CANE = 12.4  # Mori-Yoshimura 2014
YEARS_TO_WHEELCHAIR = (11.9, 15.2)  # Pogoryelova 2018; Mori-Yoshimura 2014
YEARS_TO_LOSS_OF_AMBULATION = 21.1  # Mori-Yoshimura 2014
HHD_BASELINE = {"upper": (34.3, 32.0), "lower": (32.0, 34.1)}  # Lochmüller 2021, kg
HHD_CHANGE_36_MONTHS = {"upper": -3.8, "lower": -4.9}  # Lochmüller 2021, kg


def within_years(value: float, target: float, years: float = 1.0) -> bool:
    return abs(value - target) <= years


def within_share(value: float, target: float, share: float = 0.2) -> bool:
    return abs(value - target) <= share * abs(target)


@dataclass
class Seeded:
    truth: dict  # patient uuid -> PatientTruth
    diagnoses: list[dict]
    genotypes: list[dict]
    visits: dict  # patient uuid -> [visit rows in date order]
    treatments: list[dict]
    milestones: list[dict]


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker) -> Seeded:
    with django_db_blocker.unblock(), transaction.atomic():
        truth: dict = {}
        seed_demo_cohort(patients=PATIENTS, seed=SEED, truth=truth)
        visits = collections.defaultdict(list)
        for row in Assessment.objects.order_by("patient_id", "assessment_date").values(
            "patient__uuid",
            "assessment_date",
            "source",
            "ambulation_class",
            "falls_count",
            "falls_transfer_count",
            "hhd_upper_composite_kg",
            "hhd_lower_composite_kg",
        ):
            visits[row["patient__uuid"]].append(row)
        data = Seeded(
            truth=truth,
            diagnoses=list(
                Diagnosis.objects.values(
                    "patient__uuid",
                    "onset_age",
                    "onset_date",
                    "onset_date_precision",
                    "genetic_diagnosis_date",
                    "genetic_diagnosis_date_precision",
                )
            ),
            genotypes=list(
                Genotype.objects.values(
                    "allele1_id",
                    "allele2_id",
                    "allele1__is_founder",
                    "allele2__is_founder",
                    "allele1__variant_class",
                    "allele2__variant_class",
                )
            ),
            visits=dict(visits),
            treatments=list(
                Treatment.objects.values("start_date", "start_date_precision", "stop_date", "stop_date_precision")
            ),
            milestones=list(
                Milestone.objects.values("patient__uuid", "kind", "source", "date", "date_precision", "age_years")
            ),
        )
        transaction.set_rollback(True)  # nothing of it outlives the module
    return data


# --- Onset and diagnosis -------------------------------------------------------------------------


def test_onset_age_has_the_published_mean_and_spread(seeded):
    ages = [diagnosis["onset_age"] for diagnosis in seeded.diagnoses]
    assert len(ages) == PATIENTS
    assert within_years(statistics.mean(ages), ONSET_AGE[0])
    # The generator aims at SD 9.0 (docs/demo-cohort.md: 9.6 within 15-52 needs a mode at 17).
    assert within_share(statistics.pstdev(ages), ONSET_AGE[1])
    assert min(ages) >= 15 and max(ages) <= 52  # the recorded range


def test_no_onset_age_piles_up(seeded):
    """No age holds more than 3% of the patients beyond its neighbours' average (the old generator
    clipped to 15, which then held 11.6%), bounds included."""
    counts = collections.Counter(diagnosis["onset_age"] for diagnosis in seeded.diagnoses)
    share = {age: counts[age] / PATIENTS for age in range(15, 53)}
    for age, value in share.items():
        neighbours = [share[other] for other in (age - 1, age + 1) if other in share]
        assert value - statistics.mean(neighbours) <= 0.03, (age, value)
    assert share[15] <= 0.03 and share[52] <= 0.03


def test_diagnostic_delay_has_the_published_mean(seeded):
    """Midpoint to midpoint of the stored partial dates, as the registry computes it."""
    delays = []
    for diagnosis in seeded.diagnoses:
        onset = PartialDate.from_stored(diagnosis["onset_date"], diagnosis["onset_date_precision"])
        genetic = PartialDate.from_stored(
            diagnosis["genetic_diagnosis_date"], diagnosis["genetic_diagnosis_date_precision"]
        )
        delays.append(years_between(onset.midpoint, genetic.midpoint))
    assert within_years(statistics.mean(delays), DIAGNOSTIC_DELAY_MEAN)
    # Right-skewed, as delays to a rare-disease diagnosis are: the median is below the mean.
    assert 2.5 <= statistics.median(delays) < statistics.mean(delays)
    truth = [years_between(person.onset, person.genetic_diagnosis) for person in seeded.truth.values()]
    assert within_years(statistics.mean(truth), DIAGNOSTIC_DELAY_MEAN, 0.5)


# --- Progression -----------------------------------------------------------------------------------


def test_true_times_to_each_stage_have_the_published_means(seeded):
    def mean_years(kind):
        return statistics.mean(person.years_to(kind) for person in seeded.truth.values())

    assert within_years(mean_years(MilestoneKind.CANE), YEARS_TO_CANE)
    wheelchair = mean_years(MilestoneKind.WHEELCHAIR_PART_TIME)
    assert YEARS_TO_WHEELCHAIR[0] - 1 <= wheelchair <= YEARS_TO_WHEELCHAIR[1] + 1
    assert within_years(mean_years(MilestoneKind.WHEELCHAIR_FULL_TIME), YEARS_TO_LOSS_OF_AMBULATION)
    onset_ages = [person.onset_age_years for person in seeded.truth.values()]
    assert within_years(statistics.mean(onset_ages), ONSET_AGE[0] + 0.5)  # exact ages: completed years + 0.5


def test_falls_go_on_in_wheelchair_users_mostly_in_transfers(seeded):
    falls = collections.defaultdict(list)
    transfers = []
    for rows in seeded.visits.values():
        for row in rows:
            falls[row["ambulation_class"]].append(row["falls_count"])
            full_time = row["ambulation_class"] == AmbulationClass.WHEELCHAIR_FULL_TIME
            if full_time and row["falls_count"] and row["falls_transfer_count"] is not None:
                transfers.append(row["falls_transfer_count"] / row["falls_count"])
    walking_with_aid = statistics.mean(falls[AmbulationClass.CANE] + falls[AmbulationClass.WALKER])
    full_time = statistics.mean(falls[AmbulationClass.WHEELCHAIR_FULL_TIME])
    assert 0 < full_time < walking_with_aid / 2
    assert statistics.mean(transfers) > 0.5


# --- Hand-held dynamometry -----------------------------------------------------------------------


def _composites(seeded, composite):
    """Per patient, the (date, kg) of every stored composite, in date order."""
    field = f"hhd_{composite}_composite_kg"
    return {
        uuid: [(row["assessment_date"], float(row[field])) for row in rows if row[field] is not None]
        for uuid, rows in seeded.visits.items()
    }


@pytest.mark.parametrize("composite", ["upper", "lower"])
def test_hhd_baseline_composites_have_the_published_mean_and_spread(seeded, composite):
    baselines = [values[0][1] for values in _composites(seeded, composite).values() if values]
    assert len(baselines) >= 500
    mean, sd = HHD_BASELINE[composite]
    assert within_share(statistics.mean(baselines), mean)
    assert within_share(statistics.stdev(baselines), sd)


@pytest.mark.parametrize("composite", ["upper", "lower"])
def test_hhd_composites_decline_as_published_over_36_months(seeded, composite):
    """Change from the first composite to the first one 2.5 to 3.5 years later, scaled to 36 months."""
    changes = []
    for values in _composites(seeded, composite).values():
        if not values:
            continue
        (start, baseline), later = values[0], values[1:]
        for day, kg in later:
            years = years_between(start, day)
            if 2.5 <= years <= 3.5:
                changes.append((kg - baseline) / years * 3)
                break
    assert len(changes) >= 150
    assert within_share(statistics.mean(changes), HHD_CHANGE_36_MONTHS[composite])


# --- Alleles -----------------------------------------------------------------------------------------


def test_alleles_are_as_diverse_as_a_real_registry(seeded):
    with_private = [not (row["allele1__is_founder"] and row["allele2__is_founder"]) for row in seeded.genotypes]
    assert 0.4 <= sum(with_private) / len(with_private) <= 0.6
    distinct = {row["allele1_id"] for row in seeded.genotypes} | {row["allele2_id"] for row in seeded.genotypes}
    assert len(distinct) >= 100
    both_null = [
        row
        for row in seeded.genotypes
        if row["allele1__variant_class"] in NULL_CLASSES and row["allele2__variant_class"] in NULL_CLASSES
    ]
    assert both_null == []
    assert any(row["allele1__variant_class"] in NULL_CLASSES for row in seeded.genotypes)  # some null alleles


def test_synthetic_private_variants_are_valid_current_numbering_names_in_both_domains():
    variants = synthetic_private_variants()
    assert len({variant.name for variant in variants}) == len(variants) == PARAMETERS.private_variants
    domains = collections.Counter()
    for variant in variants:
        parsed = parse_variant(variant.name, numbering="current")
        assert parsed.catalogue_entry is None  # none is a founder variant
        assert parsed.protein_domain == variant.domain
        assert parsed.variant_class == ("missense" if not variant.null else parsed.variant_class)
        assert variant.null == (parsed.variant_class in NULL_CLASSES)
        domains[parsed.protein_domain] += 1
    assert domains["epimerase"] > 100 and domains["kinase"] > 100
    assert sum(variant.null for variant in variants) / len(variants) < 0.2  # most are missense


# --- Partial dates ---------------------------------------------------------------------------------


def _on_convention_day(day: dt.date | None, precision: str) -> bool:
    if day is None or precision == "day":
        return True
    if precision == "year":
        return (day.month, day.day) == (1, 1)
    return day.day == 1


def test_partial_dates_are_stored_on_the_first_possible_day(seeded):
    """docs/clinical-rules.md, "Partial dates": a year is stored as 1 January, a month as its 1st."""
    stored = [
        *((row["onset_date"], row["onset_date_precision"]) for row in seeded.diagnoses),
        *((row["genetic_diagnosis_date"], row["genetic_diagnosis_date_precision"]) for row in seeded.diagnoses),
        *((row["start_date"], row["start_date_precision"]) for row in seeded.treatments),
        *((row["stop_date"], row["stop_date_precision"]) for row in seeded.treatments),
        *(
            (row["date"], row["date_precision"])
            for row in seeded.milestones
            if row["source"] == MilestoneSource.REPORTED
        ),
    ]
    precisions = collections.Counter(precision for day, precision in stored if day is not None)
    assert precisions["year"] > 500 and precisions["month"] > 500  # both are exercised
    assert [pair for pair in stored if not _on_convention_day(*pair)] == []


def test_stored_partial_dates_contain_the_true_dates(seeded):
    for row in seeded.diagnoses:
        person = seeded.truth[row["patient__uuid"]]
        onset = PartialDate.from_stored(row["onset_date"], row["onset_date_precision"])
        genetic = PartialDate.from_stored(row["genetic_diagnosis_date"], row["genetic_diagnosis_date_precision"])
        assert onset.earliest <= person.onset <= onset.latest
        assert genetic.earliest <= person.genetic_diagnosis <= genetic.latest
    for row in seeded.milestones:
        if row["source"] == MilestoneSource.REPORTED and row["date"]:
            reached = seeded.truth[row["patient__uuid"]].reached_on(row["kind"])
            partial = PartialDate.from_stored(row["date"], row["date_precision"])
            assert partial.earliest <= reached <= partial.latest


# --- Truth -----------------------------------------------------------------------------------------


def test_every_patient_has_a_truth_and_it_agrees_with_the_stored_visits(seeded):
    assert set(seeded.truth) == set(seeded.visits) == {row["patient__uuid"] for row in seeded.diagnoses}
    for uuid, rows in seeded.visits.items():
        person: PatientTruth = seeded.truth[uuid]
        assert (person.follow_up_start, person.follow_up_end) == (
            rows[0]["assessment_date"],
            rows[-1]["assessment_date"],
        )
        for row in rows:
            assert row["ambulation_class"] == person.ambulation_class_on(row["assessment_date"]), (uuid, row)
        assert person.cane <= person.walker and person.wheelchair_part_time <= person.wheelchair_full_time


def test_derived_milestones_are_never_before_the_true_day(seeded):
    """A derived milestone is the first visit showing it: the truth is on or before that day."""
    derived = [row for row in seeded.milestones if row["source"] == MilestoneSource.DERIVED]
    assert len(derived) > PATIENTS
    for row in derived:
        reached = seeded.truth[row["patient__uuid"]].reached_on(row["kind"])
        assert reached is not None and reached <= row["date"], row


def test_every_parameter_names_its_source_and_is_documented():
    documented = (Path(settings.BASE_DIR) / "docs" / "demo-cohort.md").read_text()
    for parameter in fields(CohortParameters):
        assert len(parameter.metadata.get("source", "")) > 10, parameter.name
        assert f"`{parameter.name}`" in documented, parameter.name
