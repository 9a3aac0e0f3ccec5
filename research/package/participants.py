"""One de-identified row per participant: read in chunks, pseudonymised, generalised, k-anonymised.

A participant row is small, so the whole cohort's rows are held in memory (tens of thousands of
rows); the assessments, which are many, never are (research.package.assessment_rows).
"""

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.db.models import OuterRef, Q, Subquery

from assessments.models import Assessment
from patients.models import Patient
from patients.selectors import diagnosis_timeline
from registry.dates import PartialDate, age_in_years
from research.errors import ExportRefused
from research.package import PackageRequest, deid
from research.package.columns import SUPPRESSED

CHUNK = 2000


@dataclass
class Participant:
    """What the export needs of one patient. Internal fields (patient_id, birth, baseline) never leave."""

    patient_id: int
    pid: str
    sex: str
    country: str
    ancestry: str
    birth: dt.date | None
    baseline: dt.date | None
    onset_age: int | None
    diagnosis_delay_years: int | None
    first_symptom: str
    genetically_confirmed: bool | None
    biopsy_done: str
    rimmed_vacuoles: str
    genotype: deid.GenotypeFacts
    zygosity: str
    variants: tuple[tuple[str, str, str], ...]  # (cdna, protein, name) of each allele found
    ambulation_class_baseline: int | None
    ambulation_class_last: int | None
    # Filled in by `anonymise_participants`: the values that leave.
    out_sex: str = ""
    out_country: str = ""
    out_age_band: str = ""
    out_onset_band: str = ""
    out_genotype: str = ""
    out_genotype_level: str = ""
    out_ancestry: str = ""
    suppressed: bool = False

    @property
    def baseline_age(self) -> int | None:
        return age_in_years(self.birth, self.baseline) if self.birth and self.baseline else None

    def csv_row(self, include_ancestry: bool) -> list:
        row = [
            self.pid,
            self.out_sex,
            self.out_country,
            self.out_age_band,
            self.out_onset_band,
            self.diagnosis_delay_years,
            self.out_genotype,
            self.out_genotype_level,
        ]
        if include_ancestry:
            row.append(self.out_ancestry)
        confirmed = "" if self.genetically_confirmed is None else str(self.genetically_confirmed).lower()
        row += [self.first_symptom, confirmed, self.biopsy_done, self.rimmed_vacuoles, self.ambulation_class_baseline]
        return row


def assessment_window(request: PackageRequest, prefix: str = "") -> Q:
    """The assessments that may leave: those in the request's period, when it gives one."""
    window = Q()
    if request.assessed_from:
        window &= Q(**{f"{prefix}assessment_date__gte": request.assessed_from})
    if request.assessed_to:
        window &= Q(**{f"{prefix}assessment_date__lte": request.assessed_to})
    return window


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


_FIELDS = (
    "id",
    "uuid",
    "sex",
    "country",
    "ancestry",
    "identity__date_of_birth",
    "diagnosis__onset_date",
    "diagnosis__onset_date_precision",
    "diagnosis__onset_age",
    "diagnosis__genetic_diagnosis_date",
    "diagnosis__genetic_diagnosis_date_precision",
    "diagnosis__first_symptom",
    "diagnosis__genetically_confirmed",
    "diagnosis__biopsy_done",
    "diagnosis__rimmed_vacuoles",
    "genotype__zygosity",
    "genotype__allele1__name",
    "genotype__allele1__cdna",
    "genotype__allele1__protein",
    "genotype__allele1__protein_domain",
    "genotype__allele2__name",
    "genotype__allele2__cdna",
    "genotype__allele2__protein",
    "genotype__allele2__protein_domain",
)


def _patients_query(request: PackageRequest, ids: list[int]):
    visits = Assessment.objects.filter(assessment_window(request), patient_id=OuterRef("pk"))
    first = visits.order_by("assessment_date", "id")
    last = visits.order_by("-assessment_date", "-id")
    return (
        Patient.objects.filter(id__in=ids)
        .annotate(
            baseline=Subquery(first.values("assessment_date")[:1]),
            class_first=Subquery(first.values("ambulation_class")[:1]),
            class_last=Subquery(last.values("ambulation_class")[:1]),
        )
        .values(*_FIELDS, "baseline", "class_first", "class_last")
        .order_by()
    )


def _diagnosis_delay(row: dict) -> int | None:
    timeline = diagnosis_timeline(
        onset=PartialDate.from_stored(row["diagnosis__onset_date"], row["diagnosis__onset_date_precision"]),
        onset_age=row["diagnosis__onset_age"],
        genetic_diagnosis=PartialDate.from_stored(
            row["diagnosis__genetic_diagnosis_date"], row["diagnosis__genetic_diagnosis_date_precision"]
        ),
        birth=row["identity__date_of_birth"],
    )
    return deid.whole_years_down(timeline.diagnostic_delay_years)


