"""A synthetic GNE myopathy cohort for demos, tests and benchmarks.

Numbers follow the published natural history (docs/clinical-rules.md, "Published figures"): onset
27.7 ± 9.6 years; AFO within about 5 years; cane/braces at about 12.4 years from onset; wheelchair
at about 12-15; loss of ambulation at about 21; genetic diagnosis about 5 years after onset;
founder variants by ancestry. Every record is invented and no row describes a real person: names
are drawn from short built-in lists, e-mail addresses use the domains reserved for documentation,
and phone numbers the range kept for fiction.
Only the runtime requirements are needed (no Faker), so `seed_demo` works on any install.

Rows are bulk-inserted for speed (5,000 patients in well under a minute), but every record is built
by the services' own bulk functions (`identity_build`, `enrollment_events_build`, `diagnosis_build`,
`treatments_build`, `consent_grants_build`, `genotypes_build`, `milestones_reported_build`,
`assessments_build`, `milestones_derived_build`), with the same parsing, zygosity, checks, computed
fields and review flags as every other entry path: data the rules refuse raises ValidationError.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from assessments.models import (
    IBMFRS_ITEMS,
    MILESTONE_ORDER,
    AmbulationClass,
    Assessment,
    Device,
    Milestone,
    SixMinuteWalk,
    Source,
    WheelchairUse,
)
from assessments.services import assessments_build, milestones_derived_build, milestones_reported_build
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
from registry.dates import today

M743T, V603L, D207V = "c.2228T>C", "c.1807G>C", "c.620A>T"
A662V, D409Y, A57F = "c.1985C>T", "c.1225G>T", "c.169_170delinsTT"
V727M, I618T = "c.2179G>A", "c.1853T>C"
# Invented missense changes for the "other" genotypes (synthetic; not claimed to be real variants).
OTHER_VARIANTS = [
    "p.(Arg277Gln)",
    "p.(Gly299Arg)",
    "p.(Val367Ile)",
    "p.(Leu539Ser)",
    "p.(Arg420Trp)",
    "p.(Cys44Ser)",
    "p.(Gly576Glu)",
    "p.(Ala631Thr)",
]


@dataclass(frozen=True)
class Population:
    ancestry: list[str]
    countries: list[str]
    weight: float
    genotypes: list[tuple[str, str, float]]  # allele1, allele2, weight


POPULATIONS = [
    Population(["middle_eastern_jewish"], ["IL", "US", "IR"], 0.24, [(M743T, M743T, 0.9), (M743T, V603L, 0.1)]),
    Population(["japanese"], ["JP"], 0.2, [(V603L, V603L, 0.4), (V603L, D207V, 0.4), (D207V, D207V, 0.2)]),
    Population(["chinese"], ["CN", "TW"], 0.1, [(D207V, OTHER_VARIANTS[0], 0.6), (D207V, D207V, 0.4)]),
    Population(["northern_european"], ["GB", "IE"], 0.1, [(A662V, D409Y, 0.7), (A662V, OTHER_VARIANTS[1], 0.3)]),
    Population(["south_asian"], ["IN", "GB", "US"], 0.1, [(V727M, V727M, 0.8), (V727M, I618T, 0.2)]),
    Population(["mari"], ["RU"], 0.04, [(A57F, A57F, 1.0)]),
    Population(["korean"], ["KR"], 0.05, [(V603L, OTHER_VARIANTS[2], 1.0)]),
    Population(
        ["other_european"],
        ["DE", "IT", "FR", "BG", "ES"],
        0.12,
        [(A662V, OTHER_VARIANTS[3], 0.3), (OTHER_VARIANTS[4], OTHER_VARIANTS[5], 0.4), (D409Y, OTHER_VARIANTS[6], 0.3)],
    ),
    Population(["hispanic_latino"], ["BR", "MX", "US"], 0.05, [(M743T, OTHER_VARIANTS[7], 1.0)]),
]


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

# Mean years from onset to each stage (AFO, cane, walker, part-time wheelchair, full-time).
MEAN_YEARS_TO_STAGE = [4.5, 10.0, 12.5, 14.0, 21.1]
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


def _pick(rng: random.Random, options: list, weights: list[float]):
    return rng.choices(options, weights=weights, k=1)[0]


def _add_years(day: dt.date, years: float) -> dt.date:
    return day + dt.timedelta(days=round(years * 365.25))


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
    def __init__(self, *, seed: int):
        self.rng = random.Random(seed)
        self.contacts = SyntheticContacts(seed=seed)
        self.today = today()

    # --- one patient, in memory ---------------------------------------------------------------

    def stage_dates(self, onset: dt.date, slow_factor: float) -> list[dt.date]:
        """Dates each stage is first reached, strictly increasing, following the published means."""
        dates, previous = [], onset
        for mean_years in MEAN_YEARS_TO_STAGE:
            target = _add_years(onset, mean_years * slow_factor * self.rng.uniform(0.75, 1.25))
            previous = max(target, previous + dt.timedelta(days=60))
            dates.append(previous)
        return dates

    def stage_on(self, day: dt.date, stage_dates: list[dt.date]) -> int:
        return sum(1 for reached in stage_dates if reached <= day)

    def assessment_values(self, day: dt.date, stage: int, onset: dt.date, source: str) -> dict:
        """One visit's input, as `assessment_create` takes it (computed fields and flags come later)."""
        rng = self.rng
        years = (day - onset).days / 365.25
        profile = STAGE_PROFILES[stage]
        falls = 0 if stage == 5 else min(60, int(rng.expovariate(1 / (1 + 2 * min(stage, 3)))))
        injurious = sum(rng.random() < 0.2 for _ in range(falls))
        values = {
            "assessment_date": day,
            "source": source,
            "ambulation_class": stage,
            "wheelchair_use": profile.wheelchair_use,
            "devices": list(profile.devices),
            "falls_count": falls,
            "injurious_falls_count": injurious,
            "fractures_count": sum(rng.random() < 0.1 for _ in range(injurious)),
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

    def build_patient(self, population: Population) -> dict:
        rng = self.rng
        onset_age = int(min(52, max(15, rng.gauss(27.7, 9.6))))
        disease_years = rng.uniform(0.5, 35)
        birth = _add_years(self.today, -(onset_age + disease_years + rng.uniform(0, 1)))
        birth = birth.replace(day=min(birth.day, 28))
        onset = dt.date(birth.year + onset_age, rng.randint(1, 12), 1)
        onset = max(onset, _add_years(birth, onset_age))
        onset = min(onset, self.today - dt.timedelta(days=120))
        allele1, allele2, _ = _pick(rng, population.genotypes, [g[2] for g in population.genotypes])
        if rng.random() < 0.5:
            allele1, allele2 = allele2, allele1
        slow = rng.lognormvariate(0, 0.25) * (1.35 if D207V in (allele1, allele2) else 1.0)
        stage_dates = self.stage_dates(onset, slow)

        # Follow-up: enrolled some years after onset, seen every 4 to 12 months since.
        enrolled = max(_add_years(onset, rng.uniform(0, 8)), dt.date(2012, 1, 1))
        enrolled = min(enrolled, self.today - dt.timedelta(days=30))
        visits, day = [], enrolled
        end = self.today
        leaves = rng.random()
        status = EnrollmentStatus.ENROLLED
        if leaves < 0.04:
            status, end = EnrollmentStatus.WITHDRAWN, _add_years(enrolled, rng.uniform(1, 5))
        elif leaves < 0.05:
            status, end = EnrollmentStatus.DECEASED, _add_years(enrolled, rng.uniform(2, 8))
        end = min(end, self.today)
        while day <= end and len(visits) < 12:
            source = _pick(rng, [Source.PATIENT, Source.CLINICIAN, Source.IMPORTED], [0.6, 0.35, 0.05])
            visits.append(self.assessment_values(day, self.stage_on(day, stage_dates), onset, source))
            day = day + dt.timedelta(days=rng.randint(120, 365))
        last_visit = visits[-1]["assessment_date"]
        status_date = min(self.today, last_visit + dt.timedelta(days=rng.randint(1, 60)))
        # Nothing is dated after the patient's death (the services refuse it).
        last_day = status_date if status == EnrollmentStatus.DECEASED else self.today
        genetic_dx = min(last_day, _add_years(onset, rng.expovariate(1 / 5.2)))
        contact = self.contacts.next()
        return {
            "patient": Patient(
                sex=rng.choice([Sex.FEMALE, Sex.MALE]),
                country=rng.choice(population.countries),
                ancestry=population.ancestry if rng.random() < 0.9 else [],
                consanguinity=rng.choice(["yes", "no", "no", "unknown"]),
                affected_relatives=rng.choice(["yes", "no", "unknown"]),
            ),  # its status comes from the enrollment history, through `enrollment_events_build`
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
                "onset_date": onset,
                "onset_date_precision": rng.choice(["year", "year", "month"]),
                "onset_age": onset_age,
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
                "genetic_diagnosis_date": genetic_dx,
                "genetic_diagnosis_date_precision": "month",
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
            "pre_enrollment_stages": [
                (kind_index, reached) for kind_index, reached in enumerate(stage_dates) if reached < enrolled
            ],
            "treatments": self.treatments(onset, last_day),
        }

    def treatments(self, onset: dt.date, last_day: dt.date) -> list[dict]:
        """Treatment input, as `treatment_create` takes it."""
        rng, chosen = self.rng, []
        if rng.random() < 0.2:
            start = min(last_day, _add_years(onset, rng.uniform(2, 10)))
            chosen.append(
                {"kind": TreatmentKind.SIALIC_ACID, "start_date": start.replace(day=1), "start_date_precision": "month"}
            )
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


def seed_demo_cohort(*, patients: int, seed: int = 2026, progress: Callable[[int, int], None] | None = None) -> int:
    """Create `patients` synthetic patients with everything attached; returns how many were made."""
    builder = CohortBuilder(seed=seed)
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
        purposes = [ConsentPurpose.RESEARCH] + ([ConsentPurpose.RECONTACT] if rng.random() < 0.7 else [])
        grants += consent_grants_build(
            patient=patient,
            document=consent,
            purposes=purposes,
            granted_on=enrolled_on,
            withdrawn_on=patient_events[-1].effective_date if withdrawn else None,
        )
        # Stages reached before enrollment are known only from the patient's recollection.
        row["reported"] = milestones_reported_build(
            patient=patient,
            entries=[
                {"kind": MILESTONE_ORDER[kind_index], "date": reached.replace(month=1, day=1), "date_precision": "year"}
                for kind_index, reached in row["pre_enrollment_stages"]
                if rng.random() < 0.6
            ],
        )
    Patient.objects.bulk_create([row["patient"] for row in rows])
    PatientIdentity.objects.bulk_create(identities)
    EnrollmentEvent.objects.bulk_create(events)
    Diagnosis.objects.bulk_create(diagnoses)
    Genotype.objects.bulk_create(genotypes_build([(row["patient"], row["genotype"]) for row in rows]))
    Treatment.objects.bulk_create(treatments)
    ConsentGrant.objects.bulk_create(grants)
    assessments = []
    for row in rows:
        assessments += assessments_build(
            patient=row["patient"], entries=row["visits"], reported_milestones=row["reported"]
        )
    Assessment.objects.bulk_create(assessments, batch_size=1000)
    milestones = [milestone for row in rows for milestone in row["reported"]]
    Milestone.objects.bulk_create(milestones + milestones_derived_build(assessments), batch_size=1000)
