"""Helpers for services that update versioned records (RegistryRecord)."""

from registry.errors import StaleVersionError


def lock_for_update(record, expected_version: int):
    """Re-read the record under a row lock and check it is still the version the client saw.

    The check happens under the lock so two writers who read the same version cannot both win.
    """
    locked = type(record).objects.select_for_update().get(pk=record.pk)
    if locked.version != expected_version:
        raise StaleVersionError(current_version=locked.version)
    return locked


def apply_changes(record, values: dict) -> None:
    for name, value in values.items():
        setattr(record, name, value)
