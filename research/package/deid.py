"""The de-identification rules of a research export, one small function each.

Each rule is described in docs/research-exports.md; the section is named in each docstring.
Nothing here reads the database: the builder hands in plain values.
"""

import functools
import hashlib
import hmac
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from research.errors import ExportRefused
from research.package.columns import SUPPRESSED

TOP_AGE = 90
REGIONS_PATH = Path(__file__).resolve().parent / "data" / "regions.json"


def pseudonym(key: bytes, registry_uuid: str) -> str:
    """docs/research-exports.md, "Pseudonyms": first 16 hex digits of HMAC-SHA256(project key, UUID).

    Keyed, so that nobody without the project's key can recompute it from a UUID, and one key per
    project, so that two projects' pseudonyms cannot be linked.
    """
    return hmac.new(key, registry_uuid.encode(), hashlib.sha256).hexdigest()[:16]


def age_text(age: int | None) -> str:
    """docs/research-exports.md, "Ages": whole years, with 90 and over top-coded as "90+"."""
    if age is None:
        return ""
    return f"{TOP_AGE}+" if age >= TOP_AGE else str(age)


@functools.cache  # one string per band, however many participants share it
def age_band(age: int | None, width: int) -> str:
    """docs/research-exports.md, "Ages": bands of `width` years ("30-34"), 90 and over as "90+"."""
    if age is None:
        return ""
    if age >= TOP_AGE:
        return f"{TOP_AGE}+"
    low = age // width * width
    return f"{low}-{low + width - 1}"


def whole_years_down(years: float | None) -> int | None:
    """Completed years of a duration (rounded down), as the diagnosis delay is exported."""
    return None if years is None else math.floor(years)


@functools.cache
def regions() -> dict[str, dict[str, str]]:
    """ISO 3166-1 alpha-2 code -> {"sub_region", "region"} (UN M49), from data/regions.json."""
    return json.loads(REGIONS_PATH.read_text(encoding="utf-8"))["countries"]


def geography_values() -> tuple[str, ...]:
    """Every value the country column can take: codes, then sub-region and region names."""
    table = regions()
    names = sorted({place["sub_region"] for place in table.values()} | {place["region"] for place in table.values()})
    return (*sorted(table), *names)


@dataclass
class Step:
    """One generalisation or suppression, as deid_report.json records it: counts, never values."""

    variable: str
    rule: str
    patients: int
    values: int = 0  # distinct original values affected

    def as_dict(self) -> dict:
        return {"variable": self.variable, "rule": self.rule, "patients": self.patients, "distinct_values": self.values}


def _generalise_level(values: list[str], k: int, parent: Callable[[str], str]) -> tuple[list[str], int, int]:
    """Replace each value shared by fewer than k patients with parent(value); returns the new values,
    the patients changed and the distinct values changed."""
    counts = Counter(values)
    rare = {value for value, count in counts.items() if count < k and parent(value) != value}
    return [parent(value) if value in rare else value for value in values], sum(counts[v] for v in rare), len(rare)


def generalise_countries(countries: list[str], k: int) -> tuple[list[str], list[Step]]:
    """docs/research-exports.md, "Generalisation": a country with fewer than k exported patients
    becomes its UN M49 sub-region, and a sub-region still under k its region."""
    table = regions()
    sub_region_of = {code: place["sub_region"] for code, place in table.items()}
    region_of = {place["sub_region"]: place["region"] for place in table.values()}
    values, patients, distinct = _generalise_level(countries, k, lambda code: sub_region_of.get(code, code))
    steps = [Step("country", "country -> UN M49 sub-region when fewer than k patients share it", patients, distinct)]
    values, patients, distinct = _generalise_level(values, k, lambda name: region_of.get(name, name))
    steps.append(Step("country", "sub-region -> UN M49 region when fewer than k patients share it", patients, distinct))
    return values, steps


