"""A synthetic GNE myopathy cohort for demos, tests, benchmarks and the validity check.

Every figure the generator draws from is in `CohortParameters` below, each with its source: the
published natural history (docs/clinical-rules.md, "Published figures") where there is one, and
the generator's own choice, said so, where there is none. docs/demo-cohort.md lists them beside the
figures the cohort reproduces (tests/demo/test_cohort_fidelity.py measures them).

Each patient is generated as things really happened (the true day of onset, of the genetic
diagnosis, of each stage of mobility loss), then recorded the way patients report and the registry
stores it: a date known to the year or month is stored as its first possible day with its precision
(`registry.dates.PartialDate`, what the API stores for "2005" or "2005-03"), stages are seen only at
visits, and stages reached before enrollment are reported from memory, if at all. The true dates are
kept aside for validation (`CohortBuilder.truth`, or `seed_demo_cohort(truth=...)`), never stored:
bench/validity.py compares what the registry derives with them.

Every record is invented and no row describes a real person: names are drawn from short built-in
lists, e-mail addresses use the domains reserved for documentation, phone numbers the range kept for
fiction, and the private GNE variants are synthetic (see `synthetic_private_variants`). Only the
runtime requirements are needed (no Faker, no numpy), so `seed_demo` works on any install.

Rows are bulk-inserted for speed (5,000 patients in well under a minute), but every record is built
by the services' own bulk functions (`identity_build`, `enrollment_events_build`, `diagnosis_build`,
`treatments_build`, `consent_grants_build`, `genotypes_build`, `milestones_reported_build`,
`assessments_build`, `milestones_derived_build`), with the same parsing, zygosity, checks, computed
fields and review flags as every other entry path: data the rules refuse raises ValidationError.
Dynamometry rows have no bulk builder: their composites are computed by the services'
`assessment_computed_fields`, and the database's range constraint guards the values.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import NormalDist

from django.conf import settings
from django.db import transaction

from assessments.models import (
    IBMFRS_ITEMS,
    AmbulationClass,
    Assessment,
    Device,
    DynamometryMeasurement,
    Milestone,
    MilestoneKind,
    SixMinuteWalk,
    Source,
    WheelchairUse,
)
from assessments.services import (
    assessment_computed_fields,
    assessments_build,
    milestones_derived_build,
    milestones_reported_build,
)
from patients.models import (
    ConsentDocument,
    ConsentGrant,
    ConsentPurpose,
    Diagnosis,
    EnrollmentEvent,
    EnrollmentStatus,
    FirstSymptom,
    Genotype,
    Patient,
    PatientIdentity,
    Sex,
    Site,
    Treatment,
    TreatmentKind,
)
from patients.services import (
    consent_grants_build,
    diagnosis_build,
    enrollment_events_build,
    genotypes_build,
    identity_build,
    treatments_build,
)
from patients.variants import gne_reference, protein_domain_for
from registry.dates import PartialDate, age_in_years, today, years_between

# --- Parameters: the one place ------------------------------------------------------------------

REMUDY = "Mori-Yoshimura 2014, Remudy-GNE Japanese registry (n = 121)"
GNEM_DMP = "Pogoryelova 2018, GNEM-DMP online registry"
CLINICAL_ARM = "Lochmüller 2021, GNEM-DMP clinical arm (n = 101)"
DISEASE_IN_BRIEF = 'docs/clinical-rules.md, "The disease in brief"'
CHOICE = "generator's choice (no figure in our sources)"


def _parameter(value, source: str):
    """A generator parameter and where its value comes from (docs/demo-cohort.md lists them)."""
    return field(default=value, metadata={"source": source})


@dataclass(frozen=True)
class CohortParameters:
    """Everything the synthetic cohort is drawn from. `fields(PARAMETERS)[i].metadata["source"]`
    says where each value comes from. Years are from symptom onset; means are over the cohort."""

    # Onset. The published ages are completed years (what a patient states).
    onset_age_mean: float = _parameter(27.7, f"{REMUDY}: age at onset 27.7 ± 9.6 years")
    onset_age_sd: float = _parameter(9.6, f"{REMUDY}: age at onset 27.7 ± 9.6 years")
    onset_age_min: int = _parameter(15, f"reported onset from about 15 to about 52 ({DISEASE_IN_BRIEF})")
    onset_age_max: int = _parameter(52, f"reported onset from about 15 to about 52 ({DISEASE_IN_BRIEF})")
    onset_age_gamma: tuple[float, float] = _parameter(
        (1.53, 9.93),
        "calibrated, not published: exact age = onset_age_min + Gamma(shape, scale), drawn again when at or past "
        "onset_age_max + 1, gives completed-year ages of mean 27.7 and SD 9.0, mode about 20, no pile-up "
        "(docs/demo-cohort.md says why not SD 9.6)",
    )
    onset_precision: tuple[tuple[str, float], ...] = _parameter(
        (("year", 0.55), ("month", 0.35), ("day", 0.10)), f"{CHOICE}: how precisely onset is remembered"
    )

    # Genetic diagnosis.
    diagnostic_delay_years: float = _parameter(5.2, f"{GNEM_DMP}: onset to genetic diagnosis, mean 5.2 years")
    diagnostic_delay_shape: float = _parameter(
        1.5, f"{CHOICE}: gamma shape of the delay, right-skewed (median about 3.9 years)"
    )
    diagnosis_precision: tuple[tuple[str, float], ...] = _parameter(
        (("month", 0.6), ("day", 0.3), ("year", 0.1)), f"{CHOICE}: how precisely the diagnosis date is known"
    )

    # Mobility loss: mean years from onset to each stage.
    afo_users: float = _parameter(0.85, f"{CHOICE}: share of patients who ever wear ankle-foot orthoses")
    afo_years: float = _parameter(
        4.5, 'ankle-foot orthoses within about 5 years (docs/clinical-rules.md, rule 2, "Why")'
    )
    cane_years: float = _parameter(12.4, f"{REMUDY}: onset to cane and/or braces, mean 12.4 years")
    walker_years: float = _parameter(13.2, f"{CHOICE}: between cane (12.4) and wheelchair (14.0)")
    walker_skipped: float = _parameter(0.15, f"{CHOICE}: share going from cane straight to a wheelchair")
    wheelchair_part_time_years: float = _parameter(
        14.0, f"onset to wheelchair, mean 15.2 years ({REMUDY}) and 11.9 years ({GNEM_DMP}): between the two"
    )
    wheelchair_full_time_years: float = _parameter(21.1, f"{REMUDY}: onset to loss of ambulation, mean 21.1 years")
    pace_sd_log: float = _parameter(
        0.30, f"{CHOICE}: SD of log pace between patients (cane reached between about 6 and 25 years)"
    )
    step_sd_log: float = _parameter(0.15, f"{CHOICE}: SD of log time to the cane around the patient's pace")
    d207v_pace: float = _parameter(
        1.25, "p.(Asp207Val) carriers need a wheelchair later (docs/gne-variants.md); the size is the generator's"
    )
    cross_domain_pace: float = _parameter(
        0.9, "one variant in each domain looked more severe (docs/gne-variants.md); the size is the generator's"
    )

    # Follow-up in the registry.
    registry_opened: dt.date = _parameter(dt.date(2012, 1, 1), f"{CHOICE}: first enrollment")  # noqa: RUF009 (immutable)
    disease_years_max: float = _parameter(35.0, f"{CHOICE}: longest disease duration today")
    enrollment_lag_years: float = _parameter(1.0, f"{CHOICE}: mean years from genetic diagnosis to enrollment")
    visit_interval_days: tuple[int, int] = _parameter((120, 365), f"{CHOICE}: days between visits (uniform)")
    visits_max: int = _parameter(12, f"{CHOICE}: most visits per patient (keeps the cohort small)")
    visit_sources: tuple[tuple[str, float], ...] = _parameter(
        ((Source.PATIENT, 0.6), (Source.CLINICIAN, 0.35), (Source.IMPORTED, 0.05)), CHOICE
    )
    milestone_recalled: float = _parameter(
        0.8, f"{CHOICE}: share of the stages reached before enrollment that the patient reports"
    )
    recall_precision: tuple[tuple[str, float], ...] = _parameter(
        (("year", 0.65), ("month", 0.25), ("age", 0.10)), f"{CHOICE}: how a recalled stage is reported"
    )
    withdrawn: float = _parameter(0.04, CHOICE)
    deceased: float = _parameter(0.01, CHOICE)

    # Hand-held dynamometry composites (kg), at clinician visits.
    hhd_upper_baseline: tuple[float, float] = _parameter(
        (34.3, 32.0), f"{CLINICAL_ARM}: baseline upper composite 34.3 ± 32.0 kg"
    )
    hhd_lower_baseline: tuple[float, float] = _parameter(
        (32.0, 34.1), f"{CLINICAL_ARM}: baseline lower composite 32.0 ± 34.1 kg"
    )
    hhd_upper_decline_36_months: float = _parameter(3.8, f"{CLINICAL_ARM}: upper composite -3.8 kg over 36 months")
    hhd_lower_decline_36_months: float = _parameter(4.9, f"{CLINICAL_ARM}: lower composite -4.9 kg over 36 months")
    hhd_progress_weight: tuple[float, float] = _parameter(
        (0.5, 0.6), f"{CHOICE}: how much weaker (upper, lower) a patient further along at baseline is"
    )
    hhd_tail_cut: float = _parameter(
        2.0, f"{CHOICE}: baseline composites are log-normal without the top 2% (z > 2), so the SD is stable"
    )
    hhd_measured: float = _parameter(0.85, f"{CHOICE}: share of clinician visits with dynamometry")
    hhd_noise: float = _parameter(0.06, f"{CHOICE}: visit-to-visit measurement noise (relative SD)")
    hhd_incomplete: float = _parameter(0.05, f"{CHOICE}: share of those visits missing one muscle group")

    # Falls, by ambulation class (0 unaided ... 5 full-time wheelchair).
    falls_per_year: tuple[float, ...] = _parameter(
        (1.0, 3.0, 5.0, 5.0, 3.0, 1.2), f"{CHOICE}: fewer, but not none, in wheelchair users"
    )
    falls_in_transfer: tuple[float, ...] = _parameter(
        (0.02, 0.05, 0.1, 0.15, 0.5, 0.8), f"{CHOICE}: wheelchair users fall mostly in transfers"
    )
    falls_outdoors: tuple[float, ...] = _parameter((0.5, 0.55, 0.5, 0.4, 0.3, 0.15), CHOICE)
    falls_circumstances_given: float = _parameter(0.7, f"{CHOICE}: share of reports saying where falls happened")
    injurious_falls: float = _parameter(0.15, CHOICE)
    fractures: float = _parameter(0.1, f"{CHOICE}: share of injurious falls")

    # Alleles.
    private_variants: int = _parameter(
        360, f"{CHOICE}: synthetic private variants (over 200 GNE variants are known, {DISEASE_IN_BRIEF})"
    )
    private_null_share: float = _parameter(
        0.12, f"most GNE variants are missense and no patient has two null alleles ({DISEASE_IN_BRIEF})"
    )

    # Consent.
    research_consent: float = _parameter(
        0.9, f"{CHOICE}: most, not all, agree to research use, so exports visibly leave some out"
    )
    recontact_consent: float = _parameter(0.7, CHOICE)


PARAMETERS = CohortParameters()

# --- Alleles ------------------------------------------------------------------------------------

# Founder variants (docs/gne-variants.md), current numbering NM_001128227.3.
M743T, V603L, D207V = "c.2228T>C", "c.1807G>C", "c.620A>T"
A662V, D409Y, A57F = "c.1985C>T", "c.1225G>T", "c.169_170delinsTT"
V727M, I618T = "c.2179G>A", "c.1853T>C"
FOUNDER_POSITIONS = {M743T: 743, V603L: 603, D207V: 207, A662V: 662, D409Y: 409, A57F: 57, V727M: 727, I618T: 618}


@dataclass(frozen=True)
class Population:
    ancestry: list[str]
    countries: list[str]
    weight: float
    founders: tuple[tuple[str, float], ...]  # founder allele and its weight among the founder alleles
    private_share: float  # chance that an allele is a private (non-founder) variant
    consanguinity: float  # chance of consanguineous parents (then often homozygous by descent)


# Founder alleles by ancestry follow docs/gne-variants.md; the mix of ancestries and the private
# shares are the generator's choice, set so that about half the patients carry a non-founder allele.
POPULATIONS = [
    Population(["middle_eastern_jewish"], ["IL", "US", "IR"], 0.24, ((M743T, 1.0),), 0.03, 0.25),
    Population(["japanese"], ["JP"], 0.2, ((V603L, 0.55), (D207V, 0.45)), 0.3, 0.1),
    Population(["chinese"], ["CN", "TW"], 0.1, ((D207V, 1.0),), 0.45, 0.1),
    Population(["northern_european"], ["GB", "IE"], 0.1, ((A662V, 0.6), (D409Y, 0.4)), 0.35, 0.05),
    Population(["south_asian"], ["IN", "GB", "US"], 0.1, ((V727M, 0.85), (I618T, 0.15)), 0.45, 0.3),
    Population(["mari"], ["RU"], 0.04, ((A57F, 1.0),), 0.05, 0.2),
    Population(["korean"], ["KR"], 0.05, ((V603L, 1.0),), 0.5, 0.05),
    Population(
        ["other_european"], ["DE", "IT", "FR", "BG", "ES"], 0.12, ((A662V, 0.4), (D409Y, 0.3), (M743T, 0.3)), 0.65, 0.05
    ),
    Population(["hispanic_latino"], ["BR", "MX", "US"], 0.05, ((M743T, 1.0),), 0.6, 0.1),
]

# The standard genetic code, codons in TCAG order, and three-letter amino-acid names.
_BASES = "TCAG"
GENETIC_CODE = dict(
    zip(
        (first + second + third for first in _BASES for second in _BASES for third in _BASES),
        "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
        strict=True,
    )
)
THREE_LETTER = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu", "G": "Gly", "H": "His",
    "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe", "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp",
    "Y": "Tyr", "V": "Val", "*": "Ter",
}  # fmt: skip


@dataclass(frozen=True)
class SyntheticVariant:
    """A SYNTHETIC private GNE variant: invented, not a reported one (see `synthetic_private_variants`)."""

    name: str  # as a genetic report writes it: "c.830G>A p.(Arg277Gln)"
    position: int  # codon, current numbering
    domain: str  # "epimerase" or "kinase"
    null: bool  # nonsense or frameshift


@functools.cache
def synthetic_private_variants(
    count: int = PARAMETERS.private_variants, null_share: float = PARAMETERS.private_null_share
) -> tuple[SyntheticVariant, ...]:
    """SYNTHETIC private variants, the same on every run: none is claimed to be a real GNE variant.

    Each is a single change at a distinct codon of the epimerase or kinase domain (as the reference
    data bounds them, current numbering NM_001128227.3, 753 amino acids), away from the founder
    codons and from codons 1-32 (the start methionines and the legacy-less N-terminus). The
    reference codon is invented (no GNE sequence is shipped) but each name is self-consistent: the
    c. change turns that codon into one coding the p. change under the genetic code. Most are
    missense; `null_share` of them are nonsense or frameshift ("null").
    """
    rng = random.Random("gne-synthetic-private-variants")
    regions = {region["name"]: region for region in gne_reference()["domains"]["regions"]}
    taken = set(FOUNDER_POSITIONS.values())
    positions = [
        position
        for name in ("epimerase", "kinase")
        for position in range(max(33, regions[name]["start"]), regions[name]["end"] + 1)
        if position not in taken
    ]
    sense_codons = [codon for codon, amino in GENETIC_CODE.items() if amino != "*"]
    variants = []
    for position in rng.sample(positions, count):
        domain = "epimerase" if position <= regions["epimerase"]["end"] else "kinase"
        null = rng.random() < null_share
        if null and rng.random() < 0.5:  # frameshift: one base deleted
            offset = rng.randrange(3)
            reference = rng.choice(sense_codons)
            new_amino = rng.choice([amino for amino in "ARNDCQEGHILKMFPSTWYV" if amino != GENETIC_CODE[reference]])
            protein = (
                f"{THREE_LETTER[GENETIC_CODE[reference]]}{position}{THREE_LETTER[new_amino]}fsTer{rng.randint(2, 40)}"
            )
            name = f"c.{3 * (position - 1) + offset + 1}del p.({protein})"
        else:
            while True:  # a single-base change giving a missense (or, for a null, a stop) codon
                reference, offset = rng.choice(sense_codons), rng.randrange(3)
                base = rng.choice([b for b in _BASES if b != reference[offset]])
                changed = reference[:offset] + base + reference[offset + 1 :]
                amino = GENETIC_CODE[changed]
                if (amino == "*") == null and amino != GENETIC_CODE[reference]:
                    break
            protein = f"{THREE_LETTER[GENETIC_CODE[reference]]}{position}{THREE_LETTER[amino]}"
            name = f"c.{3 * (position - 1) + offset + 1}{reference[offset]}>{base} p.({protein})"
        variants.append(SyntheticVariant(name=name, position=position, domain=domain, null=null))
    return tuple(variants)


# --- Stages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageProfile:
    """What a patient at one ambulation class typically records: wheelchair use, devices, IBMFRS walking."""

    wheelchair_use: str
    devices: tuple[str, ...]
    ibmfrs_walking: int


# The one mapping from stage to devices and wheelchair use; the benchmark's payloads use it too.
STAGE_PROFILES: dict[int, StageProfile] = {
    AmbulationClass.UNAIDED: StageProfile(WheelchairUse.NONE, (), 4),
    AmbulationClass.AFO_ONLY: StageProfile(WheelchairUse.NONE, (Device.AFO,), 3),
    AmbulationClass.CANE: StageProfile(WheelchairUse.NONE, (Device.AFO, Device.CANE), 2),
    AmbulationClass.WALKER: StageProfile(WheelchairUse.NONE, (Device.AFO, Device.WALKER), 2),
    AmbulationClass.WHEELCHAIR_PART_TIME: StageProfile(
        WheelchairUse.PART_TIME, (Device.WALKER, Device.MANUAL_WHEELCHAIR), 1
    ),
    AmbulationClass.WHEELCHAIR_FULL_TIME: StageProfile(WheelchairUse.FULL_TIME, (Device.POWER_WHEELCHAIR,), 0),
}
# The milestones whose true dates are kept, with the ambulation class each one starts.
STAGE_MILESTONES = (
    (MilestoneKind.CANE, AmbulationClass.CANE),
    (MilestoneKind.WALKER, AmbulationClass.WALKER),
    (MilestoneKind.WHEELCHAIR_PART_TIME, AmbulationClass.WHEELCHAIR_PART_TIME),
    (MilestoneKind.WHEELCHAIR_FULL_TIME, AmbulationClass.WHEELCHAIR_FULL_TIME),
)


@dataclass(frozen=True)
class PatientTruth:
    """What really happened to one synthetic patient: the days the stored records only approximate.

    Stage days are when the patient first needed that much support or more, as the registry's
    milestones mean it (a patient who skipped the walker reaches "walker or more walking support"
    only at full-time wheelchair use, which is beyond every walking aid). They may lie after the end
    of follow-up, or after today: the truth of the disease, whether or not anyone could see it.
    """

    birth: dt.date
    onset: dt.date
    genetic_diagnosis: dt.date
    afo: dt.date | None  # None: never wears orthoses
    cane: dt.date
    walker: dt.date
    wheelchair_part_time: dt.date
    wheelchair_full_time: dt.date
    walker_skipped: bool
    follow_up_start: dt.date  # first visit (enrollment)
    follow_up_end: dt.date  # last visit

    @property
    def onset_age_years(self) -> float:
        return years_between(self.birth, self.onset)

    def reached_on(self, kind: str) -> dt.date | None:
        """The true day a milestone (a `MilestoneKind` value) was reached."""
        return getattr(self, str(kind))

    def years_to(self, kind: str) -> float | None:
        day = self.reached_on(kind)
        return None if day is None else years_between(self.onset, day)

    def ambulation_class_on(self, day: dt.date) -> int:
        """The ambulation class the patient was in on `day` (what a visit that day records)."""
        if self.wheelchair_full_time <= day:
            return AmbulationClass.WHEELCHAIR_FULL_TIME
        if self.wheelchair_part_time <= day:
            return AmbulationClass.WHEELCHAIR_PART_TIME
        if not self.walker_skipped and self.walker <= day:
            return AmbulationClass.WALKER
        if self.cane <= day:
            return AmbulationClass.CANE
        if self.afo is not None and self.afo <= day:
            return AmbulationClass.AFO_ONLY
        return AmbulationClass.UNAIDED


DEMO_PASSWORD = "demo-registry-pass"

# Invented contact details. Given and family names are drawn independently from these lists, so a
# name describes nobody; e-mail domains are those reserved for documentation (RFC 2606) and phone
# numbers are in the 555-0100 to 555-0199 range that North American numbering keeps for fiction.
GIVEN_NAMES = [
    "Ada", "Amir", "Ana", "Chen", "Dana", "David", "Elena", "Hana", "Ivan", "Jin", "Kenji", "Lea",
    "Lucas", "Maya", "Mei", "Noam", "Olga", "Omar", "Priya", "Ravi", "Sara", "Tomas", "Yuki", "Zoe",
]  # fmt: skip
FAMILY_NAMES = [
    "Alvarez", "Bauer", "Cohen", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Kim",
    "Kumar", "Levi", "Li", "Martin", "Novak", "Petrov", "Rossi", "Sato", "Silva", "Tanaka", "Wang",
    "Weber", "Yilmaz", "Zhang",
]  # fmt: skip
EMAIL_DOMAINS = ["example.org", "example.com", "example.net"]
PHONE_AREA_CODES = ["202", "312", "415", "617", "713", "808"]

# Share of each composite's force carried by each muscle group (both sides together). The
# quadriceps (knee extension) are spared until late and ankle dorsiflexion is weak from the start
# (docs/clinical-rules.md, "The disease in brief"); the exact shares are the generator's choice.
# Groups a site adds to REGISTRY_HHD_COMPOSITES get an equal share.
HHD_GROUP_SHARES = {
    "shoulder_abduction": 0.3,
    "elbow_flexion": 0.4,
    "elbow_extension": 0.3,
    "hip_flexion": 0.15,
    "hip_abduction": 0.17,
    "knee_flexion": 0.13,
    "knee_extension": 0.45,
    "ankle_dorsiflexion": 0.1,
}
# Standardisation of the log of "how far along" a patient is at their first dynamometry (years
# from onset over years to full-time wheelchair), measured on the generated cohort, so that the
# baseline composites keep the published mean and SD (docs/demo-cohort.md).
HHD_PROGRESS_LOG_MEAN, HHD_PROGRESS_LOG_SD = -0.67, 0.77


def _pick(rng: random.Random, options: list, weights: list[float]):
    return rng.choices(options, weights=weights, k=1)[0]


def _pick_from(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return _pick(rng, [value for value, _ in table], [weight for _, weight in table])


def _add_years(day: dt.date, years: float) -> dt.date:
    return day + dt.timedelta(days=round(years * 365.25))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(n))


def _lognormal_for(mean: float, sd: float, cut: float) -> tuple[float, float]:
    """mu and sigma of exp(mu + sigma * Z), Z standard normal kept at or below `cut`, with this mean and SD.

    E[X^k] = exp(k mu + k^2 sigma^2 / 2) Phi(cut - k sigma) / Phi(cut); the coefficient of
    variation grows with sigma, so sigma is found by bisection and mu follows from the mean.
    """
    phi = NormalDist().cdf

    def moment(k: int, sigma: float) -> float:  # E[X^k] / exp(k mu)
        return math.exp(k * k * sigma * sigma / 2) * phi(cut - k * sigma) / phi(cut)

    def variation(sigma: float) -> float:
        return math.sqrt(moment(2, sigma) - moment(1, sigma) ** 2) / moment(1, sigma)

    low, high = 1e-3, 5.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if variation(middle) < sd / mean else (low, middle)
    sigma = (low + high) / 2
    return math.log(mean / moment(1, sigma)), sigma


def _decline_rate(decline: float, baseline_mean: float, years: float = 3.0) -> float:
    """Rate r of exponential decline, with per-patient rates r * Gamma(4, 1/4), whose mean loss
    over `years` from `baseline_mean` is `decline`: E[exp(-years * rate)] = (1 + years * r / 4) ** -4."""
    return 4 / years * ((1 - decline / baseline_mean) ** -0.25 - 1)


def recorded_date(true_day: dt.date, precision: str) -> tuple[dt.date, str]:
    """A true day as the registry stores it when known only to `precision` (year, month or day).

    What the API makes of "2005", "2005-03" or "2005-03-14": `PartialDate.parse`, which stores the
    first possible day with the precision (docs/clinical-rules.md, "Partial dates").
    """
    text = {
        "year": f"{true_day.year:04d}",
        "month": f"{true_day.year:04d}-{true_day.month:02d}",
        "day": true_day.isoformat(),
    }[precision]
    partial = PartialDate.parse(text)
    return partial.date, partial.precision


class SyntheticContacts:
    """Invented names, e-mail addresses and phone numbers; the same seed gives the same ones.

    A random stream of its own, so the clinical data of a seed do not depend on how contacts are made.
    """

    def __init__(self, *, seed: int):
        self.rng = random.Random(f"demo-contacts-{seed}")
        self.issued = 0

    def next(self) -> dict[str, str]:
        rng = self.rng
        self.issued += 1
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        return {
            "given_name": given,
            "family_name": family,
            # The running number keeps addresses unique within a cohort.
            "email": f"{given}.{family}.{self.issued}@{rng.choice(EMAIL_DOMAINS)}".lower(),
            "phone": f"+1 {rng.choice(PHONE_AREA_CODES)} 555 01{rng.randint(0, 99):02d}",
        }


class CohortBuilder:
    """Builds synthetic patients in memory; `truth` collects each one's true dates by patient uuid."""

    def __init__(self, *, seed: int, parameters: CohortParameters = PARAMETERS, truth: dict | None = None):
        self.rng = random.Random(seed)
        self.parameters = parameters
        self.contacts = SyntheticContacts(seed=seed)
        self.today = today()
        self.truth: dict = truth if truth is not None else {}
        private = synthetic_private_variants(parameters.private_variants, parameters.private_null_share)
        # Private variants are private to a population: each draws from its own share of them,
        # a few recurring (families, regions) and most rare.
        self.private_by_population = [private[index :: len(POPULATIONS)] for index in range(len(POPULATIONS))]
        self.private_weights = [[1 / (rank + 1) for rank in range(len(share))] for share in self.private_by_population]
        self.pace_normaliser = self._mean_genotype_pace()
        self.hhd = {
            "upper": (
                _lognormal_for(*parameters.hhd_upper_baseline, parameters.hhd_tail_cut),
                _decline_rate(parameters.hhd_upper_decline_36_months, parameters.hhd_upper_baseline[0]),
                parameters.hhd_progress_weight[0],
            ),
            "lower": (
                _lognormal_for(*parameters.hhd_lower_baseline, parameters.hhd_tail_cut),
                _decline_rate(parameters.hhd_lower_decline_36_months, parameters.hhd_lower_baseline[0]),
                parameters.hhd_progress_weight[1],
            ),
        }

    # --- genotype ----------------------------------------------------------------------------

    def genotype(self, rng: random.Random, population: Population) -> tuple[tuple[str, str], bool, float]:
        """Two alleles (as a report writes them), whether the parents are consanguineous, and the pace
        factor of the genotype (docs/gne-variants.md). Never two null alleles."""
        index = POPULATIONS.index(population)
        domains, positions, nulls = {}, {}, set()

        def draw(allow_null: bool = True) -> str:
            while True:
                if rng.random() < population.private_share:
                    variant = _pick(rng, self.private_by_population[index], self.private_weights[index])
                    if variant.null and not allow_null:
                        continue
                    domains[variant.name], positions[variant.name] = variant.domain, variant.position
                    if variant.null:
                        nulls.add(variant.name)
                    return variant.name
                allele = _pick_from(rng, population.founders)
                domains[allele], positions[allele] = (
                    protein_domain_for(FOUNDER_POSITIONS[allele]),
                    FOUNDER_POSITIONS[allele],
                )
                return allele

        consanguineous = rng.random() < population.consanguinity
        first = draw()
        if consanguineous and rng.random() < 0.7 and first not in nulls:
            second = first  # identical by descent
        else:
            second = draw(allow_null=first not in nulls)
        # Listed in the order of their position, as genetic reports list them.
        first, second = sorted((first, second), key=positions.__getitem__)
        pace = 1.0
        if D207V in (first, second):
            pace *= self.parameters.d207v_pace
        if domains[first] != domains[second]:
            pace *= self.parameters.cross_domain_pace
        return (first, second), consanguineous, pace

    def _mean_genotype_pace(self) -> float:
        """The cohort's mean genotype pace factor, so that the genotype effects keep the published means."""
        rng = random.Random("demo-genotype-pace")
        weights = [population.weight for population in POPULATIONS]
        draws = [self.genotype(rng, _pick(rng, POPULATIONS, weights))[2] for _ in range(4000)]
        return sum(draws) / len(draws)

    # --- one patient, in memory ---------------------------------------------------------------

    def onset_age(self, rng: random.Random) -> float:
        """Exact age at onset (years): a shifted gamma, drawn again past the recorded range (no pile-up).

        A week's margin at both ends keeps the completed years within the range once the date of
        birth is moved off the 29th to 31st.
        """
        p = self.parameters
        shape, scale = p.onset_age_gamma
        while True:
            age = p.onset_age_min + rng.gammavariate(shape, scale)
            if p.onset_age_min + 0.02 <= age < p.onset_age_max + 0.98:  # completed years up to onset_age_max
                return age

    def stage_years(self, rng: random.Random, genotype_pace: float) -> dict[str, float | None]:
        """True years from onset to AFO, cane, own walker, part-time and full-time wheelchair."""
        p = self.parameters
        sigma = p.pace_sd_log
        pace = math.exp(rng.gauss(-sigma * sigma / 2, sigma)) * genotype_pace / self.pace_normaliser

        def gap(mean_years: float) -> float:  # gamma(2): a gap with the given mean, never negative
            return pace * mean_years * rng.gammavariate(2, 0.5)

        step = p.step_sd_log
        cane = pace * p.cane_years * math.exp(rng.gauss(-step * step / 2, step))
        walker = cane + gap(p.walker_years - p.cane_years)
        part_time = walker + gap(p.wheelchair_part_time_years - p.walker_years)
        full_time = part_time + gap(p.wheelchair_full_time_years - p.wheelchair_part_time_years)
        afo = None
        if rng.random() < p.afo_users:
            afo = min(pace * p.afo_years * rng.gammavariate(4, 0.25), 0.8 * cane)
        return {"afo": afo, "cane": cane, "walker": walker, "part_time": part_time, "full_time": full_time}

    def falls(self, rng: random.Random, ambulation_class: int, years: float, propensity: float) -> dict:
        """Falls since the last report, with injuries and (often) where they happened."""
        p = self.parameters
        falls = min(60, _poisson(rng, p.falls_per_year[ambulation_class] * years * propensity))
        injurious = _binomial(rng, falls, p.injurious_falls)
        values = {
            "falls_count": falls,
            "injurious_falls_count": injurious,
            "fractures_count": _binomial(rng, injurious, p.fractures),
        }
        if rng.random() < p.falls_circumstances_given:
            outdoors = _binomial(rng, falls, p.falls_outdoors[ambulation_class])
            values |= {
                "falls_outdoors_count": outdoors,
                "falls_indoors_count": falls - outdoors,
                "falls_transfer_count": _binomial(rng, falls, p.falls_in_transfer[ambulation_class]),
            }
        return values

    def assessment_values(self, day: dt.date, stage: int, onset: dt.date, source: str, afo_user: bool = True) -> dict:
        """One visit's input, as `assessment_create` takes it (computed fields and flags come later)."""
        rng = self.rng
        years = (day - onset).days / 365.25
        profile = STAGE_PROFILES[stage]
        devices = [device for device in profile.devices if afo_user or device != Device.AFO]
        values = {
            "assessment_date": day,
            "source": source,
            "ambulation_class": stage,
            "wheelchair_use": profile.wheelchair_use,
            "devices": devices,
            "ambulation_regain_confirmed": False,
            "ibmfrs_version": "IBMFRS 2008",
        }
        if rng.random() < 0.85:  # some visits skip the questionnaire: realistic missing data
            decline = years / 10
            for name in IBMFRS_ITEMS:
                lower_limb = name in ("ibmfrs_sit_to_stand", "ibmfrs_climbing_stairs", "ibmfrs_turning_in_bed")
                base = 4 - decline * (1.3 if lower_limb else 0.5) + rng.uniform(-0.5, 0.5)
                values[name] = max(0, min(4, round(base)))
            values["ibmfrs_walking"] = profile.ibmfrs_walking
            values["ibmfrs_swallowing"] = max(values["ibmfrs_swallowing"], 3)
        if source == Source.PATIENT and stage == 5 and "ibmfrs_walking" in values and rng.random() < 0.25:
            # Self-reports are not always consistent; these show up as review flags for staff.
            values["ibmfrs_walking"] = 1
        if rng.random() < 0.7:
            values["raise_arms_above_head"] = "able" if years < 12 else rng.choice(["with_difficulty", "unable"])
            values["rise_from_chair"] = "able" if stage <= 1 else ("with_difficulty" if stage <= 3 else "unable")
        if source == Source.CLINICIAN:
            if stage == 5:
                values["six_minute_walk_status"] = SixMinuteWalk.UNABLE
            elif rng.random() < 0.9:
                values["six_minute_walk_status"] = SixMinuteWalk.DONE
                values["six_minute_walk_m"] = max(20, int(560 - 95 * stage - 6 * years + rng.gauss(0, 40)))
            grip = max(2.0, 28 - 0.9 * years + rng.gauss(0, 3))
            values["grip_left_kg"] = Decimal(f"{grip:.1f}")
            values["grip_right_kg"] = Decimal(f"{grip + rng.gauss(0, 1.5):.1f}").max(Decimal("1.0"))
            values["fvc_percent_predicted"] = Decimal(f"{max(40, 98 - 0.8 * years + rng.gauss(0, 6)):.1f}")
            values["ck_u_per_l"] = max(60, int(rng.gauss(650, 250) - 10 * years))
        return values

    def dynamometry(self, strength: dict, years_since_baseline: float) -> list[dict]:
        """One visit's hand-held dynamometry rows: each composite declines exponentially from the
        patient's baseline, split over its muscle groups and sides, with measurement noise."""
        rng, p = self.rng, self.parameters
        visit_factor = max(0.5, rng.gauss(1, p.hhd_noise))
        incomplete = rng.random() < p.hhd_incomplete
        rows = []
        for composite, groups in settings.REGISTRY_HHD_COMPOSITES.items():
            baseline, rate = strength[composite]
            force = baseline * math.exp(-rate * years_since_baseline) * visit_factor
            shares = [HHD_GROUP_SHARES.get(group, 1.0) for group in groups]
            for group, share in zip(groups, shares, strict=True):
                for side, asymmetry in zip(("left", "right"), strength["asymmetry"][group], strict=True):
                    kg = force * share / sum(shares) / 2 * asymmetry * rng.gauss(1, 0.03)
                    rows.append({"muscle_group": group, "side": side, "kg": Decimal(f"{min(150, max(0, kg)):.1f}")})
        if incomplete:  # one group not measured: no composite for that visit (a partial sum would mislead)
            dropped = rng.choice(rows)["muscle_group"]
            rows = [row for row in rows if row["muscle_group"] != dropped]
        return rows

    def baseline_strength(self, progress: float) -> dict:
        """A patient's composites at their first dynamometry, and their own rates of decline.

        Log-normal (without its top tail) with the published mean and SD; a patient further along
        (`progress`: years from onset over years to full-time wheelchair) is weaker.
        """
        rng, cut = self.rng, self.parameters.hhd_tail_cut
        behind = -max(-3.0, min(3.0, (math.log(progress) - HHD_PROGRESS_LOG_MEAN) / HHD_PROGRESS_LOG_SD))
        build = rng.gauss(0, 1)  # body build, shared by both composites
        strength = {}
        for composite, ((mu, sigma), rate, weight) in self.hhd.items():
            rest = math.sqrt(max(0.0, 1 - weight * weight - 0.25))
            z = cut + 1
            while z > cut:  # about 1 in 40 drawn again
                z = weight * behind + 0.5 * build + rest * rng.gauss(0, 1)
            strength[composite] = (math.exp(mu + sigma * z), rate * rng.gammavariate(4, 0.25))
        groups = {group for groups in settings.REGISTRY_HHD_COMPOSITES.values() for group in groups}
        strength["asymmetry"] = {group: (1 + (shift := rng.gauss(0, 0.05)), 1 - shift) for group in sorted(groups)}
        return strength

    def build_patient(self, population: Population) -> dict:
        rng, p = self.rng, self.parameters
        (allele1, allele2), consanguineous, genotype_pace = self.genotype(rng, population)
        onset_age = self.onset_age(rng)
        stages = self.stage_years(rng, genotype_pace)
        shape = p.diagnostic_delay_shape
        delay = min(p.disease_years_max - 1, rng.gammavariate(shape, p.diagnostic_delay_years / shape))
        lag = rng.expovariate(1 / p.enrollment_lag_years)
        # Disease duration today: anything from (diagnosis + enrollment) to the longest, so the
        # delay keeps its published mean (a registry holds only diagnosed patients).
        duration = rng.uniform(min(delay + lag + 0.2, p.disease_years_max), p.disease_years_max)
        onset = _add_years(self.today, -duration)
        birth = _add_years(onset, -onset_age)
        birth = birth.replace(day=min(birth.day, 28))
        genetic_dx = min(_add_years(onset, delay), self.today - dt.timedelta(days=60))
        stage_day = {name: None if years is None else _add_years(onset, years) for name, years in stages.items()}
        walker_skipped = rng.random() < p.walker_skipped

        # Follow-up: enrolled after the genetic diagnosis (not before the registry opened), seen
        # every 4 to 12 months since.
        opened = _add_years(p.registry_opened, rng.uniform(0, 3))
        enrolled = max(_add_years(genetic_dx, lag), opened)
        enrolled = min(enrolled, self.today - dt.timedelta(days=30))
        status, end = EnrollmentStatus.ENROLLED, self.today
        leaves = rng.random()
        if leaves < p.withdrawn:
            status, end = EnrollmentStatus.WITHDRAWN, _add_years(enrolled, rng.uniform(1, 5))
        elif leaves < p.withdrawn + p.deceased:
            status, end = EnrollmentStatus.DECEASED, _add_years(enrolled, rng.uniform(2, 8))
        end = min(end, self.today)
        visit_days, day = [], enrolled
        while day <= end and len(visit_days) < p.visits_max:
            visit_days.append(day)
            day = day + dt.timedelta(days=rng.randint(*p.visit_interval_days))

        patient = Patient(
            sex=rng.choice([Sex.FEMALE, Sex.MALE]),
            country=rng.choice(population.countries),
            ancestry=population.ancestry if rng.random() < 0.9 else [],
            consanguinity="yes" if consanguineous else rng.choice(["no", "no", "unknown"]),
            affected_relatives=rng.choice(["yes", "no", "unknown"]),
        )  # its status comes from the enrollment history, through `enrollment_events_build`
        truth = PatientTruth(
            birth=birth,
            onset=onset,
            genetic_diagnosis=genetic_dx,
            afo=stage_day["afo"],
            cane=stage_day["cane"],
            # "Walker or more walking support": with no walker, full-time use is the first step beyond it.
            walker=stage_day["full_time"] if walker_skipped else stage_day["walker"],
            wheelchair_part_time=stage_day["part_time"],
            wheelchair_full_time=stage_day["full_time"],
            walker_skipped=walker_skipped,
            follow_up_start=visit_days[0],
            follow_up_end=visit_days[-1],
        )
        self.truth[patient.uuid] = truth

        visits, previous = [], None
        fall_propensity = rng.gammavariate(2, 0.5)
        strength, first_dynamometry = None, None
        for day in visit_days:
            source = _pick_from(rng, p.visit_sources)
            stage = truth.ambulation_class_on(day)
            values = self.assessment_values(day, stage, onset, source, afo_user=truth.afo is not None)
            if walker_skipped and stage == AmbulationClass.WHEELCHAIR_PART_TIME:
                values["devices"] = [Device.CANE, Device.MANUAL_WHEELCHAIR]
            since_last = 0.5 if previous is None else (day - previous).days / 365.25
            values |= self.falls(rng, stage, since_last, fall_propensity)
            if source == Source.CLINICIAN and rng.random() < p.hhd_measured:
                if strength is None:
                    progress = max(0.01, years_between(onset, day)) / stages["full_time"]
                    strength, first_dynamometry = self.baseline_strength(progress), day
                values["dynamometry"] = self.dynamometry(strength, years_between(first_dynamometry, day))
            visits.append(values)
            previous = day
        last_visit = visits[-1]["assessment_date"]
        status_date = min(self.today, last_visit + dt.timedelta(days=rng.randint(1, 60)))
        # Nothing is dated after the patient's death (the services refuse it).
        last_day = status_date if status == EnrollmentStatus.DECEASED else self.today

        onset_stored, onset_precision = recorded_date(onset, _pick_from(rng, p.onset_precision))
        dx_stored, dx_precision = recorded_date(genetic_dx, _pick_from(rng, p.diagnosis_precision))
        contact = self.contacts.next()
        return {
            "patient": patient,
            "country": population.countries[0],
            "identity": {
                "given_name": contact["given_name"],
                "family_name": contact["family_name"],
                "date_of_birth": birth,
                "date_of_death": status_date if status == EnrollmentStatus.DECEASED else None,
                "email": contact["email"],
                "phone": contact["phone"],
                "hospital_id": f"H{rng.randint(10**6, 10**7 - 1)}",
            },
            "events": [
                (EnrollmentStatus.CANDIDATE, enrolled - dt.timedelta(days=14)),
                (EnrollmentStatus.ENROLLED, enrolled),
            ]
            + ([(status, status_date)] if status != EnrollmentStatus.ENROLLED else []),
            "diagnosis": {
                "genetically_confirmed": rng.random() < 0.95,
                "onset_date": onset_stored,
                "onset_date_precision": onset_precision,
                # The age the patient states: completed years on the true day, one of those the
                # recorded onset interval allows.
                "onset_age": age_in_years(birth, onset),
                "first_symptom": _pick(
                    rng,
                    [
                        FirstSymptom.FOOT_DROP,
                        FirstSymptom.GAIT_CHANGE,
                        FirstSymptom.FALLS,
                        FirstSymptom.HAND_WEAKNESS,
                        FirstSymptom.UNKNOWN,
                    ],
                    [70, 12, 8, 5, 5],
                ),
                "genetic_diagnosis_date": dx_stored,
                "genetic_diagnosis_date_precision": dx_precision,
                "prior_misdiagnoses": rng.choice([[], [], ["sporadic_ibm"], ["cmt"], ["polymyositis", "limb_girdle"]]),
                "biopsy_done": rng.choice(["yes", "no", "unknown"]),
            },
            "genotype": {
                "allele1": allele1,
                "allele1_numbering": "current",
                "allele2": allele2,
                "allele2_numbering": "current",
            },
            "visits": visits,
            "reported_entries": self.recalled_milestones(truth),
            "treatments": self.treatments(onset, last_day),
        }

    def recalled_milestones(self, truth: PatientTruth) -> list[dict]:
        """Stages reached before enrollment, as the patient reports them (if they do): a year, a
        month or an age, recorded as the registry stores them; a skipped walker as skipped."""
        rng, p = self.rng, self.parameters
        entries = []
        for kind in (MilestoneKind.AFO, *(kind for kind, _ in STAGE_MILESTONES)):
            reached = truth.reached_on(kind)
            if reached is None or reached >= truth.follow_up_start or rng.random() >= p.milestone_recalled:
                continue
            if kind == MilestoneKind.WALKER and truth.walker_skipped:
                entries.append({"kind": kind, "skipped": True})
                continue
            precision = _pick_from(rng, p.recall_precision)
            if precision == "age":
                entries.append({"kind": kind, "age_years": age_in_years(truth.birth, reached)})
            else:
                day, precision = recorded_date(reached, precision)
                entries.append({"kind": kind, "date": day, "date_precision": precision})
        return entries

    def treatments(self, onset: dt.date, last_day: dt.date) -> list[dict]:
        """Treatment input, as `treatment_create` takes it."""
        rng, chosen = self.rng, []
        if rng.random() < 0.2:
            start, precision = recorded_date(min(last_day, _add_years(onset, rng.uniform(2, 10))), "month")
            chosen.append({"kind": TreatmentKind.SIALIC_ACID, "start_date": start, "start_date_precision": precision})
        if rng.random() < 0.05:
            start = min(last_day, max(onset, dt.date(2019, 1, 1)) + dt.timedelta(days=rng.randint(0, 800)))
            chosen.append(
                {
                    "kind": TreatmentKind.MANNAC,
                    "in_clinical_trial": True,
                    "trial_registration": "NCT04231266",
                    "start_date": start,
                    "start_date_precision": "day",
                }
            )
        return chosen


