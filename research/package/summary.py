"""summary_counts.csv: patients by generalised genotype group and ambulation class at the last
assessment, with small-cell and complementary suppression (docs/research-exports.md, "Aggregates")."""

from collections import Counter
from collections.abc import Sequence

from research.package.columns import SUMMARY_OTHER, SUPPRESSED, summary_columns
from research.package.figure import group_label
from research.package.participants import Participant


def _column(participant: Participant) -> str:
    if participant.baseline is None:
        return SUMMARY_OTHER
    last = participant.ambulation_class_last
    return "class_unknown" if last is None else f"class_{last}"


def count_table(participants: Sequence[Participant]) -> tuple[list[str], list[list[int]]]:
    """Row labels (genotype groups, sorted) and the counts, one column per summary column."""
    counts = Counter((group_label(p.out_genotype), _column(p)) for p in participants)
    groups = sorted({group for group, _ in counts})
    return groups, [[counts[group, column] for column in summary_columns()] for group in groups]


def _lone_suppressed(lines: list[list[tuple[int, int]]], hidden: set[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    return [line for line in lines if sum(cell in hidden for cell in line) == 1]


def suppress(table: list[list[int]], small_cell: int) -> tuple[set[tuple[int, int]], int, int]:
    """docs/research-exports.md, "Aggregates": hide counts 1..small_cell (primary), then, while any
    row or column holds exactly one hidden cell, also hide its smallest visible cell (complementary),
    preferring a non-zero one, so that no hidden count can be worked out from a margin.
    Returns the hidden cells and the numbers of primary and complementary suppressions."""
    rows, columns = len(table), len(table[0]) if table else 0
    hidden = {(r, c) for r in range(rows) for c in range(columns) if 1 <= table[r][c] <= small_cell}
    primary = len(hidden)
    lines = [[(r, c) for c in range(columns)] for r in range(rows)]
    lines += [[(r, c) for r in range(rows)] for c in range(columns)]
    # A line of one cell has nothing to hide it among (with a single genotype group, each column).
    lines = [line for line in lines if len(line) > 1]
    while lone := _lone_suppressed(lines, hidden):
        visible = [cell for cell in lone[0] if cell not in hidden]
        hidden.add(min(visible, key=lambda cell: (table[cell[0]][cell[1]] == 0, table[cell[0]][cell[1]], cell)))
    return hidden, primary, len(hidden) - primary


def summary_rows(participants: Sequence[Participant], small_cell: int) -> tuple[list[list], dict]:
    """The CSV rows (without header) and the report's account of the suppression."""
    groups, table = count_table(participants)
    hidden, primary, complementary = suppress(table, small_cell)
    rows = [
        [group, *(SUPPRESSED if (r, c) in hidden else count for c, count in enumerate(table[r]))]
        for r, group in enumerate(groups)
    ]
    report = {
        "table": "summary_counts",
        "rule": f"counts 1-{small_cell} suppressed; then complementary suppression so that no row or column "
        "has a lone suppressed cell",
        "primary_cells": primary,
        "complementary_cells": complementary,
    }
    return rows, report
