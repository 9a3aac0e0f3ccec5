"""Kaplan-Meier in numpy (research/package/km.py) against a hand computation and lifelines."""

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from research.package.km import kaplan_meier


def test_hand_computed_case_with_censoring():
    # Times 1, 2+, 3, 3, 4+, 5: at 1, 6 at risk, 1 event: S = 5/6. At 2 one censored (no drop).
    # At 3, 4 at risk, 2 events: S = 5/6 * 2/4 = 5/12. At 4 censored. At 5, 1 at risk, 1 event: 0.
    curve = kaplan_meier([1, 2, 3, 3, 4, 5], [1, 0, 1, 1, 0, 1])
    assert curve.times.tolist() == [1, 2, 3, 4, 5]
    assert curve.at_risk.tolist() == [6, 5, 4, 2, 1]
    assert curve.events.tolist() == [1, 0, 2, 0, 1]
    assert curve.survival == pytest.approx([5 / 6, 5 / 6, 5 / 12, 5 / 12, 0.0])
    assert curve.median() == 3


def test_matches_lifelines_on_random_censored_data():
    rng = np.random.default_rng(7)
    times = np.round(rng.exponential(12, 500), 2)
    events = rng.random(500) < 0.6
    curve = kaplan_meier(times, events)
    fitter = KaplanMeierFitter().fit(times, events)
    expected = fitter.survival_function_.loc[curve.times, "KM_estimate"].to_numpy()
    assert curve.survival == pytest.approx(expected)
    assert curve.median() == pytest.approx(fitter.median_survival_time_)


def test_no_event_means_no_drop():
    curve = kaplan_meier([2.0, 3.0], [0, 0])
    assert curve.survival.tolist() == [1.0, 1.0] and curve.median() is None
