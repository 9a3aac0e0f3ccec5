import uuid

from django.db import models


class DatePrecision(models.TextChoices):
    """How much of a stored date is known: patients often remember only the year of onset."""

    DAY = "day", "Day"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


class YesNoUnknown(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Unknown"


class RegistryRecord(models.Model):
    """A record exposed through the API: a public UUID, and a version for optimistic locking.

    The integer primary key stays internal (joins, indexes); URLs and clients only see `uuid`.
    `version` goes up by one on every update made through a service and is the record's ETag.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