def _participant(row: dict, key: bytes) -> Participant:
    alleles = [
        (row[f"genotype__{allele}__cdna"], row[f"genotype__{allele}__protein"], row[f"genotype__{allele}__name"])
        for allele in ("allele1", "allele2")
        if row[f"genotype__{allele}__name"]
    ]
    domains = [
        (row[f"genotype__{allele}__name"], row[f"genotype__{allele}__protein_domain"])
        for allele in ("allele1", "allele2")
        if row[f"genotype__{allele}__name"]
    ]
    zygosity = row["genotype__zygosity"] or ""
    return Participant(
        patient_id=row["id"],
        pid=deid.pseudonym(key, str(row["uuid"])),
        sex=row["sex"],
        country=row["country"] or "",
        ancestry=";".join(sorted(row["ancestry"] or [])),
        birth=row["identity__date_of_birth"],
        baseline=row["baseline"],
        onset_age=row["diagnosis__onset_age"],
        diagnosis_delay_years=_diagnosis_delay(row),
        first_symptom=row["diagnosis__first_symptom"] or "",
        genetically_confirmed=row["diagnosis__genetically_confirmed"],
        biopsy_done=row["diagnosis__biopsy_done"] or "",
        rimmed_vacuoles=row["diagnosis__rimmed_vacuoles"] or "",
        genotype=deid.genotype_facts(zygosity, domains),
        zygosity=zygosity,
        variants=tuple(alleles),
        ambulation_class_baseline=row["class_first"],
        ambulation_class_last=row["class_last"],
    )


def load_participants(request: PackageRequest) -> list[Participant]:
    """Every patient of the request, pseudonymised, in pid order (a few queries per 2,000 patients)."""
    participants = [
        _participant(row, request.key)
        for ids in _chunks(sorted(request.patient_ids))
        for row in _patients_query(request, ids)
    ]
    participants.sort(key=lambda participant: participant.pid)
    if len({participant.pid for participant in participants}) != len(participants):
        # 64-bit pseudonyms: a collision is astronomically unlikely, but it would merge two people.
        raise ExportRefused("two patients received the same pseudonym; rotate the project's key")
    return participants


def quasi_identifier_names(include_ancestry: bool) -> list[str]:
    names = ["sex", "country", "age_band_baseline", "onset_age_band", "genotype"]
    return [*names, "ancestry"] if include_ancestry else names


def anonymise_participants(participants: list[Participant], request: PackageRequest) -> dict:
    """docs/research-exports.md, "k-anonymity": fill each participant's out_* values; returns the
    report's part about generalisation and suppression."""
    countries, country_steps = deid.generalise_countries([p.country for p in participants], request.k)
    genotypes, levels, genotype_steps = deid.generalise_genotypes([p.genotype for p in participants], request.k)
    regions = deid.countries_to_regions(countries)

    def rows(band_width: int, regions_only: bool) -> list[tuple[str, ...]]:
        geography = regions if regions_only else countries
        return [
            (
                p.sex,
                geography[i],
                deid.age_band(p.baseline_age, band_width),
                deid.age_band(p.onset_age, band_width),
                genotypes[i],
                *((p.ancestry,) if request.include_ancestry else ()),
            )
            for i, p in enumerate(participants)
        ]

    result = deid.anonymise(rows, patients=len(participants), k=request.k, max_suppression=request.max_suppression)
    for participant, row, gone, level in zip(participants, result.rows, result.suppressed, levels, strict=True):
        if gone:
            row, level = (SUPPRESSED,) * len(row), SUPPRESSED
        participant.out_sex, participant.out_country, participant.out_age_band = row[:3]
        participant.out_onset_band, participant.out_genotype = row[3:5]
        participant.out_ancestry = row[5] if request.include_ancestry else ""
        participant.out_genotype_level = level
        participant.suppressed = gone
    return {
        "quasi_identifiers": quasi_identifier_names(request.include_ancestry),
        "achieved_k": result.achieved_k,
        "age_band_width_years": result.band_width,
        "patients_suppressed": sum(result.suppressed),
        "suppression_allowance": deid.suppression_allowance(len(participants), request.max_suppression),
        "generalisations": [step.as_dict() for step in country_steps + genotype_steps + result.steps[:-1]],
        "suppressions": [result.steps[-1].as_dict()],
    }
