"""The patient's chart (portal/chart.py): a pure function from points to SVG, so these tests need
no database. They read the SVG back with an XML parser, as a browser would."""

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from django.utils import translation

from assessments.models import AmbulationClass
from portal.chart import PLOT_END, PLOT_START, ChartPoint, progress_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # the whole chart is one well-formed element


def panels(markup: str) -> dict[str, ET.Element]:
    """The three <svg> panels by their short name (ambulation, falls, ibmfrs)."""
    found = {}
    for svg in parse(markup).iter(f"{SVG}svg"):
        title_id = svg.find(f"{SVG}title").get("id")
        found[title_id.removeprefix("progress-").removesuffix("-title")] = svg
    return found


def dots(panel: ET.Element) -> list[tuple[float, float]]:
    return [(float(c.get("cx")), float(c.get("cy"))) for c in panel.iter(f"{SVG}circle")]


def bars(panel: ET.Element) -> list[tuple[float, float]]:
    """(x of the bar's middle, height) of each falls bar."""
    return [(float(r.get("x")) + 5, float(r.get("height"))) for r in panel.iter(f"{SVG}rect")]


def texts(panel: ET.Element) -> list[str]:
    return [t.text for t in panel.iter(f"{SVG}text")]


def data_lines(panel: ET.Element) -> list[ET.Element]:
    """The lines joining values (grid lines are grey)."""
    return [line for line in panel.iter(f"{SVG}line") if line.get("stroke") == "#1d4ed8"]


THREE_REPORTS = [
    ChartPoint(dt.date(2022, 3, 1), AmbulationClass.AFO_ONLY, 1, 34),
    ChartPoint(dt.date(2023, 3, 1), AmbulationClass.CANE, 3, 30),
    ChartPoint(dt.date(2024, 3, 1), AmbulationClass.WALKER, 0, 26),
]


def test_each_panel_is_an_image_named_by_its_title_and_description():
    chart = panels(progress_chart(THREE_REPORTS))
    assert set(chart) == {"ambulation", "falls", "ibmfrs"}
    for name, svg in chart.items():
        assert svg.get("role") == "img"
        title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
        assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        assert title.get("id") == f"progress-{name}-title"
        assert "3 reports, from March 1, 2022 to March 1, 2024" in desc.text
    assert "First reported: Walks with ankle-foot orthoses only. Latest: Walks with walker or rollator." in (
        chart["ambulation"].find(f"{SVG}desc").text
    )
    assert "4 falls in all; at most 3 in one report" in chart["falls"].find(f"{SVG}desc").text
    assert "First score: 34 of 40; latest: 26 of 40" in chart["ibmfrs"].find(f"{SVG}desc").text


def test_the_points_are_where_their_values_are():
    chart = panels(progress_chart(THREE_REPORTS))
    ambulation, ibmfrs = dots(chart["ambulation"]), dots(chart["ibmfrs"])
    assert len(ambulation) == len(ibmfrs) == 3
    # One shared time axis, left to right, evenly spaced for evenly spaced reports.
    xs = [x for x, _ in ambulation]
    assert xs == sorted(xs) and xs == [x for x, _ in ibmfrs] == [x for x, _ in bars(chart["falls"])]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=1)
    # Class 0 at the top: a higher class is lower on the panel, one row per class.
    ys = [y for _, y in ambulation]
    assert ys[0] < ys[1] < ys[2] and ys[1] - ys[0] == pytest.approx(ys[2] - ys[1])
    # IBMFRS: higher score higher up, proportional to the score.
    scores = [y for _, y in ibmfrs]
    assert scores[0] < scores[1] < scores[2]
    assert (scores[1] - scores[0]) == pytest.approx(scores[2] - scores[1])
    # Falls: bar heights in proportion; zero falls is a thin bar, not nothing.
    heights = [height for _, height in bars(chart["falls"])]
    assert heights[1] == pytest.approx(3 * heights[0]) and 0 < heights[2] < heights[0]


