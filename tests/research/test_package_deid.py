"""The ten checks that prove an export is de-identified (docs/research-exports.md), on a built package."""

import csv
import datetime as dt
import hashlib
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import bagit
import frictionless
import pyarrow.parquet as pq
import pytest
from google.protobuf import json_format

from research.errors import ExportRefused
from research.package import build_package, deid
from tests.research.conftest import PACKAGE_KEY

DENY_LIST = {"name", "email", "phone", "address", "uuid", "birth", "death", "national", "hospital", "site", "comment"}
DENY_LIST |= {"note", "notes", "text", "date", "id", "initials", "ip", "url", "reason", "registration", "trial"}
CALENDAR_DATE = re.compile(r"\b(19|20)\d\d-[01]\d-[0-3]\d\b|\b[0-3]\d/[01]\d/(19|20)\d\d\b")
QUASI_IDENTIFIERS = ("sex", "country", "age_band_baseline", "onset_age_band", "genotype")


def _rows(bag: Path, name: str) -> list[dict]:
    with (bag / "data" / name).open(encoding="utf-8", newline="") as source:
        return list(csv.DictReader(source))


def _texts(zip_path: Path) -> dict[str, str]:
    """Every file of the zip as text; Parquet decoded to its rows."""
    texts = {}
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            content = archive.read(name)
            if name.endswith(".parquet"):
                import io

                texts[name] = str(pq.read_table(io.BytesIO(content)).to_pylist())
            elif name.endswith(".png"):
                texts[name] = content.decode("latin-1")  # text chunks would show here
            else:
                texts[name] = content.decode("utf-8")
    return texts


def test_1_every_column_in_codebook_and_none_is_an_identifier(package_built):
    _, bag, _ = package_built
    codebook = {(row["table"], row["variable"]) for row in _rows(bag, "codebook.csv")}
    for table in ("participants", "assessments", "milestones", "summary_counts"):
        header = next(csv.reader((bag / "data" / f"{table}.csv").open()))
        assert {(table, column) for column in header} <= codebook
        assert [column for column in header if DENY_LIST & set(column.split("_"))] == []
    assert all(row["label"] and row["type"] for row in _rows(bag, "codebook.csv"))


def test_2_planted_identifiers_appear_nowhere(package_cohort, package_built):
    result, _, _ = package_built
    texts = _texts(result.path)
    assert any(name.endswith(".parquet") for name in texts) and "data/README.md" in texts
    assert len([name for name in texts if name.startswith("data/phenopackets/")]) == 25
    leaks = [(planted, name) for planted in package_cohort.planted for name, text in texts.items() if planted in text]
    assert leaks == []


def test_3_one_stable_pseudonym_per_patient_differing_between_keys(package_cohort, package_built, tmp_path):
    _, bag, _ = package_built
    pids = [row["pid"] for row in _rows(bag, "participants.csv")]
    expected = {deid.pseudonym(PACKAGE_KEY, str(patient.uuid)) for patient in package_cohort.patients}
    assert len(pids) == len(set(pids)) == 25 and set(pids) == expected
    assert {row["pid"] for row in _rows(bag, "assessments.csv")} == expected
    other = build_package(package_cohort.request(key=b"another project"), tmp_path / "other", lambda *_: None)
    with zipfile.ZipFile(other.path) as archive:
        other_pids = {row["pid"] for row in csv.DictReader(archive.read("data/participants.csv").decode().splitlines())}
    assert len(other_pids) == 25 and other_pids.isdisjoint(pids)


def test_4_no_calendar_dates_and_intervals_equal_the_source(package_cohort, package_built):
    result, bag, _ = package_built
    dated = [name for name, text in _texts(result.path).items() if CALENDAR_DATE.search(text)]
    assert dated == []
    by_pid = {deid.pseudonym(PACKAGE_KEY, str(p.uuid)): p for p in package_cohort.patients}
    exported = {}
    for row in _rows(bag, "assessments.csv"):
        exported.setdefault(row["pid"], []).append(int(row["days_from_baseline"]))
    for pid, patient in by_pid.items():
        dates = sorted(patient.assessments.values_list("assessment_date", flat=True))
        assert exported[pid] == [(date - dates[0]).days for date in dates]


def test_5_ages_at_most_89_or_90_plus(package_built):
    _, bag, _ = package_built
    ages = [row["age_at_assessment"] for row in _rows(bag, "assessments.csv")]
    assert ages and all(age == "" or age == "90+" or int(age) <= 89 for age in ages)
    bands = [row["age_band_baseline"] for row in _rows(bag, "participants.csv")]
    assert set(bands) == {"40-44", "45-49", "50-54", "suppressed"}
    assert deid.age_text(90) == "90+" and deid.age_band(93, 5) == "90+" and deid.age_band(89, 5) == "85-89"


