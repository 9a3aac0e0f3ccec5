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
from research.package.columns import ANY, SUPPRESSED

# Patients per query of the participants and the milestones: fewer, larger queries read faster
# (40,000 patients: 2.2 s in chunks of 10,000, 3.3 s in chunks of 2,000), and a chunk's rows are small.
CHUNK = 10_000
BAND_WIDTHS = (5, 10, 20)


@dataclass(slots=True)
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
    ages_withheld: bool = False  # no age at an assessment leaves (suppressed, or bands wider than 5 years)

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
        Patient.objects.filter(id__any_of=ids)
        .annotate(
            baseline=Subquery(first.values("assessment_date")[:1]),
            class_first=Subquery(first.values("ambulation_class")[:1]),
            class_last=Subquery(last.values("ambulation_class")[:1]),
        )
        .values_list(*_FIELDS, "baseline", "class_first", "class_last")
        .order_by()
    )


class _Derived:
    """What many participants share, computed or kept once per distinct input: the diagnosis delay,
    the genotype facts, the coded values."""

    def __init__(self):
        self.delays: dict[tuple, int | None] = {}
        self.genotypes: dict[tuple, deid.GenotypeFacts] = {}
        self.values: dict = {}

    def shared(self, value):
        """One object for equal values (codes, variants), so that a large cohort holds each once."""
        return self.values.setdefault(value, value)

    def diagnosis_delay(self, onset_date, onset_precision, onset_age, dx_date, dx_precision, birth) -> int | None:
        if dx_date is None:
            return None
        # The onset age and the date of birth only matter when there is no onset date.
        key = (onset_date, onset_precision, dx_date, dx_precision) + ((onset_age, birth) if onset_date is None else ())
        if key not in self.delays:
            timeline = diagnosis_timeline(
                onset=PartialDate.from_stored(onset_date, onset_precision),
                onset_age=onset_age,
                genetic_diagnosis=PartialDate.from_stored(dx_date, dx_precision),
                birth=birth,
            )
            self.delays[key] = deid.whole_years_down(timeline.diagnostic_delay_years)
        return self.delays[key]

    def genotype(self, zygosity: str, domains: tuple[tuple[str, str], ...]) -> deid.GenotypeFacts:
        key = (zygosity, domains)
        if key not in self.genotypes:
            self.genotypes[key] = deid.genotype_facts(zygosity, list(domains))
        return self.genotypes[key]


def _participant(row: tuple, key: bytes, derived: _Derived) -> Participant:
    (
        patient_id, uuid, sex, country, ancestry, birth,
        onset_date, onset_precision, onset_age, dx_date, dx_precision,
        first_symptom, confirmed, biopsy_done, rimmed_vacuoles, zygosity,
        name1, cdna1, protein1, domain1, name2, cdna2, protein2, domain2,
        baseline, class_first, class_last,
    ) = row  # fmt: skip
    alleles = [(name, cdna, protein, domain) for name, cdna, protein, domain in
               ((name1, cdna1, protein1, domain1), (name2, cdna2, protein2, domain2)) if name]  # fmt: skip
    zygosity = derived.shared(zygosity or "")
    return Participant(
        patient_id=patient_id,
        pid=deid.pseudonym(key, str(uuid)),
        sex=derived.shared(sex),
        country=derived.shared(country or ""),
        ancestry=derived.shared(";".join(sorted(ancestry or []))),
        birth=birth,
        baseline=baseline,
        onset_age=onset_age,
        diagnosis_delay_years=derived.diagnosis_delay(
            onset_date, onset_precision, onset_age, dx_date, dx_precision, birth
        ),
        first_symptom=derived.shared(first_symptom or ""),
        genetically_confirmed=confirmed,
        biopsy_done=derived.shared(biopsy_done or ""),
        rimmed_vacuoles=derived.shared(rimmed_vacuoles or ""),
        genotype=derived.genotype(zygosity, tuple((name, domain) for name, _, _, domain in alleles)),
        zygosity=zygosity,
        variants=derived.shared(tuple((cdna, protein, name) for name, cdna, protein, _ in alleles)),
        ambulation_class_baseline=class_first,
        ambulation_class_last=class_last,
    )


