"""data/README.md: what the package holds, the cohort, the method, the thresholds, how to load it."""

from research.package import PackageRequest
from research.package.figure import LeftOut

LOADING = """## Loading the data

In R, with the frictionless package:

```r
library(frictionless)
package <- read_package("datapackage.json")
participants <- read_resource(package, "participants")
assessments <- read_resource(package, "assessments")
```

In Python, with frictionless or pandas (or the Parquet copies with pyarrow):

```python
from frictionless import Package
package = Package("datapackage.json")
participants = package.get_resource("participants").read_rows()

import pandas as pd
assessments = pd.read_parquet("parquet/assessments.parquet")
```

The bag's checksums (manifest-sha256.txt, one level up) can be checked with `bagit.py --validate`.
"""


def readme(request: PackageRequest, *, report: dict, left_out: list[LeftOut], counts: dict[str, int]) -> str:
    deid = report["deidentification"]
    lines = [
        f"# GNE myopathy registry: research export {request.export_id}",
        "",
        "Pseudonymised data released to an approved research project under a data-use agreement. "
        "It is not anonymous: do not try to re-identify anyone, and do not link it to other data "
        "except as the agreement allows.",
        "",
        "## Cohort",
        "",
        *(f"- {label}: {value}" for label, value in request.description),
        f"- participants: {counts['participants']}",
        f"- assessments: {counts['assessments']}",
        "",
        "## Files",
        "",
        "| file | what it holds |",
        "| --- | --- |",
        "| participants.csv | one row per participant: sex, country or region, age bands, genotype (generalised) |",
        "| assessments.csv | one row per assessment: days from baseline, age, who reported it, every measure |",
        "| milestones.csv | time from symptom onset to each mobility milestone, as an interval and for Kaplan-Meier |",
        "| summary_counts.csv | patients by genotype group and ambulation class at the last assessment |",
        "| codebook.csv | every column: label, type, unit, allowed values, transformation |",
        "| datapackage.json | the Frictionless Data Package: the schema of every table |",
        "| deid_report.json | what de-identification did: thresholds, generalisations, suppressions, achieved k |",
        "| parquet/ | the same tables as Parquet |",
        "| phenopackets/ | one GA4GH Phenopacket v2 per participant (no dates; ages as bands) |",
        "| progression.png | Kaplan-Meier curves of time from onset to cane, walker and wheelchair, by genotype |",
        "",
        "## Method",
        "",
        "- `pid` is a keyed hash of the registry's identifier: the same person has the same pid in every "
        "export for this project, and a different one in any other project's.",
        "- No calendar date leaves. Assessments are placed by days from the participant's baseline (their "
        "first exported assessment); ages are completed years, 90 and over given as `90+`; "
        "participants.csv gives ages as bands."
        + (
            " Ages at assessments are left empty in this export: k-anonymity needed bands wider than 5 years, "
            "which an exact age would undo."
            if deid["ages_at_assessment_withheld"]
            else ""
        ),
        "- Names, contact details, identifiers, sites, free text and all dates are left out.",
        "- Quasi-identifiers (" + ", ".join(deid["quasi_identifiers"]) + ") were generalised as little as "
        "k-anonymity allowed (a rare country to its UN M49 sub-region or region; a rare genotype to zygosity "
        "and protein domains, or 'other'; and, only when needed, wider age bands, regions, zygosity only, or "
        "'any' for a variable not released), then the remaining rare combinations were suppressed, so that "
        "every combination is shared by at least k participants. deid_report.json gives each step with counts.",
        "- Levels used in this export: "
        + "; ".join(f"{name}: {level}" for name, level in sorted(deid["levels"].items()))
        + ".",
        "- Milestone times come from the registry's milestone intervals: a consistent reported milestone, "
        "else the visits (last visit below the stage, first visit at it). `years_from_onset` and `event` "
        "take the upper bound as the event time (or the lower bound, censored, when not reached), which is "
        "late by up to one visit interval; use `lower_years` and `upper_years` for interval-censored methods.",
        "",
        "## Thresholds",
        "",
        f"- k-anonymity: k = {request.k}; achieved k = {deid['achieved_k']}",
        f"- suppression: at most {request.max_suppression:.0%} of participants "
        f"({deid['suppression_allowance']}); suppressed: {deid['patients_suppressed']}",
        f"- aggregate tables and figures: counts 1-{request.small_cell} suppressed",
        f"- ancestry included: {'yes' if request.include_ancestry else 'no'}",
        "",
        "## Kaplan-Meier groups left out",
        "",
    ]
    if left_out:
        lines += [
            f"- {item.milestone}: genotype group '{item.group}' ({item.reason}, under the small-cell rule)"
            for item in left_out
        ]
    else:
        lines.append("None: every genotype group was large enough to draw.")
    return "\n".join(lines) + "\n\n" + LOADING
