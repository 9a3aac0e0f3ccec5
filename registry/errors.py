"""Errors raised by services. Interfaces (API, admin, forms) turn them into their own responses."""

from django.core.exceptions import ValidationError  # re-exported: services raise it for rule violations

__all__ = ("StaleVersionError", "ValidationError")


class StaleVersionError(Exception):
    """The record changed since the client read it (a lost update was prevented)."""

    def __init__(self, *, current_version: int):
        super().__init__(f"The record has changed since it was read (now version {current_version}).")
        self.current_version = current_version
