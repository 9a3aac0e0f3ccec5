"""What the patient portal keeps beyond the clinical record: invitations to claim a record,
drafts of self-reports in progress, and the follow-up reminders already sent."""

from django.conf import settings
from django.db import models

from assessments.models import Assessment
from patients.models import Patient


class Invitation(models.Model):
    """A single-use link that lets a patient set a password, consent and claim their record.

    Only a SHA-256 of the link's token is stored: someone who reads the database cannot use it.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["patient", "created_at"])]

    def __str__(self):
        return f"Invitation for patient {self.patient_id} to {self.email}"


class ReportDraft(models.Model):
    """A self-report being filled in, saved at every step so that it survives a closed browser,
    a timed-out session or a change of device.

    A draft of a new report has no `assessment`; a draft correcting a submitted report points at
    it. A patient has at most one draft of each.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="report_drafts")
    assessment = models.OneToOneField(
        Assessment, on_delete=models.CASCADE, null=True, blank=True, related_name="correction_draft"
    )
    step = models.CharField(max_length=30, blank=True, help_text="The step the patient was on.")
    data = models.JSONField(default=dict, blank=True, help_text="Answers so far, as the forms cleaned them.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=models.Q(assessment__isnull=True), name="report_draft_one_new_per_patient"
            ),
        ]

    def __str__(self):
        return f"Report draft of patient {self.patient_id} at {self.step or 'start'}"


class FollowUpReminder(models.Model):
    """A follow-up reminder sent for one due date. The unique pair is what makes a reminder go out
    once, even when two beat ticks or two workers overlap."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="follow_up_reminders")
    due_on = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)
    email = models.EmailField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "due_on"], name="follow_up_reminder_once")]

    def __str__(self):
        return f"Reminder to patient {self.patient_id} for {self.due_on}"