def test_6_smallest_group_at_least_k_by_an_independent_count(package_built):
    result, bag, _ = package_built
    rows = _rows(bag, "participants.csv")
    groups = Counter(tuple(row[name] for name in QUASI_IDENTIFIERS) for row in rows)
    suppressed = ("suppressed",) * len(QUASI_IDENTIFIERS)
    # The lone GB patient with a rare genotype cannot be hidden by generalising: it is suppressed.
    assert groups.pop(suppressed) == 1
    assert min(groups.values()) >= 5
    assert result.achieved_k == min(groups.values()) == 6
    report = json.loads((bag / "data" / "deid_report.json").read_text())
    assert report["deidentification"]["patients_suppressed"] == 1
    assert report["thresholds"] == {"k": 5, "max_suppression": 0.05, "small_cell": 10, "include_ancestry": False}


def test_7_every_genotype_and_country_value_shared_by_k(package_built):
    _, bag, _ = package_built
    rows = [row for row in _rows(bag, "participants.csv") if row["sex"] != "suppressed"]
    for column in ("genotype", "country"):
        assert min(Counter(row[column] for row in rows).values()) >= 5
    assert Counter(row["genotype"] for row in rows) == {
        "c.2228T>C / c.2228T>C": 10,
        "c.1807G>C / c.1807G>C": 8,
        "c.1807G>C / c.620A>T": 6,
    }


def test_7b_rare_genotypes_and_countries_are_generalised():
    values, levels, _ = deid.generalise_genotypes(
        [
            deid.genotype_facts("compound_heterozygous", [(f"c.{n}A>G", "kinase"), ("c.620A>T", "epimerase")])
            for n in range(5)
        ]
        + [deid.genotype_facts("homozygous", [("c.1A>G", "epimerase")] * 2)],
        k=5,
    )
    assert values == ["compound heterozygous, epimerase/kinase"] * 5 + ["other"]
    assert levels == ["class_domain"] * 5 + ["other"]
    countries, _ = deid.generalise_countries(["IL"] * 5 + ["JO"] * 2 + ["SA"] * 3 + ["IS"], k=5)
    assert countries == ["IL"] * 5 + ["Western Asia"] * 5 + ["Europe"]


def test_8_aggregate_counts_zero_or_above_threshold_with_no_lone_suppressed_cell(package_cohort, tmp_path):
    result = build_package(package_cohort.request(small_cell=7), tmp_path, lambda *_: None)
    with zipfile.ZipFile(result.path) as archive:
        rows = list(csv.reader(archive.read("data/summary_counts.csv").decode().splitlines()))[1:]
    cells = [row[1:] for row in rows]
    assert all(cell == "suppressed" or int(cell) == 0 or int(cell) > 7 for row in cells for cell in row)
    for line in [*cells, *zip(*cells, strict=True)]:
        assert list(line).count("suppressed") != 1
    by_group = {row[0]: row[1:] for row in rows}
    assert by_group["c.2228T>C / c.2228T>C"][5] == "10"  # everyone ends in a full-time wheelchair
    assert by_group["c.1807G>C / c.1807G>C"][5] == "8"
    assert by_group["c.1807G>C / c.620A>T"][5] == "suppressed" and by_group["(suppressed)"][5] == "suppressed"


