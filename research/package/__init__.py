"""Building the de-identified export package (docs/research-exports.md).

The one entry point is `build_package`: it receives the cohort already chosen (research.cohort)
and checked against the cohort-size and difference rules (research.services), applies every
de-identification rule, and writes a zip to a local working directory. Publishing the zip to
storage, and recording status, belong to research.services.
"""

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class PackageRequest:
    export_id: int
    patient_ids: Sequence[int]  # internal Patient ids, sorted; consent already checked
    key: bytes  # the project's pseudonym key
    k: int  # k-anonymity threshold
    max_suppression: float  # share of patients whose values may be suppressed, e.g. 0.05
    small_cell: int  # aggregate counts 1..small_cell are suppressed
    include_ancestry: bool
    assessed_from: dt.date | None = None  # only assessments in this period leave
    assessed_to: dt.date | None = None
    # For the README: (label, value) pairs describing the cohort and the project, no identifiers.
    description: Sequence[tuple[str, str]] = field(default_factory=tuple)


@dataclass(frozen=True)
class PackageResult:
    path: Path  # the zip, in the working directory
    size_bytes: int
    sha256: str
    patient_count: int
    achieved_k: int
    report: dict  # the content of deid_report.json


# progress(percent 0-100, step in a few words)
Progress = Callable[[int, str], None]


def build_package(request: PackageRequest, workdir: Path, progress: Progress) -> PackageResult:
    """Write `gne-registry-export-<id>.zip` into `workdir`; raise ExportRefused if the rules forbid it."""
    from research.package.build import build

    return build(request, workdir, progress)
