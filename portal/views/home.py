"""A patient's own pages: `/me/` (their record, their course, their consent), withdrawing a
consent, and their settings. Thin views (docs/architecture.md): each reads through
portal.selectors or writes through a service, and renders.

Only patients reach these pages: staff and researchers get 403 (they have their own pages), and a
patient's login that has not claimed a record yet gets a page that says so.
"""

import zoneinfo
from collections import defaultdict
from functools import cache, wraps

from django import conf, forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language_bidi, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from patients.models import ConsentPurpose
from patients.selectors import consent_is_active
from patients.services import consent_withdraw, patient_set_time_zone
from portal.chart import progress_chart
from portal.drafts import draft_find
from portal.followup import patient_today
from portal.selectors import patient_for_user, patient_home
from portal.signals import session_time_zone_set
from registry import roles
from registry.errors import ValidationError

# What withdrawing each purpose changes, shown before the patient confirms.
WITHDRAWAL_EFFECTS = {
    ConsentPurpose.RESEARCH: gettext_lazy(
        "Research exports made from today on will leave your data out. Data already given to "
        "researchers in earlier exports cannot be recalled, because it carries no name and cannot be "
        "traced back to you. Your record stays in the registry and you can go on sending reports."
    ),
    ConsentPurpose.RECONTACT: gettext_lazy(
        "The registry team will no longer contact you about the registry's news or about new studies. "
        "Reminders to send your own follow-up reports go on while you take part in the registry."
    ),
    ConsentPurpose.TRIAL_MATCHING: gettext_lazy(
        "Your record will no longer be matched to clinical trials, so you will not hear about trials "
        "you might join through the registry."
    ),
}


def patient_page(view):
    """Login required; only patients go on (others get 403), with the record they claimed."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if roles.PATIENT not in roles.user_roles(request.user):
            raise PermissionDenied
        patient = patient_for_user(request.user)
        if patient is None:
            return render(request, "portal/home/no_record.html")
        return view(request, patient, *args, **kwargs)

    return wrapper


@patient_page
@require_GET
def me(request, patient):
    home = patient_home(patient=patient, today=patient_today(patient))
    context = {
        "home": home,
        "draft": draft_find(patient=patient),
        "chart": progress_chart(home.points, rtl=get_language_bidi()),
        "follow_up_months": conf.settings.REGISTRY_FOLLOW_UP_MONTHS,
        "time_zone": patient.zone.key,
    }
    return render(request, "portal/home/me.html", context)


# --- Withdrawing a consent --------------------------------------------------------------------


class ConsentWithdrawalForm(forms.Form):
    purpose = forms.ChoiceField(choices=ConsentPurpose.choices, widget=forms.HiddenInput)
    # Absent on the first post (from /me/): the page explaining the effect comes first.
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


@patient_page
@require_POST
def consent(request, patient):
    form = ConsentWithdrawalForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Choose a consent purpose from your page."))
    purpose = ConsentPurpose(form.cleaned_data["purpose"])
    named = {"purpose": purpose.label}
    if not consent_is_active(patient=patient, purpose=purpose, on=patient_today(patient)):
        messages.info(request, _("Your consent to “%(purpose)s” is not active; nothing changed.") % named)
        return redirect("portal:me")
    if not form.cleaned_data["confirm"]:
        context = {"purpose": purpose, "effect": WITHDRAWAL_EFFECTS[purpose]}
        return render(request, "portal/home/consent_withdraw.html", context)
    # The withdrawal is dated on the patient's own calendar, and the service checks it (not in
    # the future) on that calendar too.
    with timezone.override(patient.zone):
        try:
            consent_withdraw(patient=patient, purpose=purpose, withdrawn_on=timezone.localdate())
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("portal:me")
    messages.success(request, _("You have withdrawn your consent to “%(purpose)s”.") % named)
    return redirect("portal:me")


# --- Settings ---------------------------------------------------------------------------------

# Zones people live in, by continent or ocean; aliases kept for old systems (US/Eastern, Japan,
# Etc/GMT+5) are left out of the list, though the service accepts them.
TIME_ZONE_AREAS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


@cache
def time_zone_groups() -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """(area, ((zone name, place), ...)) for a grouped select, sorted."""
    groups = defaultdict(list)
    for name in sorted(zoneinfo.available_timezones()):
        area, _slash, place = name.partition("/")
        if area in TIME_ZONE_AREAS and place:
            groups[area].append((name, place.replace("_", " ").replace("/", " / ")))
    return tuple((area, tuple(groups[area])) for area in TIME_ZONE_AREAS if groups[area])


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Your time zone"),
        required=False,
        help_text=gettext_lazy(
            "Dates on your pages and in your reports are judged in this zone, so that “today” is "
            "your today. Choose the city nearest to you with the same time."
        ),
    )

    def __init__(self, *args, current: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        default = _("The registry's own (%(zone)s)") % {"zone": conf.settings.TIME_ZONE}
        choices = [("", default), *time_zone_groups(), ("UTC", "UTC")]
        listed = {name for _area, zones in time_zone_groups() for name, _place in zones} | {"UTC"}
        if current and current not in listed:  # set elsewhere (e.g. "Japan"): keep it selectable
            choices.append((current, current))
        self.fields["time_zone"].choices = choices


@patient_page
@require_http_methods(["GET", "POST"])
def settings(request, patient):
    form = TimeZoneForm(request.POST or None, initial={"time_zone": patient.time_zone}, current=patient.time_zone)
    if request.method == "POST" and form.is_valid():
        try:
            patient = patient_set_time_zone(patient=patient, time_zone=form.cleaned_data["time_zone"])
        except ValidationError as error:
            form.add_error("time_zone", error.message_dict.get("time_zone", error.messages))
        else:
            session_time_zone_set(request.session, patient.time_zone)
            messages.success(request, _("Your time zone is now %(zone)s.") % {"zone": patient.zone.key})
            return redirect("portal:me")
    context = {"form": form, "time_zone": patient.zone.key, "now": timezone.now()}
    return render(request, "portal/home/settings.html", context)