def seed_demo_cohort(
    *,
    patients: int,
    seed: int = 2026,
    progress: Callable[[int, int], None] | None = None,
    truth: dict | None = None,
) -> int:
    """Create `patients` synthetic patients with everything attached; returns how many were made.

    `truth`, when given, is filled with each patient's true dates (`PatientTruth`) by patient uuid.
    """
    builder = CohortBuilder(seed=seed, truth=truth)
    sites = {
        code: Site.objects.get_or_create(code=code, defaults={"name": name, "country": country})[0]
        for code, name, country in [
            ("tel-aviv", "Tel Aviv neuromuscular clinic", "IL"),
            ("tokyo", "Tokyo neuromuscular centre", "JP"),
            ("newcastle", "Newcastle muscle centre", "GB"),
            ("foundation", "Foundation remote enrollment", "US"),
        ]
    }
    consent, _ = ConsentDocument.objects.get_or_create(
        code="registry-consent",
        version="1.0",
        defaults={
            "title": "GNE registry participation",
            "effective_from": dt.date(2010, 1, 1),
            "purposes": list(ConsentPurpose.values),
            "text": "Synthetic demo consent form.",
        },
    )
    weights = [population.weight for population in POPULATIONS]
    made, batch_size = 0, 250
    while made < patients:
        size = min(batch_size, patients - made)
        with transaction.atomic():
            _insert_batch(
                [builder.build_patient(_pick(builder.rng, POPULATIONS, weights)) for _ in range(size)],
                builder,
                sites,
                consent,
            )
        made += size
        if progress:
            progress(made, patients)
    return made