def test_9_bag_validates_and_frictionless_validates(package_built):
    _, bag, _ = package_built
    bagit.Bag(str(bag)).validate()
    assert "Bagging-Date" not in (bag / "bag-info.txt").read_text()
    report = frictionless.validate(str(bag / "data" / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def test_10_outsider_absent_and_rebuild_identical(package_cohort, package_built, tmp_path):
    result, _, calls = package_built
    outsider = deid.pseudonym(PACKAGE_KEY, str(package_cohort.outsider.uuid))
    assert all(outsider not in text for text in _texts(result.path).values())
    again = build_package(package_cohort.request(), tmp_path / "again", lambda *_: None)
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == result.sha256
    assert [step for _, step in calls][:2] == ["selecting participants", "writing assessments"]
    assert [percent for percent, _ in calls] == sorted(percent for percent, _ in calls)


def test_refused_when_k_cannot_be_met_within_the_suppression_allowance(package_cohort, tmp_path):
    with pytest.raises(ExportRefused) as refused:
        build_package(package_cohort.request(k=11), tmp_path, lambda *_: None)
    assert "k = 11" in refused.value.reason and "5%" in refused.value.reason
    assert list(tmp_path.iterdir()) == []


def test_a_higher_k_is_met_by_generalising_further_and_then_no_exact_age_leaves(package_cohort, tmp_path):
    """With k = 9 the 5-year bands of this cohort are too fine: the lattice widens what it must
    (docs/research-exports.md, "k-anonymity"), and exact ages at assessments, which would undo a
    wider band, are withheld."""
    result = build_package(package_cohort.request(k=9), tmp_path / "work", lambda *_: None)
    bag = tmp_path / "bag"
    with zipfile.ZipFile(result.path) as archive:
        archive.extractall(bag)
    rows = _rows(bag, "participants.csv")
    groups = Counter(tuple(row[name] for name in QUASI_IDENTIFIERS) for row in rows if row["sex"] != "suppressed")
    assert min(groups.values()) >= 9 and result.achieved_k == min(groups.values())
    report = json.loads((bag / "data" / "deid_report.json").read_text())["deidentification"]
    assert report["levels"]["age_band_baseline"] != "5-year bands"
    assert report["ages_at_assessment_withheld"] is True
    assert {row["age_at_assessment"] for row in _rows(bag, "assessments.csv")} == {""}
    widened = {row["age_band_baseline"] for row in rows} - {"suppressed"}
    assert widened and all(band == "any" or band.endswith("+") or _band_width(band) > 5 for band in widened)


def _band_width(band: str) -> int:
    low, high = band.split("-")
    return int(high) - int(low) + 1


def test_phenopackets_parse_and_reveal_no_more_than_participants(package_cohort, package_built):
    import phenopackets as pp

    _, bag, _ = package_built
    participants = {row["pid"]: row for row in _rows(bag, "participants.csv")}
    for path in sorted((bag / "data" / "phenopackets").iterdir()):
        packet = json_format.Parse(path.read_text(), pp.Phenopacket())
        row = participants[packet.id]
        assert packet.subject.id == packet.id and not packet.meta_data.HasField("created")
        assert not CALENDAR_DATE.search(path.read_text()) and "IL" not in path.read_text().split('"')
        assert packet.diseases[0].term.id == "OMIM:605820"
        expressions = [
            expression.value
            for interpretation in packet.interpretations
            for genomic in interpretation.diagnosis.genomic_interpretations
            for expression in genomic.variant_interpretation.variation_descriptor.expressions
        ]
        if row["genotype_level"] == "exact":
            assert {value.split(":")[1] for value in expressions} == set(row["genotype"].split(" / "))
            assert (
                packet.diseases[0].onset.age_range.start.iso8601duration == f"P{row['onset_age_band'].split('-')[0]}Y"
            )
        else:
            assert row["genotype_level"] == "suppressed"
            assert expressions == [] and not packet.diseases[0].HasField("onset")
            assert packet.subject.sex == pp.Sex.UNKNOWN_SEX
        features = {feature.type.id for feature in packet.phenotypic_features}
        assert features == {"HP:0009027", "HP:0003805", "HP:0002505"}  # foot drop, vacuoles, non-ambulant


def test_milestones_carry_interval_and_kaplan_meier_pair(package_built):
    _, bag, _ = package_built
    rows = _rows(bag, "milestones.csv")
    assert {row["milestone"] for row in rows} == {
        "afo",
        "cane",
        "walker",
        "wheelchair_part_time",
        "wheelchair_full_time",
    }
    for row in rows:
        expected = row["lower_years"] if row["censoring"] == "right" else row["upper_years"]
        assert row["years_from_onset"] == expected
        assert row["event"] == ("0" if row["censoring"] == "right" else "1")
    # Onset mid-2004 (year precision), full-time wheelchair first seen on 2023-02-01: 18.59 years.
    first = next(row for row in rows if row["milestone"] == "wheelchair_full_time")
    assert first["censoring"] == "interval" and float(first["upper_years"]) > float(first["lower_years"])


def test_readme_names_thresholds_and_left_out_groups(package_built):
    _, bag, _ = package_built
    readme = (bag / "data" / "README.md").read_text()
    assert "k = 5; achieved k = 6" in readme and "counts 1-10 suppressed" in readme
    assert "Natural history of GNE myopathy" in readme and "read_package" in readme
    assert "- cane: genotype group 'c.2228T>C / c.2228T>C' (at most 10 patients" in readme


def test_participants_values(package_built):
    _, bag, _ = package_built
    rows = _rows(bag, "participants.csv")
    israeli = [row for row in rows if row["country"] == "IL"]
    assert len(israeli) == 10
    assert {
        (row["sex"], row["age_band_baseline"], row["onset_age_band"], row["diagnosis_delay_years"]) for row in israeli
    } == {("female", "40-44", "20-24", "4")}
    assert {row["ambulation_class_baseline"] for row in rows} == {"1"}
    assert dt.date  # dates are used only to build the fixture
