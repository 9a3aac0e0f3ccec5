"""A logged-in account that still owes its second factor sees no page but the ones that lead there."""

from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse

from registry.api.middleware import API_PREFIX
from registry.twofactor.selectors import VERIFY, two_factor_step_needed

# Pages open before the second factor: the two-factor pages themselves, leaving (logout, on the
# site or the admin), getting in again (login, password reset by email), and the language chooser.
OPEN_NAMESPACE = "two_factor"
OPEN_URL_NAMES = frozenset(
    {
        "login",
        "logout",
        "password_reset",
        "password_reset_done",
        "password_reset_confirm",
        "password_reset_complete",
        "set_language",
        "health",
    }
)


class TwoFactorRequiredMiddleware:
    """After django_otp's OTPMiddleware. Sends such an account to the verify page, or to set up
    two-factor when its role requires it (REGISTRY_REQUIRE_2FA), then back where it was going.

    Paths under /api/ are left to the API, which answers 403 in its own JSON shape
    (`registry.twofactor.authentication`). Static files never get here (WhiteNoise answers first).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX):
            step = two_factor_step_needed(user=request.user, session=request.session)
            if step is not None and not _open_before_second_factor(request.path_info):
                page = reverse("two_factor:verify" if step == VERIFY else "two_factor:setup")
                return HttpResponseRedirect(f"{page}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


def _open_before_second_factor(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.namespace == OPEN_NAMESPACE or match.url_name in OPEN_URL_NAMES
