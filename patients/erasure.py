"""Erasure on request (docs/consent.md, "Erasure").

Separate from withdrawal: a withdrawn patient's record stays, consent ended; an erased patient's
identity is gone, and under the "erase" policy their clinical data too. What happens is the
foundation's choice, `REGISTRY_ERASURE_POLICY`:

- "deidentify" (default): identity blanked, the login unlinked, deactivated and stripped of name
  and email, free text cleared, portal records that exist only to reach the person deleted,
  consents ended; the de-identified clinical data stays, and is never exported again.
- "erase": the patient and every clinical record of theirs deleted.

Either way the audit trail's history of what was removed is purged, and the erasure itself is
logged without any of the erased data. It takes two steps: `erasure_confirmation_issue` gives a
short-lived signed token with a plain statement of what will go (`erasure_plan`), and
`patient_erase` needs that token and the registry id typed again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import models, transaction
from django.utils import timezone

from patients.models import ConsentGrant, Patient, PatientIdentity
from patients.services import IDENTITY_FIELDS
from registry.audit import EventKind, audit_log, audit_purge_allowed
from registry.dates import today
from registry.errors import ValidationError
from registry.history import history_models
from registry.models import AuditEvent, IdempotencyKey

DEIDENTIFY, ERASE = "deidentify", "erase"
POLICIES = (DEIDENTIFY, ERASE)
# Long enough to read the statement and type the registry id; short enough that a confirmation
# left in a browser tab or a log is useless by the time anyone finds it.
CONFIRMATION_MAX_AGE = dt.timedelta(minutes=10)
_SALT = "patients.erasure"

# Free text that may name or describe the person, by the patient's reverse relation and field.
# Reached through the relation (`patient.assessments`) so that this app needs no import of the apps
# that depend on it, as patients.services already does for assessments and milestones.
# Staff's notes on review decisions (workspace) may describe the person too.
FREE_TEXT = {"assessments": ("comment",), "enrollment_events": ("reason",), "review_decisions": ("note",)}
# On the patient row itself: a city-level time zone narrows down where the person lives.
PATIENT_FREE_TEXT = ("time_zone",)
# Portal records that exist only to reach the person (an email address, unsent answers): deleted.
CONTACT_RECORDS = ("invitations", "follow_up_reminders", "report_drafts")


@dataclass(frozen=True)
class ErasurePlan:
    """What an erasure of one patient will remove and keep, in words staff confirm."""

    policy: str
    removes: list[str]
    keeps: list[str]


def erasure_policy() -> str:
    policy = settings.REGISTRY_ERASURE_POLICY
    if policy not in POLICIES:  # settings refuse this at start-up; a test override could still do it
        raise ValueError(f"REGISTRY_ERASURE_POLICY must be one of {', '.join(POLICIES)}, not {policy!r}.")
    return policy


def _check_not_erased(patient: Patient) -> None:
    if patient.erased_at is not None:
        raise ValidationError({"patient": f"This patient was already erased on {patient.erased_at:%Y-%m-%d}."})


def erasure_plan(*, patient: Patient) -> ErasurePlan:
    """The statement shown before an erasure: what goes and what stays under the policy in force."""
    _check_not_erased(patient)
    policy = erasure_policy()
    assessments = patient.assessments.count()
    active_consents = ConsentGrant.objects.filter(patient=patient, withdrawn_on=None).count()
    login = ["the portal login (deactivated, its name and email removed)"] if patient.account_id else []
    if policy == ERASE:
        return ErasurePlan(
            policy=policy,
            removes=[
                "the patient record and its identity (names, dates of birth and death, contact details, identifiers)",
                f"all clinical data: diagnosis, genotype, treatments, {assessments} assessment(s) with their "
                "measurements, milestones, enrollment history, consents",
                "portal invitations, reminders and report drafts",
                *login,
                "the audit history of all of these",
            ],
            keeps=["an audit event saying that the record was erased, by whom and when (no erased data)"],
        )
    comments = patient.assessments.exclude(comment="").count()
    return ErasurePlan(
        policy=policy,
        removes=[
            "identity: names, dates of birth and death, email, phone, postal address, national and hospital ids",
            f"free text: {comments} assessment comment(s) and the reasons given for status changes",
            "the patient's time zone",
            "portal invitations, reminders and report drafts",
            *login,
            "the audit history of the identity, and the free text in the history of the other records",
        ],
        keeps=[
            f"de-identified clinical data: diagnosis, genotype, treatments, {assessments} assessment(s), "
            "milestones, enrollment history",
            f"the consent history, with the {active_consents} active consent(s) ended today",
            "the record is marked erased and is never exported again",
        ],
    )


def _confirmation_payload(patient: Patient, requested_by) -> dict:
    return {"patient": str(patient.uuid), "by": requested_by.pk, "policy": erasure_policy()}


def erasure_confirmation_issue(*, patient: Patient, requested_by) -> tuple[str, dt.datetime]:
    """A signed token that confirms one erasure, by one staff member, under the policy now in force;
    and when it expires. Nothing is stored: the signature is the proof."""
    _check_not_erased(patient)
    token = signing.dumps(_confirmation_payload(patient, requested_by), salt=_SALT)
    return token, timezone.now() + CONFIRMATION_MAX_AGE


def _check_confirmation(*, patient: Patient, requested_by, confirmation: str, registry_id: str) -> None:
    try:
        payload = signing.loads(str(confirmation), salt=_SALT, max_age=CONFIRMATION_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationError({"token": "This confirmation has expired; ask for a new one."}) from None
    except signing.BadSignature:
        raise ValidationError({"token": "This is not a confirmation issued by the registry."}) from None
    if payload != _confirmation_payload(patient, requested_by):
        # Another patient, another staff member, or the policy changed since the statement was shown.
        raise ValidationError({"token": "This confirmation was not issued for this erasure; ask for a new one."})
    if str(registry_id).strip().lower() != str(patient.uuid):
        raise ValidationError({"registry_id": "This is not the registry id of the patient being erased."})


@transaction.atomic
def patient_erase(*, patient: Patient, requested_by, confirmation: str, registry_id: str, via: str = "") -> str:
    """Erase a patient on request under REGISTRY_ERASURE_POLICY, after the second confirmation.

    `confirmation` is the token from `erasure_confirmation_issue`, `registry_id` the patient's id
    typed again. Returns the policy applied. Everything happens in one transaction, the purge of
    the history and the audit event included: an erasure is done completely or not at all.
    """
    _check_confirmation(patient=patient, requested_by=requested_by, confirmation=confirmation, registry_id=registry_id)
    patient = Patient.objects.select_for_update(of=("self",)).get(pk=patient.pk)
    _check_not_erased(patient)
    policy = erasure_policy()
    account = patient.account
    # Gathered before anything is deleted: history rows are found through the records' ids.
    history = _patient_history(patient)
    if policy == ERASE:
        patient.delete()
    else:
        _deidentify(patient)
    _idempotent_replays_forget(patient)
    username = account.get_username() if account is not None else ""
    if account is not None:
        _account_close(account)
    with audit_purge_allowed():
        if policy == ERASE:
            for rows in history.values():
                rows.delete()
        else:
            _deidentify_history(history)
        if account is not None:
            _trail_forget_username(account, username)
    # The patient's public id (kept on the instance after a delete) and the policy: nothing erased.
    audit_log(EventKind.ERASURE, user=requested_by, via=via, target=patient, detail={"policy": policy})
    return policy


def _deidentify(patient: Patient) -> None:
    # Queryset updates: they write no history rows, and the history is purged of these values below.
    blanks = {name: None if name.startswith("date_") else "" for name in IDENTITY_FIELDS}
    PatientIdentity.objects.filter(patient=patient).update(**blanks)
    for relation, fields in FREE_TEXT.items():
        records = getattr(patient, relation).all()
        records.filter(_any_filled(fields)).update(**dict.fromkeys(fields, ""))
    for relation in CONTACT_RECORDS:
        getattr(patient, relation).all().delete()
    # Ended today, as a withdrawal would: nobody may use or contact an erased patient's record. Saved
    # one by one (a handful of rows) so that the audit trail shows each grant ending.
    for grant in ConsentGrant.objects.filter(patient=patient, withdrawn_on=None):
        grant.withdrawn_on = today()
        grant.save(update_fields=["withdrawn_on"])
    for name in PATIENT_FREE_TEXT:
        setattr(patient, name, "")
    patient.account = None
    patient.erased_at = timezone.now()
    patient.version += 1
    patient.save(update_fields=["account", *PATIENT_FREE_TEXT, "erased_at", "version", "updated_at"])


def _any_filled(fields) -> models.Q:
    query = models.Q()
    for name in fields:
        query |= ~models.Q(**{name: ""})
    return query


def _account_close(account) -> None:
    """The patient's login: deactivated (its sessions and tokens stop working) and nothing left in it
    that names the person."""
    account.username = f"erased-{account.pk}"
    account.email = account.first_name = account.last_name = ""
    account.set_unusable_password()
    account.is_active = False
    account.save()
    account.groups.clear()


def _idempotent_replays_forget(patient: Patient) -> None:
    """Stored first responses replayed to retried creates hold whole records (a patient's identity
    among them) for a day; those naming the patient go now."""
    IdempotencyKey.objects.filter(response_body__icontains=str(patient.uuid)).delete()


# --- The audit trail (registry.audit) -------------------------------------------------------------


def _patient_history(patient: Patient) -> dict[type[models.Model], models.QuerySet]:
    """History rows of every audited record of this patient, by audited model.

    A record belongs to the patient when it is the patient, has a foreign key to the patient, or
    has one to a record that does (a measurement of an assessment), as in registry.history. Found
    from the models rather than listed, so that a model the audit trail starts tracking later is
    covered without a change here. Records deleted long ago are found too: their history keeps the
    ids. Ids of parent records are read now, before an erasure deletes the live rows.
    """
    audited = {history.instance_type: history for history in history_models()}
    found: dict[type[models.Model], models.QuerySet] = {}
    for model, history in audited.items():
        if model is Patient:
            found[model] = history.objects.filter(id=patient.pk)
        elif key := _foreign_key_to(model, Patient):
            found[model] = history.objects.filter(**{key.attname: patient.pk})
    for model, history in audited.items():
        parent_key = next((key for key in _foreign_keys(model) if key.related_model in found), None)
        if model not in found and parent_key is not None:
            parents = found[parent_key.related_model]
            parent_ids = sorted(set(parents.values_list("id", flat=True)))
            found[model] = history.objects.filter(**{f"{parent_key.attname}__in": parent_ids})
    return found


def _foreign_keys(model: type[models.Model]) -> list[models.ForeignKey]:
    return [f for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)]


def _foreign_key_to(model: type[models.Model], target: type[models.Model]) -> models.ForeignKey | None:
    return next((key for key in _foreign_keys(model) if key.related_model is target), None)


def _related_model(relation: str) -> type[models.Model]:
    """The model behind one of the patient's reverse relations (`"assessments"` gives Assessment)."""
    return getattr(Patient, relation).rel.related_model


def _deidentify_history(history: dict[type[models.Model], models.QuerySet]) -> None:
    """Under "deidentify": the identity's history goes; free text is blanked in the history of the
    other records, which stays as the de-identified data's own trail."""
    free_text = {_related_model(relation): fields for relation, fields in FREE_TEXT.items()}
    free_text[Patient] = PATIENT_FREE_TEXT
    removed = {PatientIdentity, *(_related_model(relation) for relation in CONTACT_RECORDS)}
    for model, rows in history.items():
        if model in removed:
            rows.delete()
        elif model in free_text:
            fields = free_text[model]
            rows.filter(_any_filled(fields)).update(**dict.fromkeys(fields, ""))


def _trail_forget_username(account, username: str) -> None:
    """The trail keeps usernames beside user ids, so that it outlives deleted accounts; a patient's
    username is often their email address, so it is replaced by the closed account's name wherever
    the trail holds it: changes the patient made (their reports), their logins and failed logins."""
    for history in history_models():
        history.objects.filter(history_user_id=account.pk).update(history_username=account.get_username())
    AuditEvent.objects.filter(models.Q(user=account) | models.Q(username=username)).update(
        username=account.get_username()
    )
