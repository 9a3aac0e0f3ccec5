"""milestones.csv: time from symptom onset to each mobility milestone, from
`assessments.selectors.milestone_intervals`, read a chunk of patients at a time so memory stays flat.

The Kaplan-Meier pair (years_from_onset, event) is taken from the interval (docs/research-exports.md,
"Milestones"): an event at the upper bound (the first time the milestone is known to be reached) for
exact, interval and left-censored rows, and a censored time at the lower bound (the last visit
still below it) for right-censored rows. It is late by up to one visit interval, as bench/README.md
("Validity") measures; the bounds are there for interval-censored methods.
"""

import csv
from array import array
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assessments.selectors import milestone_intervals
from research.package.columns import milestones_table
from research.package.participants import CHUNK, Participant


@dataclass
class TimesToEvent:
    """The Kaplan-Meier input of one milestone kind: a time, an event flag and the participant's index."""

    years: array = field(default_factory=lambda: array("d"))
    events: array = field(default_factory=lambda: array("b"))
    participants: array = field(default_factory=lambda: array("l"))


def _years(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def km_pair(censoring: str, lower: float | None, upper: float | None) -> tuple[float, int]:
    """docs/research-exports.md, "Milestones": (years_from_onset, event) from an interval row."""
    if censoring == "right":
        return round(lower, 2), 0
    return round(upper, 2), 1


def write_milestones(path: Path, participants: Sequence[Participant]) -> dict[str, TimesToEvent]:
    """Write milestones.csv in pid and milestone order; return each kind's times for Kaplan-Meier."""
    times = defaultdict(TimesToEvent)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(milestones_table().header)
        for start in range(0, len(participants), CHUNK):
            chunk = participants[start : start + CHUNK]  # in pid order
            by_patient = defaultdict(list)  # the selector gives each patient's rows in kind order
            for row in milestone_intervals(patient_ids=[participant.patient_id for participant in chunk]):
                by_patient[row.patient_id].append(row)
            for index, participant in enumerate(chunk, start):
                for _, kind, source, lower, upper, censoring in by_patient.get(participant.patient_id, ()):
                    years, event = km_pair(censoring, lower, upper)
                    writer.writerow(
                        (participant.pid, kind, source, censoring, _years(lower), _years(upper), f"{years:.2f}", event)
                    )
                    series = times[kind]
                    series.years.append(years)
                    series.events.append(event)
                    series.participants.append(index)
    return times
