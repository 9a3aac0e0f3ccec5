"""The two-factor pages under /accounts/two-factor/. Rules are in `services` and `selectors`."""

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticDevice

from registry.errors import ValidationError
from registry.twofactor import selectors, services
from registry.twofactor.forms import CodeForm, SetupCodeForm

TEMPLATES = "registration/two_factor/"
# New recovery codes wait here between the POST that makes them and the one page that shows them.
NEW_CODES_SESSION_KEY = "two_factor_new_recovery_codes"


def _is_verified(user) -> bool:
    return getattr(user, "is_verified", lambda: False)()


def _next_url(request) -> str:
    """Where to go afterwards: the page the person was going to, if it is on this site."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


def _verified_with_app(view):
    """For the pages that change an account's second factor: only after a code in this session."""

    @wraps(view)
    def checked(request, *args, **kwargs):
        if not selectors.two_factor_enabled(request.user):
            return redirect("two_factor:overview")
        if not _is_verified(request.user):
            return redirect(_with_next("two_factor:verify", request.get_full_path()))
        return view(request, *args, **kwargs)

    return login_required(checked)


@require_http_methods(["GET", "HEAD"])
@login_required
def overview(request):
    if request.session.get(selectors.PENDING_SESSION_KEY) and not _is_verified(request.user):
        return redirect(_with_next("two_factor:verify", request.get_full_path()))
    context = {
        "enabled": selectors.two_factor_enabled(request.user),
        "required": selectors.two_factor_required(request.user),
        "codes_left": selectors.recovery_codes_left(request.user),
    }
    return render(request, TEMPLATES + "overview.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def setup(request):
    next_url = _next_url(request)
    if selectors.two_factor_enabled(request.user):
        if not _is_verified(request.user):
            return redirect(_with_next("two_factor:verify", next_url))
        messages.info(request, _("Two-factor authentication is already on for your account."))
        return redirect("two_factor:overview")
    form = SetupCodeForm(request.POST or None)
    if form.is_valid():
        try:
            device, codes = services.two_factor_setup_confirm(user=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            services.two_factor_session_verified(request=request, device=device)
            request.session[NEW_CODES_SESSION_KEY] = codes
            return redirect(_with_next("two_factor:recovery-codes", next_url))
    device = services.two_factor_setup_start(user=request.user)
    context = {
        "form": form,
        "qr_code": selectors.authenticator_qr_svg(device),
        "secret": selectors.authenticator_secret(device),
        "required": selectors.two_factor_required(request.user),
        "next": next_url,
    }
    return render(request, TEMPLATES + "setup.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def verify(request):
    next_url = _next_url(request)
    if _is_verified(request.user) or not selectors.two_factor_enabled(request.user):
        # Nothing to verify (any more): two-factor may have been turned off by the registry team.
        request.session.pop(selectors.PENDING_SESSION_KEY, None)
        return redirect(next_url)
    form = CodeForm(request.POST or None)
    if form.is_valid():
        try:
            device = services.two_factor_verify(user=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            services.two_factor_session_verified(request=request, device=device)
            if isinstance(device, StaticDevice):
                _recovery_code_used(request)
            return redirect(next_url)
    return render(request, TEMPLATES + "verify.html", {"form": form, "next": next_url})


def _recovery_code_used(request) -> None:
    left = selectors.recovery_codes_left(request.user)
    message = ngettext(
        "You used a recovery code; %(left)d is left.",
        "You used a recovery code; %(left)d are left.",
        left,
    ) % {"left": left}
    messages.warning(
        request,
        message + " " + _("If you have lost your phone, turn two-factor off and set it up again on your new phone."),
    )


@require_http_methods(["GET", "HEAD", "POST"])
@_verified_with_app
def recovery_codes(request):
    next_url = _next_url(request)
    if request.method == "POST":
        request.session[NEW_CODES_SESSION_KEY] = services.recovery_codes_regenerate(user=request.user)
        return redirect(_with_next("two_factor:recovery-codes", next_url))
    # Shown once: a reload, or the back button, finds them gone from the session.
    codes = request.session.pop(NEW_CODES_SESSION_KEY, [])
    context = {
        "codes": [f"{code[:4]} {code[4:]}" for code in codes],
        "codes_left": selectors.recovery_codes_left(request.user),
        "next": next_url,
    }
    return render(request, TEMPLATES + "recovery_codes.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@_verified_with_app
def disable(request):
    form = CodeForm(request.POST or None)
    if form.is_valid():
        try:
            # A fresh code, so that a session left open on a shared computer cannot turn it off.
            services.two_factor_verify(user=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            services.two_factor_disable(user=request.user)
            services.two_factor_session_end(request.session)
            messages.success(request, _("Two-factor authentication is off for your account."))
            return redirect("two_factor:overview")
    context = {"form": form, "required": selectors.two_factor_required(request.user)}
    return render(request, TEMPLATES + "disable.html", context)
