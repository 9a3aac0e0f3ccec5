"""phenopackets/: one GA4GH Phenopacket v2 JSON per participant, revealing no more than participants.csv.

No dates at all (not even MetaData.created); ages only as the same bands as participants.csv, as
ISO 8601 age ranges ("P30Y" to "P34Y"); no country; the exact variants only when the participant's
genotype left exact, else the gene and the generalised description; nothing of a suppressed value.

Many participants share every exported value, so each distinct set is serialised once, with a
placeholder id, and the pid is substituted in the text (the same bytes as serialising each one).
"""

from collections.abc import Iterator, Sequence

from assessments.models import MilestoneKind
from patients.models import FIRST_SYMPTOM_HPO
from research.package.columns import ANY, SUPPRESSED
from research.package.milestones import TimesToEvent
from research.package.participants import Participant

PLACEHOLDER = "@@pid@@"
TRANSCRIPT = "NM_001128227.3"
GENE = ("HGNC:23657", "GNE")
DISEASE = ("OMIM:605820", "GNE myopathy")
# HPO labels as HPO spells them (docs/clinical-rules.md, "Codes for standard exports").
HPO_LABELS = {
    "HP:0009027": "Foot dorsiflexor weakness",
    "HP:0009053": "Distal lower limb muscle weakness",
    "HP:0003376": "Steppage gait",
    "HP:0002359": "Frequent falls",
    "HP:0003701": "Proximal muscle weakness",
    "HP:0002505": "Loss of ambulation",
    "HP:0003805": "Rimmed vacuoles",
    "HP:0003236": "Elevated circulating creatine kinase concentration",
}
RIMMED_VACUOLES = "HP:0003805"
LOSS_OF_AMBULATION = "HP:0002505"
ZYGOSITY_GENO = {
    "homozygous": ("GENO:0000136", "homozygous"),
    "compound_heterozygous": ("GENO:0000402", "compound heterozygous"),
    "single_variant": ("GENO:0000135", "heterozygous"),
}
SEXES = {"female": "FEMALE", "male": "MALE", "other": "OTHER_SEX"}
RESOURCES = (
    ("hp", "Human Phenotype Ontology", "https://hpo.jax.org", "HP", "http://purl.obolibrary.org/obo/HP_"),
    ("omim", "Online Mendelian Inheritance in Man", "https://www.omim.org", "OMIM", "https://omim.org/entry/"),
    ("geno", "Genotype Ontology", "https://github.com/monarch-initiative/GENO-ontology", "GENO",
     "http://purl.obolibrary.org/obo/GENO_"),
    ("hgnc", "HUGO Gene Nomenclature Committee", "https://www.genenames.org", "HGNC",
     "https://www.genenames.org/data/gene-symbol-report/#!/hgnc_id/"),
)  # fmt: skip


def _age_range(band: str):
    """A band of participants.csv ("30-34", "90+") as an ISO 8601 age range; None when not exported."""
    import phenopackets as pp

    if band in ("", SUPPRESSED, ANY):
        return None
    if band.endswith("+"):
        return pp.TimeElement(age_range=pp.AgeRange(start=pp.Age(iso8601duration=f"P{band[:-1]}Y")))
    low, high = band.split("-")
    return pp.TimeElement(
        age_range=pp.AgeRange(start=pp.Age(iso8601duration=f"P{low}Y"), end=pp.Age(iso8601duration=f"P{high}Y"))
    )


def _feature(hpo: str, *, excluded: bool = False, onset=None):
    import phenopackets as pp

    feature = pp.PhenotypicFeature(type=pp.OntologyClass(id=hpo, label=HPO_LABELS[hpo]), excluded=excluded)
    if onset is not None:
        feature.onset.CopyFrom(onset)
    return feature


def _features(participant: Participant, lost_ambulation: bool) -> list:
    onset = _age_range(participant.out_onset_band)
    features = []
    if hpo := FIRST_SYMPTOM_HPO.get(participant.first_symptom):
        features.append(_feature(hpo, onset=onset))
    if participant.rimmed_vacuoles in ("yes", "no"):
        features.append(_feature(RIMMED_VACUOLES, excluded=participant.rimmed_vacuoles == "no"))
    if lost_ambulation:
        features.append(_feature(LOSS_OF_AMBULATION))
    return features