def countries_to_regions(values: list[str]) -> list[str]:
    """docs/research-exports.md, "Generalisation": every country or sub-region to its region (a global
    recoding, used only when local generalisation leaves too many patients to suppress)."""
    table = regions()
    region_of = {code: place["region"] for code, place in table.items()}
    region_of |= {place["sub_region"]: place["region"] for place in table.values()}
    return [region_of.get(value, value) for value in values]


@dataclass(frozen=True)
class GenotypeFacts:
    """What the export may say of one genotype, from the most to the least precise."""

    exact: str  # "c.1807G>C / c.2228T>C"; "" when no genotype is recorded
    class_domain: str  # "compound heterozygous, epimerase/kinase"
    zygosity: str  # "compound heterozygous"


ZYGOSITY_WORDS = {
    "homozygous": "homozygous",
    "compound_heterozygous": "compound heterozygous",
    "single_variant": "one variant found",
}


def genotype_facts(zygosity: str | None, variants: Sequence[tuple[str, str]]) -> GenotypeFacts:
    """docs/research-exports.md, "Generalisation": the exact pair of variants (current names), and
    the zygosity with the protein domains ("homozygous, kinase") for when the pair is too rare.

    `variants` is (name, protein domain) for each allele found.
    """
    if not zygosity or not variants:
        return GenotypeFacts("", "", "")
    names = sorted(name for name, _ in variants)
    exact = " / ".join(names if len(names) == 2 else [*names, "not found"])
    domains = sorted({domain or "unknown" for _, domain in variants})
    if zygosity == "compound_heterozygous" and len(domains) == 1:
        domains = domains * 2  # "kinase/kinase": both alleles in one domain, which differs from one of each
    words = ZYGOSITY_WORDS.get(zygosity, zygosity)
    return GenotypeFacts(exact, f"{words}, {'/'.join(domains)}", words)


def generalise_genotypes(facts: list[GenotypeFacts], k: int) -> tuple[list[str], list[str], list[Step]]:
    """docs/research-exports.md, "Generalisation": keep the exact pair only if at least k exported
    patients share it; else zygosity and domains if at least k share those; else "other".
    Returns the values, the level of each (exact, class_domain, other, none) and the steps."""
    exact_counts = Counter(fact.exact for fact in facts)
    class_counts = Counter(fact.class_domain for fact in facts if exact_counts[fact.exact] < k)

    def generalised(fact: GenotypeFacts) -> tuple[str, str]:
        if not fact.exact:
            return "", "none"
        if exact_counts[fact.exact] >= k:
            return fact.exact, "exact"
        if class_counts[fact.class_domain] >= k:
            return fact.class_domain, "class_domain"
        return "other", "other"

    values, levels = zip(*map(generalised, facts), strict=True) if facts else ((), ())
    level_counts = Counter(levels)
    distinct = Counter(level for level, _ in set(zip(levels, (fact.exact for fact in facts), strict=True)))
    steps = [
        Step(
            "genotype",
            "variant pair -> zygosity and protein domains when fewer than k patients share the pair",
            level_counts["class_domain"],
            distinct["class_domain"],
        ),
        Step(
            "genotype",
            "-> 'other' when fewer than k patients share the zygosity and domains either",
            level_counts["other"],
            distinct["other"],
        ),
    ]
    return list(values), list(levels), steps


def small_groups(rows: list[tuple[str, ...]], k: int) -> list[bool]:
    """Which rows fall in a combination of quasi-identifiers shared by fewer than k rows."""
    counts = Counter(rows)
    return [counts[row] < k for row in rows]


def smallest_group(rows: list[tuple[str, ...]], suppressed: list[bool]) -> int:
    """docs/research-exports.md, "k-anonymity": the achieved k, over the rows not suppressed.

    A suppressed row carries no quasi-identifier value at all, so it matches every group.
    """
    counts = Counter(row for row, gone in zip(rows, suppressed, strict=True) if not gone)
    return min(counts.values(), default=0)


