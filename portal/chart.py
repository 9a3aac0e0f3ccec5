"""A patient's own course, drawn on the server as SVG: no JavaScript, no plotting library.

`progress_chart` turns a list of `ChartPoint` (one per report) into three small panels stacked on
one time axis: ambulation class (0-5, labelled with the classes' names), falls per report, and the
IBMFRS total (0-40). Each panel is an `<svg role="img">` named by its own `<title>` and `<desc>`, the
description saying in words what the panel shows; the page puts the same data in a table beneath
it, which is what a screen reader reads and what a patient can copy.

Every piece of text is escaped here, so the result is safe to insert as it is. A missing value
leaves a gap (no point, no line through it); zero falls is drawn as a thin bar, so "none" and
"not reported" look different. In a right-to-left language the time axis runs right to left.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from assessments.models import IBMFRS_ITEMS, IBMFRS_MAX_ITEM_SCORE, AmbulationClass

IBMFRS_MAX_TOTAL = IBMFRS_MAX_ITEM_SCORE * len(IBMFRS_ITEMS)  # 40

# Geometry, in viewBox units. The panels scale to the width of the page; 480 wide keeps the text
# legible when a phone shrinks them to about 330 px.
WIDTH = 480
PLOT_START, PLOT_END = 44, 468  # numeric tick labels sit before PLOT_START
HEADING_HEIGHT = 30
AXIS_HEIGHT = 26  # room for the date labels under the last panel
EDGE = 14  # keeps the first and last points off the panel's edges
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\""

TEXT, GRID, LINE = "#1b1b1b", "#d1d5db", "#1d4ed8"


@dataclass(frozen=True)
class ChartPoint:
    """One report's values for the chart; None where the report did not give one."""

    day: dt.date
    ambulation_class: int | None = None
    falls: int | None = None
    ibmfrs_total: int | None = None

    @property
    def ambulation_label(self) -> str:
        return "" if self.ambulation_class is None else AmbulationClass(self.ambulation_class).label


def progress_chart(
    points: Sequence[ChartPoint],
    *,
    id_prefix: str = "progress",
    rtl: bool = False,
    ambulation_labels: Mapping[int, str] | None = None,
) -> SafeString:
    """Three stacked SVG panels of `points` (any order) sharing one time axis; safe HTML."""
    points = sorted(points, key=lambda point: point.day)
    labels = dict(ambulation_labels if ambulation_labels is not None else AmbulationClass.choices)
    axis = _TimeAxis(points, rtl=rtl)
    panels = [
        _ambulation_panel(points, axis, labels, f"{id_prefix}-ambulation", show_dates=False),
        _falls_panel(points, axis, f"{id_prefix}-falls", show_dates=False),
        _ibmfrs_panel(points, axis, f"{id_prefix}-ibmfrs", show_dates=True),
    ]
    # Safe: each panel escapes every piece of text it writes (titles, descriptions, labels, ids).
    return mark_safe(f'<div class="chart">{"".join(panels)}</div>')


# --- The time axis ----------------------------------------------------------------------------


class _TimeAxis:
    """Days to x positions, shared by the three panels, mirrored for right-to-left languages."""

    def __init__(self, points: Sequence[ChartPoint], *, rtl: bool):
        self.rtl = rtl
        self.first = points[0].day if points else None
        self.last = points[-1].day if points else None

    def x(self, day: dt.date) -> float:
        start, end = PLOT_START + EDGE, PLOT_END - EDGE
        if self.first is None or self.first == self.last:
            position = (start + end) / 2  # one report (or one day): in the middle
        else:
            share = (day - self.first).days / (self.last - self.first).days
            position = start + share * (end - start)
        return PLOT_START + PLOT_END - position if self.rtl else position

    def ticks(self) -> list[tuple[dt.date, str, str]]:
        """(day, label, text-anchor): new years when the reports span two or more, else the ends."""
        if self.first is None:
            return []
        if self.first == self.last:
            return [(self.first, date_format(self.first, "M Y"), "middle")]
        years = list(range(self.first.year + 1, self.last.year + 1))
        if len(years) >= 2:
            step = math.ceil(len(years) / 6)
            return [(dt.date(year, 1, 1), str(year), "middle") for year in years[::step]]
        first_anchor, last_anchor = ("end", "start") if self.rtl else ("start", "end")
        return [
            (self.first, date_format(self.first, "M Y"), first_anchor),
            (self.last, date_format(self.last, "M Y"), last_anchor),
        ]

    def span_text(self, count: int) -> str:
        if self.first is None:
            return _("No reports yet.")
        if self.first == self.last:
            return ngettext("%(count)d report, on %(day)s.", "%(count)d reports, on %(day)s.", count) % {
                "count": count,
                "day": date_format(self.first, "DATE_FORMAT"),
            }
        return ngettext(
            "%(count)d report, from %(first)s to %(last)s.", "%(count)d reports, from %(first)s to %(last)s.", count
        ) % {
            "count": count,
            "first": date_format(self.first, "DATE_FORMAT"),
            "last": date_format(self.last, "DATE_FORMAT"),
        }


