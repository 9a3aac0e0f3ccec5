"""Research projects and their de-identified exports (docs/research-exports.md).

A project is an approved study under a data-use agreement. Each has its own secret pseudonym key,
so that pseudonyms are stable across one project's exports and unlinkable between projects. The
key never leaves the registry: not in the API, the admin, an export or a log line.
"""

import secrets

from django.conf import settings
from django.db import models

from patients.models import Patient

PSEUDONYM_KEY_BYTES = 32


def new_pseudonym_key() -> bytes:
    return secrets.token_bytes(PSEUDONYM_KEY_BYTES)


def default_k() -> int:
    return settings.REGISTRY_EXPORT_K


def default_minimum_cohort() -> int:
    return settings.REGISTRY_EXPORT_MIN_COHORT


class ResearchProject(models.Model):
    title = models.CharField(max_length=200)
    approving_body = models.CharField(max_length=200, help_text="Ethics committee or data-access committee.")
    approval_reference = models.CharField(max_length=100)
    data_use_agreement_ends = models.DateField(help_text="No export is built for the project after this day.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="research_projects", blank=True)
    k_anonymity = models.PositiveSmallIntegerField(
        default=default_k, help_text="Smallest group allowed over the quasi-identifiers (11 for public data)."
    )
    minimum_cohort = models.PositiveSmallIntegerField(
        default=default_minimum_cohort, help_text="Smaller cohorts are refused."
    )
    ancestry_allowed = models.BooleanField(
        default=False, help_text="Exports may include ancestry (then a quasi-identifier)."
    )
    # Never serialised, shown or logged: whoever holds it can link pseudonyms back to registry ids.
    pseudonym_key = models.BinaryField(default=new_pseudonym_key, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(k_anonymity__gte=2), name="research_project_k_at_least_2"),
            models.CheckConstraint(condition=models.Q(minimum_cohort__gte=2), name="research_project_min_cohort"),
        ]

    def __str__(self):
        return self.title

    def __repr__(self):
        # The default repr is harmless, but say so explicitly: the key must never reach a log line.
        return f"<ResearchProject {self.pk}: {self.title!r}>"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused (de-identification)"


FINISHED_STATUSES = (ExportStatus.DONE, ExportStatus.FAILED, ExportStatus.REFUSED)


class ResearchExport(models.Model):
    """One requested export: its cohort definition, its progress, and the published package."""

    project = models.ForeignKey(ResearchProject, on_delete=models.PROTECT, related_name="exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    cohort = models.JSONField(default=dict, help_text="The validated cohort definition (research.cohort).")
    include_ancestry = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    step = models.CharField(max_length=80, blank=True)
    reason = models.TextField(blank=True, help_text="Why it failed or was refused, in words a person can act on.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker claimed it.")
    file_name = models.CharField(max_length=200, blank=True, help_text="Name in the exports storage once published.")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    patient_count = models.PositiveIntegerField(null=True, blank=True)
    achieved_k = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="Last time it was sent to the broker.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "enqueued_at"])]

    def __str__(self):
        return f"Export #{self.pk} ({self.status})"


class ExportedPatient(models.Model):
    """Who went into a published export; kept in the registry only, to refuse difference attacks."""

    export = models.ForeignKey(ResearchExport, on_delete=models.CASCADE, related_name="exported_patients")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["export", "patient"], name="exported_patient_unique")]

    def __str__(self):
        return f"Patient {self.patient_id} in export #{self.export_id}"


class ExportDownload(models.Model):
    export = models.ForeignKey(ResearchExport, on_delete=models.CASCADE, related_name="downloads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    downloaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-downloaded_at", "-id"]

    def __str__(self):
        return f"Export #{self.export_id} downloaded by {self.user_id} at {self.downloaded_at:%Y-%m-%d %H:%M}"
