"""Partial dates (year, year-month or full date) and ages, kept exact inside the registry."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from django.utils import timezone

from registry.models import DatePrecision

# The oldest age the registry accepts: an older one is a typing error in a date (docs/clinical-rules.md, rule 1).
MAX_AGE_YEARS = 110

_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True)
class PartialDate:
    """A date known to a given precision, stored as its first possible day plus the precision."""

    date: dt.date
    precision: str

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        match = _PARTIAL_DATE.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise ValueError("Enter a date as YYYY, YYYY-MM or YYYY-MM-DD.")
        year, month, day = match.groups()
        if int(year) < 1900:
            raise ValueError("Enter a year from 1900 on.")
        try:
            if day:
                return cls(dt.date(int(year), int(month), int(day)), DatePrecision.DAY)
            if month:
                return cls(dt.date(int(year), int(month), 1), DatePrecision.MONTH)
            return cls(dt.date(int(year), 1, 1), DatePrecision.YEAR)
        except ValueError:
            raise ValueError(f"{text.strip()} is not a calendar date.") from None

    @classmethod
    def from_stored(cls, date: dt.date | None, precision: str | None) -> PartialDate | None:
        if date is None:
            return None
        return cls(date, precision or DatePrecision.DAY)

    def __str__(self) -> str:
        if self.precision == DatePrecision.YEAR:
            return f"{self.date.year:04d}"
        if self.precision == DatePrecision.MONTH:
            return f"{self.date.year:04d}-{self.date.month:02d}"
        return self.date.isoformat()

    @property
    def earliest(self) -> dt.date:
        return self.date

    @property
    def latest(self) -> dt.date:
        """The last day the partial date could stand for."""
        if self.precision == DatePrecision.YEAR:
            return dt.date(self.date.year, 12, 31)
        if self.precision == DatePrecision.MONTH:
            last_day = calendar.monthrange(self.date.year, self.date.month)[1]
            return dt.date(self.date.year, self.date.month, last_day)
        return self.date

    @property
    def midpoint(self) -> dt.date:
        """The middle day of the interval: the registry's estimate of an imprecise date.

        Any fixed day of the interval (such as the first, which is how the date is stored) biases
        ages and durations computed from it; the midpoint does not, when the true day is equally
        likely anywhere in the interval. The precision says how far off it can be.
        """
        return self.earliest + (self.latest - self.earliest) / 2


DAYS_PER_YEAR = 365.25  # a Julian year


def years_between(start: dt.date, end: dt.date) -> float:
    """Elapsed years between two days (Julian years of 365.25 days), negative if `end` is earlier."""
    return (end - start).days / DAYS_PER_YEAR


def life_date_error(partial: PartialDate, *, birth: dt.date | None, death: dt.date | None) -> str | None:
    """Why a partial date cannot fall within a person's life (so far), or None if it can.

    The whole interval counts: "2005" is possible for someone born on 2005-12-31 or who died on
    2005-01-01.
    """
    if partial.earliest > today():
        return "The date cannot be in the future."
    if birth and partial.latest < birth:
        return f"The date is before the date of birth ({birth})."
    if death and partial.earliest > death:
        return f"The date is after the date of death ({death})."
    return None


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` later (28 February for 29 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def today() -> dt.date:
    return timezone.localdate()


def age_in_years(birth: dt.date, on: dt.date) -> int:
    """Completed years of age on a date (the way ages are usually stated)."""
    before_birthday = (on.month, on.day) < (birth.month, birth.day)
    return on.year - birth.year - before_birthday
