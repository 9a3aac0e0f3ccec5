"""Two-factor rules: setting up an authenticator app, recovery codes, checking a code (on a page or
at the API's token endpoint), and turning two-factor off (docs/security.md).

Codes are checked by django-otp's devices, which refuse a code already used (`last_t`) and slow
down guessing: after n wrong codes in a row a device accepts nothing for 2^(n-1) seconds.
"""

import math

from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.errors import ValidationError
from registry.twofactor.selectors import PENDING_SESSION_KEY, two_factor_enabled, two_factor_required

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_CODES_NAME = "Recovery codes"
# django-otp's default length, which every authenticator set up here keeps; recovery codes are longer.
AUTHENTICATOR_DIGITS = 6
RECOVERY_CODE_LENGTH = 8  # StaticToken.random_token(): 5 random bytes in base32


def two_factor_login_started(sender, request, user, **kwargs) -> None:
    """`user_logged_in` receiver: a login by an account with an authenticator is not complete until
    a code from it is given (`selectors.two_factor_step_needed`)."""
    session = getattr(request, "session", None)
    if session is None:  # a login without a request has no session to hold back
        return
    if two_factor_enabled(user):
        session[PENDING_SESSION_KEY] = True
    else:
        session.pop(PENDING_SESSION_KEY, None)


def two_factor_session_verified(*, request, device: Device) -> None:
    """Mark this session as having passed its second factor with `device`."""
    otp_login(request, device)
    request.session.pop(PENDING_SESSION_KEY, None)


def two_factor_setup_start(*, user) -> TOTPDevice:
    """The authenticator being set up: the one already started, so that a reload shows the key the
    person may have scanned already, or a new one with a fresh random key."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


def two_factor_setup_confirm(*, user, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the authenticator being set up with a first code from it, which proves the app holds
    the key. Returns the device and the account's new recovery codes, to be shown once."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None or two_factor_enabled(user):
        raise ValidationError({"code": _("This setup has ended. Start again from the two-factor page.")})
    code = _normalized(code)
    if not _looks_like_authenticator_code(code):
        raise ValidationError({"code": _("Enter the 6-digit code your authenticator app shows for the registry.")})
    _check(device, code, field="code", wrong=_wrong_authenticator_code())
    with transaction.atomic():
        confirmed = TOTPDevice.objects.filter(pk=device.pk, confirmed=False).update(confirmed=True)
        if not confirmed:  # confirmed meanwhile in another tab: that one's recovery codes stand
            raise ValidationError({"code": _("Two-factor authentication is already set up for this account.")})
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        codes = _recovery_codes_replace(user)
    device.refresh_from_db()
    return device, codes


def two_factor_verify(*, user, code: str, field: str = "code") -> Device:
    """The device of `user` that accepts `code`: a code from the authenticator app, or a recovery
    code (used up by this). Raises ValidationError on `field` otherwise."""
    code = _normalized(code)
    if not code:
        raise ValidationError(
            {field: _("Enter the 6-digit code from your authenticator app, or one of your recovery codes.")}
        )
    # Each kind of code goes to its own device only, so a mistyped recovery code does not slow down
    # the authenticator, nor the other way round.
    if code.isdigit() and len(code) not in (AUTHENTICATOR_DIGITS, RECOVERY_CODE_LENGTH):
        raise ValidationError({field: _("A code from your authenticator app has 6 digits.")})
    if _looks_like_authenticator_code(code):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
        wrong = _wrong_authenticator_code()
    else:
        device = StaticDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
        wrong = _("That recovery code is not right, or it has already been used.")
    if device is None:
        raise ValidationError({field: wrong})
    return _check(device, code, field=field, wrong=wrong)


def token_second_factor_check(*, user, otp: str | None) -> None:
    """For `POST /api/v1/auth/token/`: refuse a token on a password alone to an account that uses
    two-factor, or must (REGISTRY_REQUIRE_2FA); `otp` is a code from its app or a recovery code."""
    if two_factor_enabled(user):
        two_factor_verify(user=user, code=otp or "", field="otp")
    elif two_factor_required(user):
        raise ValidationError(
            {
                "otp": _(
                    "This account must use two-factor authentication and has not set it up yet. Log in to the "
                    "registry website to set it up, then ask for a token again with a code from your "
                    "authenticator app as otp."
                )
            }
        )


@transaction.atomic
def recovery_codes_regenerate(*, user) -> list[str]:
    """New recovery codes for an account with two-factor; the old ones stop working."""
    if not two_factor_enabled(user):
        raise ValidationError({"code": _("Set up two-factor authentication first.")})
    return _recovery_codes_replace(user)


@transaction.atomic
def two_factor_disable(*, user) -> int:
    """Remove the account's authenticator apps and recovery codes; returns how many devices went.

    Sessions verified with them become unverified at their next request (django-otp finds the
    device gone). An account that must use two-factor is then asked to set it up again.
    """
    removed, _per_model = TOTPDevice.objects.filter(user=user).delete()
    removed_static, _per_model = StaticDevice.objects.filter(user=user).delete()
    return removed + removed_static


def two_factor_session_end(session: SessionBase) -> None:
    """Forget, in this session, the device it was verified with (after two-factor is turned off)."""
    session.pop(DEVICE_ID_SESSION_KEY, None)
    session.pop(PENDING_SESSION_KEY, None)


def _recovery_codes_replace(user) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_CODES_NAME, defaults={"confirmed": True}
    )
    StaticDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _position in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _check(device: Device, code: str, *, field: str, wrong: str) -> Device:
    # Its own transaction, committed before any error is raised: the failure count must survive
    # the refusal, or guessing would never slow down.
    with transaction.atomic():
        locked = type(device).objects.select_for_update().filter(pk=device.pk).first()
        if locked is None:
            accepted, locked_until = False, None
        else:
            allowed, details = locked.verify_is_allowed()
            locked_until = None if allowed else (details or {}).get("locked_until")
            accepted = allowed and locked.verify_token(code)
    if locked_until is not None:
        seconds = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
        raise ValidationError(
            {
                field: ngettext(
                    "Too many wrong codes. Wait %(seconds)d second, then try again.",
                    "Too many wrong codes. Wait %(seconds)d seconds, then try again.",
                    seconds,
                )
                % {"seconds": seconds}
            }
        )
    if not accepted:
        raise ValidationError({field: wrong})
    return locked


def _normalized(code: str) -> str:
    # Codes are often typed or pasted with spaces or dashes ("123 456", "abcd efgh"), and recovery
    # codes are stored in lower case.
    return "".join(code.split()).replace("-", "").lower()


def _looks_like_authenticator_code(code: str) -> bool:
    return len(code) == AUTHENTICATOR_DIGITS and code.isdigit()


def _wrong_authenticator_code() -> str:
    return _(
        "That code is not right. Enter the newest code your authenticator app shows; if it is still refused, "
        "check that your phone sets its clock automatically."
    )
