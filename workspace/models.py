"""What the staff workspace stores of its own: staff decisions on review flags (docs/workspace.md,
"Data-quality queue"). Clinical records stay in their apps; a decision never changes one."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from registry.audit import audited_history


class ReviewTarget(models.TextChoices):
    """The kinds of record that carry review flags (`review_flags` on each)."""

    DIAGNOSIS = "diagnosis", _("Diagnosis")
    ASSESSMENT = "assessment", _("Assessment")
    MILESTONE = "milestone", _("Milestone")


class ReviewOutcome(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed correct as recorded")
    CORRECTED = "corrected", _("Corrected in the record")
    CANNOT_VERIFY = "cannot_verify", _("Cannot be verified")


class ReviewDecision(models.Model):
    """Staff's decision on one review flag of one record: the flag is resolved while this row exists.

    A flag is named by its record (kind and public id), its code and its field, since one record can
    carry the same code for several fields. The flag itself stays on the record; a later decision on
    the same flag replaces this one, and the history keeps both. The patient is kept as a key so that
    site scoping reads it directly, and an erased patient's decisions go with their records.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="review_decisions")
    target_type = models.CharField(max_length=20, choices=ReviewTarget.choices)
    target_uuid = models.UUIDField(help_text="Public id of the flagged record.")
    code = models.CharField(max_length=60, help_text="The flag's code, e.g. onset_age_unusual.")
    field = models.CharField(max_length=60, blank=True, help_text="The flagged field, as the flag names it.")
    flag_message = models.TextField(blank=True, help_text="The flag's message when the decision was made.")
    outcome = models.CharField(max_length=20, choices=ReviewOutcome.choices)
    # Required by the service; blank only after an erasure under "deidentify" (patients/erasure.py).
    note = models.TextField(max_length=2000, help_text="Why: what was checked, against which source.")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    decided_at = models.DateTimeField(auto_now=True)

    history = audited_history()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target_type", "target_uuid", "code", "field"], name="review_decision_once"
            ),
        ]
        ordering = ["-decided_at", "-id"]

    def __str__(self):
        return f"{self.outcome}: {self.code} on {self.target_type} {self.target_uuid}"
