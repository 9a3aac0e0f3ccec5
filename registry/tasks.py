"""Periodic housekeeping. Tasks stay thin: they call a function that holds the logic."""

from celery import shared_task

from registry.idempotency import idempotency_keys_purge


@shared_task(name="registry.purge_idempotency_keys", acks_late=True, time_limit=300, soft_time_limit=240)
def purge_idempotency_keys() -> int:
    # Idempotent by nature (deleting what has expired), so a redelivered task is harmless.
    return idempotency_keys_purge()
