"""The generalisation lattice behind k-anonymity (docs/research-exports.md, "k-anonymity")."""

from collections import Counter

import pytest

from research.errors import ExportRefused
from research.package.columns import ANY
from research.package.deid import Hierarchy, anonymise_lattice, lattice_nodes


def _hierarchy(name, *levels):
    return Hierarchy(name, tuple((f"{name} level {number}", values) for number, values in enumerate(levels)))


def test_nodes_go_from_finest_to_coarsest_keeping_the_first_listed_finest_among_equals():
    nodes = lattice_nodes([_hierarchy("a", "x", "y"), _hierarchy("b", "x", "y", "z")])
    assert nodes == [(0, 0), (0, 1), (1, 0), (0, 2), (1, 1), (1, 2)]


def test_data_that_is_already_k_anonymous_is_released_as_it_is():
    genotype = _hierarchy("genotype", ["A"] * 5 + ["B"] * 5, [ANY] * 10)
    result = anonymise_lattice([genotype], patients=10, k=5, max_suppression=0.05)
    assert result.levels == {"genotype": 0}
    assert result.values["genotype"] == ["A"] * 5 + ["B"] * 5
    assert result.achieved_k == 5 and not any(result.suppressed)
    assert [step.variable for step in result.steps] == ["all quasi-identifiers"]


def test_the_last_listed_quasi_identifier_is_generalised_first():
    # Either generalising genotype or country alone would do; country is listed last, so it goes.
    # Four groups of 3 at the finest level.
    genotype = _hierarchy("genotype", ["A"] * 6 + ["B"] * 6, ["AB"] * 12)
    country = _hierarchy("country", ["IL"] * 3 + ["JP"] * 3 + ["IL"] * 3 + ["JP"] * 3, [ANY] * 12)
    result = anonymise_lattice([genotype, country], patients=12, k=5, max_suppression=0.05)
    assert result.levels == {"genotype": 0, "country": 1}
    assert result.values["genotype"] == ["A"] * 6 + ["B"] * 6
    assert set(result.values["country"]) == {ANY}
    steps = {step.variable: step.patients for step in result.steps}
    assert steps == {"country": 12, "all quasi-identifiers": 0}


def test_a_few_rare_rows_are_suppressed_rather_than_coarsening_everyone():
    # 40 patients: one lone country. 5% of 40 is 2, so it is suppressed and the rest stay exact.
    country = _hierarchy("country", ["IL"] * 20 + ["JP"] * 19 + ["FI"], ["Asia"] * 39 + ["Europe"], [ANY] * 40)
    result = anonymise_lattice([country], patients=40, k=5, max_suppression=0.05)
    assert result.levels == {"country": 0}
    assert result.suppressed == [False] * 39 + [True]
    kept = Counter(value for value, gone in zip(result.values["country"], result.suppressed, strict=True) if not gone)
    assert min(kept.values()) == result.achieved_k == 19


def test_refused_when_even_the_coarsest_level_leaves_too_many_small_groups():
    genotype = _hierarchy("genotype", ["A"] * 8 + ["B", "C", "D"], ["A"] * 8 + ["B", "C", "D"])
    with pytest.raises(ExportRefused, match=r"k = 5.*3 of 11 patients.*5% allowed \(0\)"):
        anonymise_lattice([genotype], patients=11, k=5, max_suppression=0.05)
