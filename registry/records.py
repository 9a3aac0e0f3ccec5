"""Helpers for services that update versioned records (RegistryRecord)."""

from registry.errors import RecordGoneError, StaleVersionError


def lock_for_update(record, expected_version: int):
    """Re-read the record under a row lock and check it is still the version the client saw.

    The check happens under the lock so two writers who read the same version cannot both win.
    A record deleted meanwhile (a DELETE racing this write) is gone, not a server error.
    """
    locked = type(record).objects.select_for_update().filter(pk=record.pk).first()
    if locked is None:
        raise RecordGoneError()
    if locked.version != expected_version:
        raise StaleVersionError(current_version=locked.version)
    return locked


def apply_changes(record, values: dict) -> None:
    for name, value in values.items():
        setattr(record, name, value)
