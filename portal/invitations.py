"""Accounts for patients: staff invite a patient to claim the record they already created, the
patient accepts (password, consent, login), asks for a fresh link, or registers themself when the
registry allows it. docs/accounts.md describes the flows; every entry path (API, pages) comes here.

Only a SHA-256 of an invitation's token is stored, so a copy of the database opens no account.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from patients.models import ConsentDocument, ConsentPurpose, EnrollmentStatus, Patient, PatientIdentity
from patients.services import consent_grant, patient_create
from portal.models import Invitation
from registry.dates import today
from registry.errors import ValidationError
from registry.roles import PATIENT

logger = logging.getLogger(__name__)

# Records that can no longer be joined: a withdrawn patient re-enrolls through staff first.
CLOSED_STATUSES = (EnrollmentStatus.WITHDRAWN, EnrollmentStatus.DECEASED)
# A renew request for a patient invited this recently sends nothing: the form cannot be used to
# flood someone's mailbox, and a patient who asks twice in a row gets the link already on its way.
RENEW_QUIET_PERIOD = dt.timedelta(minutes=5)
# token_urlsafe(32) gives 43 characters; anything much longer is not one of ours.
TOKEN_MAX_LENGTH = 100
USERNAME_TAKEN = "This username is taken; choose another."
CONSENT_CHANGED = "The consent document has just been updated; read the new version below and choose again."


class Unusable:
    """Why an invitation link cannot be used (the page explains each)."""

    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    CLAIMED = "claimed"  # the record got an account another way (another invitation, staff)
    CLOSED = "closed"  # the patient was withdrawn or died after the invitation was sent


class InvitationUnusable(Exception):
    """The link is used, expired, unknown, or its record is no longer open to claim."""

    def __init__(self, reason: str):
        super().__init__(f"This invitation cannot be used ({reason}).")
        self.reason = reason


class EmailNotSent(Exception):
    """The mail server refused or could not be reached; nothing was stored."""


@dataclass(frozen=True)
class TokenLookup:
    invitation: Invitation | None
    reason: str | None  # one of `Unusable`, or None when the invitation can be accepted


# --- Tokens and links -------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def invitation_link(token: str, *, base_url: str | None = None) -> str:
    """The link sent by email: the site the request came to, else REGISTRY_PUBLIC_URL (tasks have no request)."""
    base = (base_url or settings.REGISTRY_PUBLIC_URL).rstrip("/")
    return base + reverse("portal:invitation-accept", kwargs={"token": token})


def consent_document_current(*, patient: Patient | None = None) -> ConsentDocument | None:
    """The latest version in effect of the consent document patients accept in the portal.

    "In effect" is judged on the patient's own today, as their consent will be dated.
    """
    with timezone.override(patient.zone if patient else settings.TIME_ZONE):
        on = today()
    return (
        ConsentDocument.objects.filter(code=settings.REGISTRY_CONSENT_DOCUMENT, effective_from__lte=on)
        .order_by("-effective_from", "-id")
        .first()
    )


def consent_purposes(document: ConsentDocument | None) -> list[tuple[str, str]]:
    """The purposes a document asks consent for, as (value, label), in the registry's order."""
    if document is None:
        return []
    return [(purpose.value, purpose.label) for purpose in ConsentPurpose if purpose.value in document.purposes]


# --- Invitations ------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(
    *, patient: Patient, email: str | None = None, created_by=None, request_base_url: str | None = None
) -> Invitation:
    """Invite a patient to claim their record, by email; earlier unused invitations stop working.

    The email is sent inside the transaction on purpose: if the mail server fails, nothing is
    stored and the earlier invitation still works (raises EmailNotSent).
    """
    patient = Patient.objects.select_for_update(of=("self",)).select_related("identity").get(pk=patient.pk)
    identity = getattr(patient, "identity", None)
    email = (email or (identity.email if identity else "") or "").strip()
    _check_invitable(patient, email)

    now = timezone.now()
    Invitation.objects.filter(patient=patient, used_at=None, expires_at__gt=now).update(expires_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        patient=patient,
        email=email,
        token_hash=token_hash(token),
        created_by=created_by,
        expires_at=now + dt.timedelta(days=settings.REGISTRY_INVITATION_DAYS),
    )
    _send_invitation(invitation, link=invitation_link(token, base_url=request_base_url), identity=identity)
    return invitation


