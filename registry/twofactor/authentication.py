"""The API's session authentication, closed to a session that has not passed its second factor.

Token requests are not affected: `POST /api/v1/auth/token/` hands a token to an account that uses
two-factor only with a code (`services.token_second_factor_check`).
"""

from django.utils.translation import gettext as _
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied

from registry.twofactor.selectors import VERIFY, two_factor_step_needed

CODE = "two_factor_required"


class TwoFactorSessionAuthentication(SessionAuthentication):
    """DRF's session authentication (with its CSRF check), answering 403 `two_factor_required`
    when the session still owes a code, or belongs to an account that must set up two-factor."""

    def authenticate(self, request):
        authenticated = super().authenticate(request)
        if authenticated is None:
            return None
        step = two_factor_step_needed(user=authenticated[0], session=request._request.session)
        if step == VERIFY:
            raise PermissionDenied(
                _(
                    "This session has not passed two-factor authentication: enter a code from your "
                    "authenticator app at /accounts/two-factor/verify/ first."
                ),
                code=CODE,
            )
        if step is not None:
            raise PermissionDenied(
                _(
                    "This account must use two-factor authentication: set it up at /accounts/two-factor/setup/ "
                    "before using the API."
                ),
                code=CODE,
            )
        return authenticated


class TwoFactorSessionScheme(SessionScheme):
    """Described in the OpenAPI schema as what it is: the session cookie (drf-spectacular)."""

    target_class = "registry.twofactor.authentication.TwoFactorSessionAuthentication"
