"""Errors raised by services. Interfaces (API, admin, forms) turn them into their own responses."""

from django.core.exceptions import ValidationError  # re-exported: services raise it for rule violations

__all__ = ("RecordGoneError", "StaleVersionError", "ValidationError")


class StaleVersionError(Exception):
    """The record changed since the client read it (a lost update was prevented)."""

    def __init__(self, *, current_version: int):
        super().__init__(f"The record has changed since it was read (now version {current_version}).")
        self.current_version = current_version


class RecordGoneError(Exception):
    """The record was deleted while the write waited for it (for example by a concurrent DELETE)."""

    def __init__(self):
        super().__init__("The record no longer exists; it was deleted while your change was being made.")
