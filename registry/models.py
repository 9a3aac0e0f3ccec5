import uuid

from django.conf import settings
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


class IdempotencyKey(models.Model):
    """The first response to a create sent with an `Idempotency-Key` header, replayed to retries.

    A patient on a phone connection resends when an answer is slow; the key makes the resend
    return the record already made instead of a duplicate. Keys belong to one user.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    response_etag = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self):
        return f"{self.key} ({self.response_status})"


class AuditEvent(models.Model):
    """Something done that the audit trail keeps beside the records' own history: logins and failed
    logins, exports requested and downloaded, imports, erasures, overrides. Written through
    `registry.audit.audit_log`; never changed or deleted by the application."""

    kind = models.CharField(max_length=40)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True, help_text="As typed, for failed logins too.")
    via = models.CharField(max_length=10, blank=True, help_text="api, page, admin, import or task.")
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True, help_text="Public id of the record concerned.")
    detail = models.JSONField(default=dict, blank=True, help_text="Never identifying data.")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["kind", "at"]), models.Index(fields=["target_type", "target_id"])]

    def __str__(self):
        return f"{self.kind} by {self.username or self.user_id} at {self.at:%Y-%m-%d %H:%M}"
