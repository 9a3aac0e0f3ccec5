"""The account pages: accepting an invitation (consent, password, claiming the record), asking for
a new link, and self-registration when the registry allows it. Thin views: each reads its form,
calls one service of portal.invitations, and renders."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from portal import invitations
from portal.forms.accounts import InvitationAcceptForm, InvitationRenewForm, RegistrationForm
from registry.errors import ValidationError

# django-axes comes first in AUTHENTICATION_BACKENDS but logs no one in; a new account is the
# model backend's.
LOGIN_BACKEND = "django.contrib.auth.backends.ModelBackend"


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    lookup = invitations.invitation_for_token(token)
    if lookup.reason:
        return _invitation_unusable(request, lookup.reason)
    invitation = lookup.invitation
    document = invitations.consent_document_current(patient=invitation.patient)
    form = InvitationAcceptForm(_posted(request), document=document, initial={"username": invitation.email})
    if request.method == "POST" and form.is_valid():
        try:
            user = invitations.invitation_accept(token=token, **form.account_data())
        except invitations.InvitationUnusable as error:  # used by another tab or device meanwhile
            return _invitation_unusable(request, error.reason)
        except ValidationError as error:
            form.add_service_error(error)
        else:
            login(request, user, backend=LOGIN_BACKEND)
            messages.success(request, _("Your account is ready. This is your record in the registry."))
            return redirect("portal:me")
    context = {"form": form, "invitation": invitation, "document": document}
    return render(request, "portal/accounts/invitation_accept.html", context)


def _invitation_unusable(request, reason: str):
    """Say why the link does not work, with the form that asks for a new one."""
    context = {"reason": reason, "renew_form": InvitationRenewForm(), "days": settings.REGISTRY_INVITATION_DAYS}
    status = 404 if reason == invitations.Unusable.UNKNOWN else 410
    return render(request, "portal/accounts/invitation_unusable.html", context, status=status)


@require_http_methods(["GET", "POST"])
def invitation_renew(request):
    form = InvitationRenewForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        invitations.invitation_renew_request(
            email=form.cleaned_data["email"], request_base_url=request.build_absolute_uri("/")
        )
        # The same page whether or not the address is known: it must not tell who is registered.
        context = {"email": form.cleaned_data["email"], "days": settings.REGISTRY_INVITATION_DAYS}
        return render(request, "portal/accounts/invitation_renew_done.html", context)
    return render(request, "portal/accounts/invitation_renew.html", {"form": form})


@never_cache
@require_http_methods(["GET", "POST"])
def register(request):
    if not settings.REGISTRY_SELF_REGISTRATION:
        raise Http404("Self-registration is not open in this registry.")
    if request.user.is_authenticated:
        return redirect("home")
    document = invitations.consent_document_current()
    form = RegistrationForm(_posted(request), document=document)
    if request.method == "POST" and form.is_valid():
        try:
            _patient, user = invitations.patient_self_register(
                identity=form.identity(), country=form.cleaned_data["country"], **form.account_data()
            )
        except ValidationError as error:
            form.add_service_error(error)
        else:
            login(request, user, backend=LOGIN_BACKEND)
            messages.success(
                request,
                _("Thank you for registering. The registry team will check your details and confirm your record."),
            )
            return redirect("portal:me")
    return render(request, "portal/accounts/register.html", {"form": form, "document": document})


def _posted(request):
    """The form data of a POST (even an empty one, which then shows what is missing); None for a GET."""
    return request.POST if request.method == "POST" else None