def suppression_allowance(patients: int, max_suppression: float) -> int:
    """docs/research-exports.md, "k-anonymity": how many patients may have their values suppressed."""
    return math.floor(patients * max_suppression + 1e-9)


# --- The generalisation lattice ------------------------------------------------------------------


@dataclass(frozen=True)
class Hierarchy:
    """The values one quasi-identifier takes for every participant at each level, finest first.

    `levels` is ((description, values), ...); the last level is usually ANY for everyone.
    """

    name: str
    levels: tuple[tuple[str, Sequence[str]], ...]


@dataclass
class Lattice:
    """The result of `anonymise_lattice`: the level chosen for each quasi-identifier, its values,
    which participants were suppressed, and the achieved k."""

    levels: dict[str, int]
    values: dict[str, list[str]]
    suppressed: list[bool]
    achieved_k: int
    nodes_tried: int
    steps: list[Step] = field(default_factory=list)


def lattice_nodes(hierarchies: Sequence[Hierarchy]) -> list[tuple[int, ...]]:
    """docs/research-exports.md, "k-anonymity": every combination of levels, least generalised first.

    Ordered by the sum of levels, then lexicographically in the order the hierarchies are given, so
    that among equally coarse choices the first-listed (most useful) quasi-identifier stays finest.
    The order is fixed, so the same data always gives the same choice.
    """
    nodes = [()]
    for hierarchy in hierarchies:
        nodes = [(*node, level) for node in nodes for level in range(len(hierarchy.levels))]
    return sorted(nodes, key=lambda node: (sum(node), node))


def anonymise_lattice(hierarchies: Sequence[Hierarchy], *, patients: int, k: int, max_suppression: float) -> Lattice:
    """docs/research-exports.md, "k-anonymity": the least generalisation at which the participants
    left in groups smaller than k fit within the suppression allowance; those are suppressed.

    Generalising more never makes a group smaller, so the first node that fits is the least
    generalised one. When even the coarsest node does not fit, the export is refused.
    """
    allowance = suppression_allowance(patients, max_suppression)
    fewest = patients
    for tried, node in enumerate(lattice_nodes(hierarchies), start=1):
        columns = [hierarchy.levels[level][1] for hierarchy, level in zip(hierarchies, node, strict=True)]
        rows = list(zip(*columns, strict=True)) if columns else []
        violators = small_groups(rows, k)
        count = sum(violators)
        fewest = min(fewest, count)
        if count > allowance:
            continue
        achieved = smallest_group(rows, violators)
        if achieved < k:  # everyone suppressed: nothing left to release
            break
        steps = [
            Step(hierarchy.name, hierarchy.levels[level][0], _changed(hierarchy, level))
            for hierarchy, level in zip(hierarchies, node, strict=True)
            if level
        ]
        steps.append(
            Step("all quasi-identifiers", f"set to '{SUPPRESSED}' for patients still in a group smaller than k", count)
        )
        return Lattice(
            levels={hierarchy.name: level for hierarchy, level in zip(hierarchies, node, strict=True)},
            values={hierarchy.name: list(column) for hierarchy, column in zip(hierarchies, columns, strict=True)},
            suppressed=violators,
            achieved_k=achieved,
            nodes_tried=tried,
            steps=steps,
        )
    raise ExportRefused(
        f"k-anonymity (k = {k}) cannot be met: even with every quasi-identifier generalised, {fewest} of "
        f"{patients} patients would need their values suppressed, more than the {max_suppression:.0%} "
        f"allowed ({allowance})"
    )


def _changed(hierarchy: Hierarchy, level: int) -> int:
    """How many participants' values differ at `level` from the finest level."""
    finest, chosen = hierarchy.levels[0][1], hierarchy.levels[level][1]
    return sum(a != b for a, b in zip(finest, chosen, strict=True))