def _check_invitable(patient: Patient, email: str) -> None:
    if patient.account_id is not None:
        raise ValidationError({"patient": "This patient already has an account; they can reset their password."})
    if patient.status in CLOSED_STATUSES:
        raise ValidationError({"patient": f"This patient is {patient.status}; they cannot be invited."})
    if not email:
        raise ValidationError({"email": "The patient has no email address on record; give one to send the invitation."})
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationError({"email": "Enter a valid email address."}) from None


def _send_invitation(invitation: Invitation, *, link: str, identity: PatientIdentity | None) -> None:
    context = {
        "link": link,
        "given_name": identity.given_name if identity else "",
        "days": settings.REGISTRY_INVITATION_DAYS,
    }
    # Emails go out in the site's language: the patient's own is not known before they log in.
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string("portal/accounts/invitation_email_subject.txt", context).strip()
        message = EmailMultiAlternatives(
            subject=" ".join(subject.splitlines()),
            body=render_to_string("portal/accounts/invitation_email.txt", context),
            to=[invitation.email],
        )
        message.attach_alternative(render_to_string("portal/accounts/invitation_email.html", context), "text/html")
    try:
        message.send()
    except Exception as error:  # SMTP, DNS, TLS, timeouts: whatever the backend raises
        logger.warning("Invitation %s to patient %s not sent: %r", invitation.pk, invitation.patient_id, error)
        raise EmailNotSent("The invitation email could not be sent; try again later.") from error