def _genomic_interpretations(participant: Participant) -> list:
    """The exact variants only for an exact genotype; else the gene, described as participants.csv does."""
    import phenopackets as pp

    gene = pp.GeneDescriptor(value_id=GENE[0], symbol=GENE[1])
    level = participant.out_genotype_level
    if level in ("none", SUPPRESSED):
        return []
    if level != "exact":
        gene.description = participant.out_genotype
        return [
            pp.GenomicInterpretation(
                subject_or_biosample_id=PLACEHOLDER, interpretation_status=pp.GenomicInterpretation.CAUSATIVE, gene=gene
            )
        ]
    geno_id, geno_label = ZYGOSITY_GENO[participant.zygosity]
    distinct = dict.fromkeys(participant.variants)  # a homozygous pair is one variant, in two copies
    interpretations = []
    for cdna, protein, name in distinct:
        expressions = [pp.Expression(syntax="hgvs.c", value=f"{TRANSCRIPT}:{cdna}")] if cdna else []
        descriptor = pp.VariationDescriptor(
            id=f"{TRANSCRIPT}:{name}",
            label=" ".join(part for part in (cdna, protein) if part),
            gene_context=gene,
            expressions=expressions,
            molecule_context=pp.MoleculeContext.transcript,
            allelic_state=pp.OntologyClass(id=geno_id, label=geno_label),
        )
        interpretations.append(
            pp.GenomicInterpretation(
                subject_or_biosample_id=PLACEHOLDER,
                interpretation_status=pp.GenomicInterpretation.CAUSATIVE,
                variant_interpretation=pp.VariantInterpretation(variation_descriptor=descriptor),
            )
        )
    return interpretations


def build_phenopacket(participant: Participant, lost_ambulation: bool):
    """The Phenopacket of one participant, with PLACEHOLDER where the pid goes."""
    import phenopackets as pp

    disease_term = pp.OntologyClass(id=DISEASE[0], label=DISEASE[1])
    disease = pp.Disease(term=disease_term)
    if onset := _age_range(participant.out_onset_band):
        disease.onset.CopyFrom(onset)
    genomic = _genomic_interpretations(participant)
    interpretations = []
    if genomic:
        interpretations.append(
            pp.Interpretation(
                id=f"{PLACEHOLDER}-genotype",
                progress_status=pp.Interpretation.SOLVED,
                diagnosis=pp.Diagnosis(disease=disease_term, genomic_interpretations=genomic),
            )
        )
    return pp.Phenopacket(
        id=PLACEHOLDER,
        subject=pp.Individual(id=PLACEHOLDER, sex=SEXES.get(participant.out_sex, "UNKNOWN_SEX")),
        phenotypic_features=_features(participant, lost_ambulation),
        diseases=[disease],
        interpretations=interpretations,
        meta_data=pp.MetaData(
            created_by="GNE myopathy registry, de-identified research export",
            phenopacket_schema_version="2.0",
            resources=[
                pp.Resource(id=rid, name=name, url=url, namespace_prefix=prefix, iri_prefix=iri)
                for rid, name, url, prefix, iri in RESOURCES
            ],
        ),
    )


def _signature(participant: Participant, lost_ambulation: bool) -> tuple:
    """Everything a phenopacket depends on except the pid."""
    exact = participant.out_genotype_level == "exact"
    return (
        participant.out_sex,
        participant.out_onset_band,
        participant.out_genotype,
        participant.out_genotype_level,
        participant.zygosity if exact else "",
        participant.variants if exact else (),
        participant.first_symptom,
        participant.rimmed_vacuoles,
        lost_ambulation,
    )


def lost_ambulation(times: dict[str, TimesToEvent]) -> set[int]:
    """Indexes of the participants who reached full-time wheelchair use (an event, not censored)."""
    series = times.get(MilestoneKind.WHEELCHAIR_FULL_TIME.value)
    if series is None:
        return set()
    return {index for index, event in zip(series.participants, series.events, strict=True) if event}


def phenopacket_files(
    participants: Sequence[Participant], times: dict[str, TimesToEvent]
) -> Iterator[tuple[str, bytes]]:
    """("phenopackets/<pid>.json", its UTF-8 content) for each participant, in pid order, made as they are read."""
    from google.protobuf import json_format

    non_ambulant = lost_ambulation(times)
    templates: dict[tuple, bytes] = {}
    placeholder = PLACEHOLDER.encode()
    for index, participant in enumerate(participants):
        lost = index in non_ambulant
        signature = _signature(participant, lost)
        if (template := templates.get(signature)) is None:
            message = build_phenopacket(participant, lost)
            template = templates[signature] = (json_format.MessageToJson(message, indent=2) + "\n").encode()
        pid = participant.pid.encode()
        yield f"phenopackets/{participant.pid}.json", template.replace(placeholder, pid)