# --- Panels -----------------------------------------------------------------------------------


def _ambulation_panel(points, axis, labels, panel_id: str, *, show_dates: bool) -> str:
    row = 30
    top = HEADING_HEIGHT + 18  # room for the label above class 0's line

    def y(value: int) -> float:  # class 0 (walks unaided) at the top: losing ground goes down
        return top + value * row

    classes = range(AmbulationClass.WHEELCHAIR_FULL_TIME + 1)
    lines, dots = _line_and_dots(points, axis, lambda point: point.ambulation_class, y)
    # Labels above their lines, over the data line (with a white halo so it stays readable) and
    # under the dots, which must stay visible.
    parts = [_hline(y(value)) for value in classes] + lines
    parts += [
        _text(_label_x(axis), y(value) - 6, labels.get(value, str(value)), anchor=_label_anchor(axis), halo=True)
        for value in classes
    ]
    parts += dots
    known = [point for point in points if point.ambulation_class is not None]
    description = axis.span_text(len(points))
    if known:
        description += " " + _("First reported: %(first)s. Latest: %(latest)s.") % {
            "first": labels.get(known[0].ambulation_class, str(known[0].ambulation_class)),
            "latest": labels.get(known[-1].ambulation_class, str(known[-1].ambulation_class)),
        }
    elif points:
        description += " " + _("No report gave an ambulation class.")
    height = y(AmbulationClass.WHEELCHAIR_FULL_TIME) + 12
    return _panel(panel_id, _("Walking and wheelchair use"), description, height, axis, parts, show_dates)


