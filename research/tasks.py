"""Celery tasks for research exports. Thin: they take an export id and call research.services.

`run_export` is safe to deliver twice (the claim and the build lock in `export_run` let one delivery
build), which is what makes acks_late and reject_on_worker_lost right for it: a worker killed
mid-build leaves its message to be delivered again instead of losing the export.
"""

import random

from celery import shared_task
from django.conf import settings

from research import services

GAVE_UP_REASON = (
    "The registry's database or file storage was unavailable for too long while building this export. "
    "Request it again later; if it keeps failing, contact the registry team."
)


def retry_delay(retries: int) -> float:
    """Seconds before retry number `retries` + 1: exponential backoff, capped, with jitter so that
    exports interrupted by the same outage do not all come back at the same second."""
    base = min(settings.REGISTRY_EXPORT_RETRY_MAX_DELAY, settings.REGISTRY_EXPORT_RETRY_DELAY * 2**retries)
    return base * random.uniform(0.5, 1.0)


@shared_task(
    bind=True,
    name="research.run_export",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.REGISTRY_EXPORT_MAX_RETRIES,
    soft_time_limit=settings.REGISTRY_EXPORT_SOFT_TIME_LIMIT,
    time_limit=settings.REGISTRY_EXPORT_TIME_LIMIT,
)
def run_export(self, export_id: int) -> str:
    try:
        return services.export_run(export_id=export_id)
    except services.TRANSIENT_ERRORS as error:
        # In-process (eager) runs have no worker to come back later: give up at once.
        if self.request.is_eager or self.request.retries >= self.max_retries:
            services.export_fail(export_id=export_id, reason=GAVE_UP_REASON)
            return "failed"
        raise self.retry(exc=error, countdown=retry_delay(self.request.retries)) from error


@shared_task(name="research.requeue_stale_exports", time_limit=300, soft_time_limit=240)
def requeue_stale_exports() -> list[int]:
    # Sending an export twice is harmless (see run_export), so neither is running this twice.
    return services.exports_requeue_stale()