def invitation_for_token(token: str) -> TokenLookup:
    """The invitation a link's token belongs to, with the reason it cannot be used, if any."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return TokenLookup(None, Unusable.UNKNOWN)
    invitation = Invitation.objects.select_related("patient").filter(token_hash=token_hash(token)).first()
    if invitation is None:
        return TokenLookup(None, Unusable.UNKNOWN)
    return TokenLookup(invitation, _unusable_reason(invitation, invitation.patient))


def _unusable_reason(invitation: Invitation, patient: Patient) -> str | None:
    if invitation.used_at is not None:
        return Unusable.USED
    if patient.account_id is not None:
        return Unusable.CLAIMED
    if invitation.expires_at <= timezone.now():
        return Unusable.EXPIRED
    if patient.status in CLOSED_STATUSES:
        return Unusable.CLOSED
    return None


@transaction.atomic
def invitation_accept(
    *, token: str, username: str, password: str, purposes: list[str], consent_document_shown: int | None = None
) -> AbstractBaseUser:
    """Claim the invited patient's record: a new login, consent to the purposes chosen, the link spent.

    The invitation and patient rows are locked, so of two accepts of one link (a double click, two
    devices) the second waits, then finds the link used. No patient record is ever created here.
    Returns the new user. Raises InvitationUnusable, or ValidationError for the fields.
    """
    if not token or len(token) > TOKEN_MAX_LENGTH:
        raise InvitationUnusable(Unusable.UNKNOWN)
    invitation = Invitation.objects.select_for_update().filter(token_hash=token_hash(token)).first()
    if invitation is None:
        raise InvitationUnusable(Unusable.UNKNOWN)
    patient = Patient.objects.select_for_update(of=("self",)).get(pk=invitation.patient_id)
    reason = _unusable_reason(invitation, patient)
    if reason:
        raise InvitationUnusable(reason)

    user = _patient_account_create(username=username, email=invitation.email, password=password)
    _consent_at_sign_up(patient=patient, purposes=purposes, document_shown=consent_document_shown, recorded_by=user)
    patient.account = user
    patient.save(update_fields=["account", "updated_at"])
    invitation.used_at = timezone.now()
    invitation.save(update_fields=["used_at"])
    return user


def invitation_renew_request(*, email: str, request_base_url: str | None = None) -> None:
    """Send a fresh invitation to each unclaimed record with this email.

    The caller answers the same whatever happens here ("if the address is ours, a link is on its
    way"), so the form tells no one which addresses are in the registry; failures are only logged.
    """
    email = (email or "").strip()
    if not email:
        return
    recently = timezone.now() - RENEW_QUIET_PERIOD
    patients = (
        Patient.objects.filter(identity__email__iexact=email, account=None)
        .exclude(status__in=CLOSED_STATUSES)
        .exclude(invitations__created_at__gt=recently)
        .select_related("identity")
    )
    for patient in patients:
        try:
            invitation_create(patient=patient, email=patient.identity.email, request_base_url=request_base_url)
        except (ValidationError, EmailNotSent) as error:  # claimed meanwhile, or the mail server is down
            logger.warning("Renewed invitation for patient %s not sent: %s", patient.pk, error)


# --- Self-registration ------------------------------------------------------------------------


@transaction.atomic
def patient_self_register(
    *,
    identity: dict,
    country: str,
    username: str,
    password: str,
    purposes: list[str],
    consent_document_shown: int | None = None,
) -> tuple[Patient, AbstractBaseUser]:
    """A person signs up: a candidate record with their identity and their own login.

    Only when REGISTRY_SELF_REGISTRATION is on. Staff confirm the record by enrolling it (a status
    change), and merge it by hand if it turns out to duplicate one they had created.
    Returns (patient, user).
    """
    if not settings.REGISTRY_SELF_REGISTRATION:
        raise ValidationError("Self-registration is turned off in this registry.")
    user = _patient_account_create(username=username, email=identity.get("email", ""), password=password)
    try:
        patient = patient_create(data={"country": country}, identity=identity, recorded_by=user)
    except ValidationError as error:
        raise ValidationError(_without_prefix(error, "identity.")) from None
    _consent_at_sign_up(patient=patient, purposes=purposes, document_shown=consent_document_shown, recorded_by=user)
    patient.account = user
    patient.save(update_fields=["account", "updated_at"])
    return patient, user


def _without_prefix(error: ValidationError, prefix: str) -> dict:
    by_field = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    return {key.removeprefix(prefix): messages for key, messages in by_field.items()}


# --- Shared steps -----------------------------------------------------------------------------


def _patient_account_create(*, username: str, email: str, password: str) -> AbstractBaseUser:
    """A login with the patient role; the password is checked by the site's password validators."""
    user_model = get_user_model()
    user = user_model(username=(username or "").strip(), email=email)
    errors: dict[str, list[str]] = {}
    try:
        user_model._meta.get_field(user_model.USERNAME_FIELD).clean(user.get_username(), user)
    except DjangoValidationError as error:
        errors["username"] = error.messages
    else:
        if user_model.objects.filter(username__iexact=user.get_username()).exists():
            errors["username"] = [USERNAME_TAKEN]
    try:
        password_validation.validate_password(password or "", user=user)
    except DjangoValidationError as error:
        errors["password"] = error.messages
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    try:
        with transaction.atomic():  # a savepoint: two sign-ups racing for one name
            user.save()
    except IntegrityError:
        raise ValidationError({"username": USERNAME_TAKEN}) from None
    user.groups.add(Group.objects.get_or_create(name=PATIENT)[0])
    return user


def _consent_at_sign_up(
    *, patient: Patient, purposes: list[str], document_shown: int | None, recorded_by: AbstractBaseUser
) -> None:
    """Consent to the purposes ticked, under the current document, dated the patient's own today.

    `document_shown` is the id of the version the page showed: if a new version came into effect
    meanwhile, the patient must read it before their ticks count.
    """
    purposes = list(dict.fromkeys(purposes or []))
    document = consent_document_current(patient=patient)
    if document_shown is not None and (document is None or document.pk != document_shown):
        raise ValidationError({"purposes": CONSENT_CHANGED})
    if not purposes:
        return
    if document is None:
        raise ValidationError({"purposes": "There is no consent document in use yet; ask the registry team."})
    with timezone.override(patient.zone):
        consent_grant(
            patient=patient, document=document, purposes=purposes, granted_on=today(), recorded_by=recorded_by
        )
