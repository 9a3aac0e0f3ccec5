"""Drafts of patients' self-reports: the answers so far, saved at every step of the report form, so
that a closed browser, a timed-out session or a change of device loses nothing
(docs/patient-reports.md, "Drafts").

A draft holds answers as JSON (dates as ISO text), keyed by the assessment field they answer. A draft
correcting a submitted report also holds the version of the report it started from, so that a
change made meanwhile by the registry team is noticed instead of silently overwritten.
"""

import datetime as dt

from django.db import transaction

from assessments.models import Assessment
from assessments.services import PATIENT_REPORT_FIELDS, patient_report_correct, patient_report_create
from patients.models import Patient
from patients.services import patient_lock
from portal.models import ReportDraft

# In a correction's data: the version of the report the correction started from (not an answer).
CORRECTED_VERSION = "corrected_version"


class DraftGone(Exception):
    """The draft was sent (or discarded) meanwhile, for example from another tab."""


def json_answers(values: dict) -> dict:
    """Answers as a draft stores them: JSON values, dates as ISO text."""
    return {name: value.isoformat() if isinstance(value, dt.date) else value for name, value in values.items()}


def report_answers(assessment: Assessment) -> dict:
    """A stored report's current answers, in the draft's form."""
    return json_answers({name: getattr(assessment, name) for name in PATIENT_REPORT_FIELDS})


def draft_find(*, patient: Patient, assessment: Assessment | None = None) -> ReportDraft | None:
    """The patient's draft of a new report (no `assessment`) or of a correction of `assessment`."""
    return ReportDraft.objects.filter(patient=patient, assessment=assessment).first()


def draft_answers(*, patient: Patient, assessment: Assessment | None = None) -> dict:
    """The answers to show: the draft's, else (for a correction not yet started) the report's own."""
    draft = draft_find(patient=patient, assessment=assessment)
    if draft is not None:
        return {name: value for name, value in draft.data.items() if name != CORRECTED_VERSION}
    return report_answers(assessment) if assessment is not None else {}


def _draft_locked(*, patient: Patient, assessment: Assessment | None) -> ReportDraft:
    """The patient's draft, made if missing, locked until the transaction ends.

    Two tabs saving their first step at once both try to insert; the unique constraints make the
    second wait for the first and then find its row (get_or_create retries the read), so both
    steps land in the one draft. A new correction starts from the report's current answers.
    """
    if assessment is None:
        defaults = {"data": {}}
    else:
        defaults = {"data": report_answers(assessment) | {CORRECTED_VERSION: assessment.version}}
    draft, _ = ReportDraft.objects.select_for_update().get_or_create(
        patient=patient, assessment=assessment, defaults=defaults
    )
    return draft


@transaction.atomic
def draft_save_step(
    *, patient: Patient, assessment: Assessment | None = None, answers: dict, resume_at: str
) -> ReportDraft:
    """Add one step's answers to the patient's draft (made if there is none) and note the step to
    resume at. The answers of other steps, saved by another tab meanwhile, are kept."""
    draft = _draft_locked(patient=patient, assessment=assessment)
    draft.data = {**draft.data, **json_answers(answers)}
    draft.step = resume_at
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft


@transaction.atomic
def draft_correction_restart(*, patient: Patient, assessment: Assessment, version: int) -> None:
    """After the report changed under a correction: keep the answers, and start from the report's
    current version (the patient is told, checks their answers and sends again)."""
    draft = ReportDraft.objects.select_for_update().filter(patient=patient, assessment=assessment).first()
    if draft is not None:
        draft.data = {**draft.data, CORRECTED_VERSION: version}
        draft.save(update_fields=["data", "updated_at"])


@transaction.atomic
def draft_submit(*, patient: Patient, assessment: Assessment | None = None, data: dict, user) -> Assessment:
    """Send the report: create it (or correct `assessment`) from `data`, the answers as the forms
    cleaned them, and discard the draft in the same transaction, so that a refused report keeps
    its draft and a sent one never leaves a draft behind.

    DraftGone when there is no draft any more (a second click on Send, another tab); the rules'
    ValidationError, and for corrections StaleVersionError and ReportCorrectionRefused, pass through.
    """
    # The patient first, as every writer of their record locks it; then the draft, so that two
    # submissions of one draft cannot both go through.
    patient_lock(patient_id=patient.pk)
    draft = ReportDraft.objects.select_for_update().filter(patient=patient, assessment=assessment).first()
    if draft is None:
        raise DraftGone()
    if assessment is None:
        report = patient_report_create(patient=patient, data=data, entered_by=user)
    else:
        version = draft.data.get(CORRECTED_VERSION)
        report = patient_report_correct(
            assessment=assessment,
            # A draft without its version (it should not happen) is treated as out of date.
            expected_version=version if isinstance(version, int) else 0,
            data=data,
            corrected_by=user,
        )
    draft.delete()
    return report
