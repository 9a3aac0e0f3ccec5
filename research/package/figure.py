"""progression.png: Kaplan-Meier curves of time from onset to the mobility milestones, by genotype group.

matplotlib is imported inside `draw_progression`, with the Agg backend, so that neither Django's
start-up nor a worker that never builds a package pays for it.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assessments.models import MilestoneKind
from research.package.columns import SUPPRESSED
from research.package.km import Curve, kaplan_meier
from research.package.milestones import TimesToEvent

# The milestones drawn: walking aids, then wheelchair use (first, then full-time).
DRAWN = (
    MilestoneKind.CANE,
    MilestoneKind.WALKER,
    MilestoneKind.WHEELCHAIR_PART_TIME,
    MilestoneKind.WHEELCHAIR_FULL_TIME,
)
NOT_RECORDED = "(not recorded)"
# "suppressed" is a missing value of summary_counts.csv, so the group of suppressed genotypes is named apart.
SUPPRESSED_GROUP = "(suppressed)"


@dataclass(frozen=True)
class LeftOut:
    milestone: str
    group: str
    reason: str


def group_label(genotype: str) -> str:
    """The genotype group of a participant in figures and aggregates."""
    if genotype == SUPPRESSED:
        return SUPPRESSED_GROUP
    return genotype or NOT_RECORDED


def curves_by_group(
    times: dict[str, TimesToEvent], groups: Sequence[str], small_cell: int
) -> tuple[dict[str, dict[str, Curve]], list[LeftOut]]:
    """One curve per milestone and genotype group; groups of at most `small_cell` patients are left out
    (docs/research-exports.md, "Aggregates": the small-cell rule applies to figures too)."""
    curves, left_out = {}, []
    for kind in DRAWN:
        series = times.get(kind.value)
        if series is None:
            curves[kind.value] = {}
            continue
        members = defaultdict(list)
        for position, participant in enumerate(series.participants):
            members[groups[participant]].append(position)
        years, events = np.frombuffer(series.years, dtype=float), np.frombuffer(series.events, dtype=np.int8)
        curves[kind.value] = {}
        for group in sorted(members):
            rows = np.asarray(members[group])
            if rows.size <= small_cell:
                left_out.append(LeftOut(kind.value, group, f"at most {small_cell} patients"))
                continue
            curves[kind.value][group] = kaplan_meier(years[rows], events[rows])
    return curves, left_out


def draw_progression(path: Path, curves: dict[str, dict[str, Curve]]) -> None:
    """Four panels, one per milestone; the proportion who have reached it against years from onset.

    No wall-clock metadata, so the same data gives the same bytes.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    labels = dict(MilestoneKind.choices)
    figure = Figure(figsize=(11, 8), dpi=100)
    for number, kind in enumerate(DRAWN):
        axes = figure.add_subplot(2, 2, number + 1)
        for group, curve in curves.get(kind.value, {}).items():
            steps_x = np.concatenate(([0.0], curve.times))
            steps_y = np.concatenate(([0.0], 1.0 - curve.survival))
            axes.step(steps_x, steps_y, where="post", label=f"{group} (n={int(curve.at_risk[0])})")
        axes.set_title(labels[kind.value])
        axes.set_xlabel("Years from symptom onset")
        axes.set_ylabel("Proportion reached (Kaplan-Meier)")
        axes.set_ylim(0, 1)
        axes.set_xlim(left=0)
        if curves.get(kind.value):
            axes.legend(fontsize=7, loc="upper left")
        else:
            axes.text(0.5, 0.5, "no group large enough", ha="center", va="center", transform=axes.transAxes)
    # Fixed margins, as tight_layout would choose them for these labels: tight_layout measures every
    # text first, a quarter of the drawing's time.
    figure.subplots_adjust(left=0.06, right=0.985, bottom=0.065, top=0.96, wspace=0.16, hspace=0.28)
    figure.savefig(path, format="png", metadata={"Software": None})