def _falls_panel(points, axis, panel_id: str, *, show_dates: bool) -> str:
    known = [point for point in points if point.falls is not None]
    highest = max((point.falls for point in known), default=0)
    scale_top = max(4, highest + highest % 2)  # even, so the middle tick is a whole number
    top, plot_height = HEADING_HEIGHT + 8, 96
    bottom = top + plot_height

    def y(value: float) -> float:
        return bottom - value / scale_top * plot_height

    parts = [
        _text(PLOT_START - 6 if not axis.rtl else PLOT_END + 6, y(tick) + 5, str(tick), anchor=_tick_anchor(axis))
        + _hline(y(tick))
        for tick in (0, scale_top // 2, scale_top)
    ]
    for point in known:
        x = axis.x(point.day)
        # Zero falls gets a thin bar: "none" must not look like "not reported".
        bar_top = min(y(point.falls), bottom - 2)
        parts.append(
            f'<rect x="{x - 5:.1f}" y="{bar_top:.1f}" width="10" height="{bottom - bar_top:.1f}" fill="{LINE}"/>'
        )
    description = axis.span_text(len(points))
    if known:
        description += " " + _("%(total)d falls in all; at most %(most)d in one report.") % {
            "total": sum(point.falls for point in known),
            "most": highest,
        }
    elif points:
        description += " " + _("No report gave a number of falls.")
    return _panel(panel_id, _("Falls per report"), description, bottom + 8, axis, parts, show_dates)


def _ibmfrs_panel(points, axis, panel_id: str, *, show_dates: bool) -> str:
    top, plot_height = HEADING_HEIGHT + 8, 100
    bottom = top + plot_height

    def y(value: float) -> float:
        return bottom - value / IBMFRS_MAX_TOTAL * plot_height

    parts = [
        _text(PLOT_START - 6 if not axis.rtl else PLOT_END + 6, y(tick) + 5, str(tick), anchor=_tick_anchor(axis))
        + _hline(y(tick))
        for tick in range(0, IBMFRS_MAX_TOTAL + 1, 10)
    ]
    lines, dots = _line_and_dots(points, axis, lambda point: point.ibmfrs_total, y)
    parts += lines + dots
    known = [point for point in points if point.ibmfrs_total is not None]
    description = axis.span_text(len(points))
    if known:
        description += " " + _("Higher is better. First score: %(first)d of 40; latest: %(latest)d of 40.") % {
            "first": known[0].ibmfrs_total,
            "latest": known[-1].ibmfrs_total,
        }
    elif points:
        description += " " + _("No report had every daily-function question answered.")
    return _panel(
        panel_id, _("Daily function score (IBMFRS total, 0 to 40)"), description, bottom + 8, axis, parts, show_dates
    )


# --- Drawing helpers --------------------------------------------------------------------------


def _panel(panel_id: str, title: str, description: str, height: float, axis, parts: list[str], show_dates: bool) -> str:
    panel_id = escape(panel_id)
    if not axis.first:
        parts = [*parts, _text((PLOT_START + PLOT_END) / 2, height / 2 + 10, _("No reports yet"), anchor="middle")]
    if show_dates:
        parts = [*parts, _date_labels(axis, height)]
        height += AXIS_HEIGHT
    heading_x, heading_anchor = (WIDTH - 4, "end") if axis.rtl else (4, "start")
    return (
        f'<svg class="chart__panel" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-labelledby="{panel_id}-title {panel_id}-desc" {FONT} font-size="14" direction="ltr" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{panel_id}-title">{escape(title)}</title>'
        f'<desc id="{panel_id}-desc">{escape(description)}</desc>'
        + _text(heading_x, 21, title, anchor=heading_anchor, weight="700", size=17)
        + _date_gridlines(axis, height)
        + "".join(parts)
        + "</svg>"
    )


def _text(x: float, y: float, content: str, *, anchor="start", fill=TEXT, size=15, weight="400", halo=False) -> str:
    halo_attributes = ' stroke="#ffffff" stroke-width="4" stroke-linejoin="round" paint-order="stroke"' if halo else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="{size}" '
        f'font-weight="{weight}"{halo_attributes}>{escape(content)}</text>'
    )


def _hline(y: float) -> str:
    return f'<line x1="{PLOT_START}" x2="{PLOT_END}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>'


def _date_gridlines(axis, height: float) -> str:
    return "".join(
        f'<line x1="{axis.x(day):.1f}" x2="{axis.x(day):.1f}" y1="{HEADING_HEIGHT}" y2="{height:.1f}" '
        f'stroke="{GRID}" stroke-dasharray="3 3"/>'
        for day, _label, _anchor in axis.ticks()
        if axis.first <= day <= axis.last and axis.first != axis.last
    )


def _date_labels(axis, height: float) -> str:
    return "".join(_text(axis.x(day), height + 19, label, anchor=anchor) for day, label, anchor in axis.ticks())


def _line_and_dots(
    points: Sequence[ChartPoint], axis, value: Callable[[ChartPoint], int | None], y: Callable[[float], float]
) -> tuple[list[str], list[str]]:
    """Lines between consecutive reports that both have a value, and a dot on each value."""
    lines, dots = [], []
    for before, after in itertools.pairwise(points):
        if value(before) is not None and value(after) is not None:
            lines.append(
                f'<line x1="{axis.x(before.day):.1f}" y1="{y(value(before)):.1f}" x2="{axis.x(after.day):.1f}" '
                f'y2="{y(value(after)):.1f}" stroke="{LINE}" stroke-width="2.5"/>'
            )
    for point in points:
        if value(point) is not None:
            dots.append(
                f'<circle class="chart__point" cx="{axis.x(point.day):.1f}" cy="{y(value(point)):.1f}" r="4.5" '
                f'fill="{LINE}" stroke="#ffffff" stroke-width="1.5"/>'
            )
    return lines, dots


def _label_x(axis) -> float:
    return PLOT_END if axis.rtl else PLOT_START


def _label_anchor(axis) -> str:
    return "end" if axis.rtl else "start"


def _tick_anchor(axis) -> str:
    return "start" if axis.rtl else "end"