def _insert_batch(rows: list[dict], builder: CohortBuilder, sites: dict, consent: ConsentDocument) -> None:
    """Insert one batch. Every record is built by the services' bulk functions, in the order the
    one-by-one services would take them (identity, enrollment, diagnosis, treatments, consent,
    reported milestones, then visits), so a row the rules refuse raises ValidationError before
    anything of the batch is saved (visits excepted: their checks read the saved enrollment history).
    """
    rng = builder.rng
    site_by_country = {"IL": sites["tel-aviv"], "JP": sites["tokyo"], "GB": sites["newcastle"]}
    identities, events, diagnoses, treatments, grants = [], [], [], [], []
    for row in rows:
        patient = row["patient"]
        patient.site = site_by_country.get(patient.country, sites["foundation"])
        # Each builder attaches the one-to-one records to the patient: the later checks read identity
        # and diagnosis from there, without a query. The patients are saved below, before the rest.
        identities.append(identity_build(patient=patient, data=row["identity"]))
        patient_events = enrollment_events_build(patient=patient, history=row["events"], reason="Demo cohort")
        events += patient_events
        first_visit = min(visit["assessment_date"] for visit in row["visits"])
        diagnoses.append(diagnosis_build(patient=patient, data=row["diagnosis"], first_assessment=first_visit))
        treatments += treatments_build(patient=patient, entries=row["treatments"])
        enrolled_on = row["events"][1][1]
        # A withdrawal ends every consent the patient had given, on the day it takes effect.
        withdrawn = patient.status == EnrollmentStatus.WITHDRAWN
        purposes = [ConsentPurpose.RECONTACT] if rng.random() < PARAMETERS.recontact_consent else []
        if rng.random() < PARAMETERS.research_consent:
            purposes.insert(0, ConsentPurpose.RESEARCH)
        grants += consent_grants_build(
            patient=patient,
            document=consent,
            purposes=purposes,
            granted_on=enrolled_on,
            withdrawn_on=patient_events[-1].effective_date if withdrawn else None,
        )
        # Stages reached before enrollment are known only from the patient's recollection.
        row["reported"] = milestones_reported_build(patient=patient, entries=row["reported_entries"])
    Patient.objects.bulk_create([row["patient"] for row in rows])
    PatientIdentity.objects.bulk_create(identities)
    EnrollmentEvent.objects.bulk_create(events)
    Diagnosis.objects.bulk_create(diagnoses)
    Genotype.objects.bulk_create(genotypes_build([(row["patient"], row["genotype"]) for row in rows]))
    Treatment.objects.bulk_create(treatments)
    ConsentGrant.objects.bulk_create(grants)
    assessments, measured = [], []
    for row in rows:
        built = assessments_build(patient=row["patient"], entries=row["visits"], reported_milestones=row["reported"])
        # Both in date order: the visits are generated in date order, on distinct days.
        for assessment, visit in zip(built, row["visits"], strict=True):
            dynamometry = visit.get("dynamometry")
            if dynamometry:
                computed = assessment_computed_fields(visit, dynamometry)
                assessment.hhd_upper_composite_kg = computed["hhd_upper_composite_kg"]
                assessment.hhd_lower_composite_kg = computed["hhd_lower_composite_kg"]
                measured.append((assessment, dynamometry))
        assessments += built
    Assessment.objects.bulk_create(assessments, batch_size=1000)
    DynamometryMeasurement.objects.bulk_create(
        [DynamometryMeasurement(assessment_id=assessment.pk, **row) for assessment, rows in measured for row in rows],
        batch_size=2000,
    )
    milestones = [milestone for row in rows for milestone in row["reported"]]
    Milestone.objects.bulk_create(milestones + milestones_derived_build(assessments), batch_size=1000)