def load_participants(request: PackageRequest) -> list[Participant]:
    """Every patient of the request, pseudonymised, in pid order (a few queries per 2,000 patients)."""
    derived = _Derived()
    participants = [
        _participant(row, request.key, derived)
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


def _band_levels(ages: list[int | None]) -> tuple[tuple[str, list[str]], ...]:
    """docs/research-exports.md, "Generalisation": an age in 5-, 10- or 20-year bands, or not at all."""
    levels = tuple((f"{width}-year bands", [deid.age_band(age, width) for age in ages]) for width in BAND_WIDTHS)
    return (*levels, ("not released", [ANY if age is not None else "" for age in ages]))


def _hierarchies(
    participants: list[Participant], request: PackageRequest, countries: list[str], genotypes: list[str]
) -> list[deid.Hierarchy]:
    """The quasi-identifiers' generalisation levels, the most useful to research first (it is
    generalised last): genotype, onset age, sex, age at baseline, country, then ancestry."""
    facts = [participant.genotype for participant in participants]
    anyone = [ANY] * len(participants)
    hierarchies = [
        deid.Hierarchy(
            "genotype",
            (
                ("exact pair, or zygosity and protein domains, or 'other', by how many share it", genotypes),
                ("zygosity and protein domains for everyone", [fact.class_domain for fact in facts]),
                ("zygosity only for everyone", [fact.zygosity for fact in facts]),
            ),
        ),
        deid.Hierarchy("onset_age_band", _band_levels([participant.onset_age for participant in participants])),
        deid.Hierarchy(
            "sex", (("as recorded", [participant.sex for participant in participants]), ("not released", anyone))
        ),
        deid.Hierarchy("age_band_baseline", _band_levels([participant.baseline_age for participant in participants])),
        deid.Hierarchy(
            "country",
            (
                ("country, or its UN M49 sub-region or region when fewer than k share it", countries),
                ("every country as its UN M49 region", deid.countries_to_regions(countries)),
                ("not released", anyone),
            ),
        ),
    ]
    if request.include_ancestry:
        ancestries = [participant.ancestry for participant in participants]
        hierarchies.append(deid.Hierarchy("ancestry", (("as recorded", ancestries), ("not released", anyone))))
    return hierarchies


def _genotype_level(local_level: str, chosen: int, genotype: str) -> str:
    if not genotype:
        return "none"
    return (local_level, "class_domain", "zygosity")[chosen]


def anonymise_participants(participants: list[Participant], request: PackageRequest) -> dict:
    """docs/research-exports.md, "k-anonymity": fill each participant's out_* values; returns the
    report's part about generalisation and suppression."""
    countries, country_steps = deid.generalise_countries([p.country for p in participants], request.k)
    genotypes, local_levels, genotype_steps = deid.generalise_genotypes([p.genotype for p in participants], request.k)
    hierarchies = _hierarchies(participants, request, countries, genotypes)
    result = deid.anonymise_lattice(
        hierarchies,
        patients=len(participants),
        k=request.k,
        max_suppression=request.max_suppression,
    )
    values, levels = result.values, result.levels
    # An exact age at an assessment would undo a band wider than 5 years (docs/research-exports.md, "Ages").
    ages_banded_wider = levels["age_band_baseline"] > 0
    for index, participant in enumerate(participants):
        gone = result.suppressed[index]

        def out(name: str, index: int = index, gone: bool = gone) -> str:
            return SUPPRESSED if gone else values[name][index]

        participant.out_sex, participant.out_country = out("sex"), out("country")
        participant.out_age_band, participant.out_onset_band = out("age_band_baseline"), out("onset_age_band")
        participant.out_genotype = out("genotype")
        participant.out_ancestry = out("ancestry") if request.include_ancestry else ""
        participant.out_genotype_level = (
            SUPPRESSED if gone else _genotype_level(local_levels[index], levels["genotype"], values["genotype"][index])
        )
        participant.suppressed = gone
        participant.ages_withheld = gone or ages_banded_wider
    local_steps = (country_steps if levels["country"] == 0 else []) + (
        genotype_steps if levels["genotype"] == 0 else []
    )
    return {
        "quasi_identifiers": quasi_identifier_names(request.include_ancestry),
        "achieved_k": result.achieved_k,
        "levels": {hierarchy.name: hierarchy.levels[levels[hierarchy.name]][0] for hierarchy in hierarchies},
        "ages_at_assessment_withheld": ages_banded_wider,
        "generalisation_levels_tried": result.nodes_tried,
        "patients_suppressed": sum(result.suppressed),
        "suppression_allowance": deid.suppression_allowance(len(participants), request.max_suppression),
        "generalisations": [step.as_dict() for step in local_steps + result.steps[:-1]],
        "suppressions": [result.steps[-1].as_dict()],
    }