def test_the_ambulation_axis_is_labelled_with_the_classes():
    chart = panels(progress_chart(THREE_REPORTS))
    labels = texts(chart["ambulation"])
    for label in AmbulationClass.labels:
        assert label in labels
    assert {"0", "10", "20", "30", "40"} <= set(texts(chart["ibmfrs"]))
    assert {"2022", "2023", "2024"} & set(texts(chart["ibmfrs"]))  # the shared date axis, under the last panel


def test_no_points_draws_empty_panels_that_say_so():
    chart = panels(progress_chart([]))
    for svg in chart.values():
        assert svg.find(f"{SVG}desc").text == "No reports yet."
        assert "No reports yet" in texts(svg)
        assert not list(svg.iter(f"{SVG}circle")) and not list(svg.iter(f"{SVG}rect"))


def test_one_point_is_drawn_in_the_middle_without_a_line():
    chart = panels(progress_chart([ChartPoint(dt.date(2024, 5, 2), AmbulationClass.CANE, 2, 31)]))
    ((x, _y),) = dots(chart["ambulation"])
    assert x == pytest.approx((PLOT_START + PLOT_END) / 2)
    assert data_lines(chart["ambulation"]) == []
    assert "1 report, on May 2, 2024" in chart["ambulation"].find(f"{SVG}desc").text


def test_missing_values_leave_gaps():
    points = [
        ChartPoint(dt.date(2021, 1, 1), AmbulationClass.UNAIDED, 0, 38),
        ChartPoint(dt.date(2022, 1, 1), None, None, None),  # a report that gave none of the three
        ChartPoint(dt.date(2023, 1, 1), AmbulationClass.CANE, 2, None),
        ChartPoint(dt.date(2024, 1, 1), AmbulationClass.CANE, 1, 30),
    ]
    chart = panels(progress_chart(points))
    assert len(dots(chart["ambulation"])) == 3 and len(bars(chart["falls"])) == 3 and len(dots(chart["ibmfrs"])) == 2

    # Ambulation: only 2023 -> 2024 are consecutive known values; IBMFRS has none consecutive.
    assert len(data_lines(chart["ambulation"])) == 1
    assert data_lines(chart["ibmfrs"]) == []


def test_many_points_keep_the_date_labels_few():
    points = [
        ChartPoint(dt.date(2000, 1, 1) + dt.timedelta(days=120 * n), n % 6, n % 4, 40 - n % 40) for n in range(80)
    ]
    chart = panels(progress_chart(points))
    assert len(dots(chart["ambulation"])) == 80
    years = [text for text in texts(chart["ibmfrs"]) if re.fullmatch(r"\d{4}", text)]
    assert 2 <= len(years) <= 7


def test_points_are_sorted_by_date_whatever_the_order_given():
    assert str(progress_chart(list(reversed(THREE_REPORTS)))) == str(progress_chart(THREE_REPORTS))


def test_right_to_left_mirrors_the_time_axis():
    ltr = [x for x, _ in dots(panels(progress_chart(THREE_REPORTS))["ambulation"])]
    rtl = [x for x, _ in dots(panels(progress_chart(THREE_REPORTS, rtl=True))["ambulation"])]
    assert rtl == sorted(rtl, reverse=True)
    assert [round(a + b, 1) for a, b in zip(ltr, rtl, strict=True)] == [PLOT_START + PLOT_END] * 3


def test_every_text_is_escaped():
    hostile = {value: f'<script>alert("{value}")</script> & co' for value in AmbulationClass.values}
    markup = str(progress_chart(THREE_REPORTS, id_prefix='x" onload="alert(1)', ambulation_labels=hostile))
    assert "<script>" not in markup and 'onload="alert(1)"' not in markup
    assert "&lt;script&gt;" in markup and "&amp; co" in markup
    svg = parse(markup)  # still well-formed
    assert any(text.text == hostile[1].replace("\n", "") for text in svg.iter(f"{SVG}text"))


def test_the_text_follows_the_active_language():
    # Only the English catalogue is shipped; the date words come from Django's own catalogues.
    with translation.override("de"):
        chart = panels(progress_chart(THREE_REPORTS))
    assert "März 2022" in chart["ambulation"].find(f"{SVG}desc").text
