"""Reads about an account's second factor: whether it has one, whether it must, what a login still
owes, and how the authenticator being set up is shown (QR code and key)."""

from base64 import b32encode

import qrcode
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.safestring import SafeString, mark_safe
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from qrcode.image.svg import SvgPathFillImage

from registry.roles import RESEARCHER, STAFF, user_roles

# Set in the session at login for an account with an authenticator; cleared once a code is given.
PENDING_SESSION_KEY = "two_factor_pending"
# What a logged-in account must still do before the registry opens to it.
VERIFY = "verify"
SET_UP = "set_up"


def two_factor_required(user) -> bool:
    """Whether this account may use the registry only after a second factor (REGISTRY_REQUIRE_2FA)."""
    if not settings.REGISTRY_REQUIRE_2FA or not user.is_authenticated:
        return False
    # `is_staff` as well as the roles: whoever can open the admin, whatever their registry role.
    return user.is_staff or bool(user_roles(user) & {STAFF, RESEARCHER})


def two_factor_enabled(user) -> bool:
    """Whether the account has a confirmed authenticator app (recovery codes alone do not count)."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def two_factor_step_needed(*, user, session: SessionBase) -> str | None:
    """`VERIFY`, `SET_UP` or None: what stands between a logged-in account and the registry.

    Costs no query for an account without two-factor while REGISTRY_REQUIRE_2FA is off: whether a
    login has a code to give was decided once, at login, and kept in the session.
    """
    if not user.is_authenticated:
        return None
    is_verified = getattr(user, "is_verified", None)  # installed by django_otp's OTPMiddleware
    if is_verified is not None and is_verified():
        return None
    if session.get(PENDING_SESSION_KEY):
        return VERIFY
    if two_factor_required(user):
        return SET_UP
    return None


def authenticator_qr_svg(device: TOTPDevice) -> SafeString:
    """The device's otpauth:// link as a QR code in inline SVG: no image file, nothing sent elsewhere."""
    image = qrcode.make(device.config_url, image_factory=SvgPathFillImage, box_size=10, border=4)
    svg = image.to_string(encoding="unicode")
    # Safe to mark: the markup is qrcode's own, and the link is drawn as squares, never written as text.
    # Hidden from screen readers, which get the same key as text beside it.
    return mark_safe(svg.replace("<svg ", '<svg class="qr-code" aria-hidden="true" focusable="false" ', 1))


def authenticator_secret(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app by hand."""
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[start : start + 4] for start in range(0, len(secret), 4))
