"""The Kaplan-Meier estimator, in numpy (no survival library at run time).

S(t) = product over event times t_i <= t of (1 - d_i / n_i): d_i events at t_i, n_i still at risk
(time >= t_i). A time censored at t_i counts as at risk at t_i, the usual convention (lifelines too).
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Curve:
    times: np.ndarray  # each distinct time, ascending
    survival: np.ndarray  # S just after each time
    at_risk: np.ndarray
    events: np.ndarray

    def median(self) -> float | None:
        """The first time at which S falls to 0.5 or below; None if it never does."""
        reached = np.flatnonzero(self.survival <= 0.5)
        return float(self.times[reached[0]]) if reached.size else None


def kaplan_meier(times, events) -> Curve:
    """Product-limit estimate from times and event flags (1 = event, 0 = censored)."""
    times = np.asarray(times, dtype=float)
    events = np.asarray(events, dtype=float)
    distinct, position = np.unique(times, return_inverse=True)
    leaving = np.bincount(position, minlength=distinct.size)
    deaths = np.bincount(position, weights=events, minlength=distinct.size)
    at_risk = times.size - np.concatenate(([0], np.cumsum(leaving)[:-1]))
    survival = np.cumprod(1.0 - deaths / at_risk)
    return Curve(distinct, survival, at_risk, deaths.astype(int))
