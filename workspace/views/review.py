"""The data-quality queue (docs/workspace.md, "Data-quality queue"): open review flags of the
patients the member may see, and a decision with a note on each. The queue and the decisions are
workspace.review's; these views only read the request and render."""

from __future__ import annotations

import re

from django.contrib import messages
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from assessments.models import Assessment, Milestone, MilestoneSource
from patients.access import limit_to_visible_patients
from registry.errors import RecordGoneError, ValidationError
from workspace import review as review_service
from workspace.forms.review import QueueFilterForm, ReviewDecisionForm
from workspace.selectors import sites_for
from workspace.views.access import staff_page

# Each decision form on a page has its own prefix, so that several can share a page with unique ids.
PREFIX = re.compile(r"^(q|flag)\d{1,3}$")


@staff_page
@require_GET
def review_queue(request):
    filters = QueueFilterForm(request.GET or None, sites=sites_for(request.user))
    chosen = filters.filters()
    try:
        number = int(request.GET.get("page", 1))
    except ValueError:
        number = 1
    queue = review_service.review_queue(user=request.user, group=chosen["group"], site=chosen["site"], page=number)
    rows = [
        {
            "flag": flag,
            "form": ReviewDecisionForm(prefix=f"q{index}", initial={"code": flag.code, "field": flag.field}),
            "prefix": f"q{index}",
            "resolve_url": reverse("workspace:review-resolve", kwargs={"kind": flag.kind, "record": flag.record_uuid}),
        }
        for index, flag in enumerate(queue.flags)
    ]
    context = {
        "filters": filters,
        "queue": queue,
        "rows": rows,
        "query": _query_without_page(request.GET),
        "here": request.get_full_path(),
    }
    return render(request, "workspace/review_queue.html", context)


def _query_without_page(query: QueryDict) -> str:
    kept = query.copy()
    kept.pop("page", None)
    return kept.urlencode()


@staff_page
@require_http_methods(["GET", "POST"])
def review_resolve(request, kind, record):
    """One record's review flags, each with its decision or a form for one; the form posts here."""
    model = review_service.TARGET_MODELS.get(kind)
    if model is None:
        raise Http404
    queryset = limit_to_visible_patients(model.objects.select_related("patient", "patient__identity"), request.user)
    target = queryset.filter(uuid=record).first()
    if target is None:
        raise Http404
    back = _safe_next(request)
    posted = None
    if request.method == "POST":
        prefix = request.POST.get("form_prefix", "")
        if not PREFIX.match(prefix):
            prefix = "flag0"
        posted = ReviewDecisionForm(request.POST, prefix=prefix)
        if posted.is_valid():
            data = posted.cleaned_data
            try:
                review_service.review_flag_resolve(
                    record=target,
                    code=data["code"],
                    field=data["field"],
                    outcome=data["outcome"],
                    note=data["note"],
                    decided_by=request.user,
                    replace=data["replace"],
                )
            except ValidationError as error:
                posted.service_errors(error)
            except RecordGoneError:
                messages.info(request, _("This record no longer exists; nothing is left to resolve."))
                return redirect(back)
            else:
                messages.success(request, _("The decision was recorded."))
                return redirect(back)
    flags = review_service.record_flags(target)
    for index, flag in enumerate(flags):
        flag["prefix"] = f"flag{index}"
        flag["form"] = _slot_form(posted, flag, index)
    context = {
        "record": target,
        "record_label": _record_label(target),
        "edit_url": _edit_url(target),
        "kind": kind,
        "patient": target.patient,
        "flags": flags,
        "next": back,
        "has_errors": posted is not None and bool(posted.errors),
    }
    return render(request, "workspace/review_resolve.html", context, status=400 if context["has_errors"] else 200)


def _record_label(record) -> str:
    if isinstance(record, Assessment):
        return _("Assessment of %(date)s") % {"date": record.assessment_date}
    if isinstance(record, Milestone):
        return _("Milestone: %(kind)s") % {"kind": record.get_kind_display()}
    return _("Diagnosis")


def _edit_url(record) -> str:
    """Where the record is corrected (a correction recomputes its flags), when it can be edited."""
    if isinstance(record, Assessment):
        return reverse("workspace:assessment-edit", kwargs={"record": record.uuid})
    if isinstance(record, Milestone):
        if record.source != MilestoneSource.REPORTED:
            return ""  # derived milestones follow the visits
        return reverse("workspace:milestone-edit", kwargs={"record": record.uuid})
    return reverse("workspace:diagnosis-edit", kwargs={"patient": record.patient.uuid})


def _slot_form(posted, flag: dict, index: int) -> ReviewDecisionForm:
    """The form shown for one flag: the one sent, with its messages and what was typed, if it was for
    this flag (re-bound to this slot's prefix, the queue's may differ); a fresh one otherwise."""
    prefix = f"flag{index}"
    initial = {"code": flag["code"], "field": flag["field"], "replace": flag["decision"] is not None}
    if posted is None or not posted.errors:
        return ReviewDecisionForm(prefix=prefix, initial=initial)
    sent = {name: posted.data.get(posted.add_prefix(name), "") for name in posted.fields}
    if (sent["code"], sent["field"]) != (flag["code"], flag["field"]):
        return ReviewDecisionForm(prefix=prefix, initial=initial)
    form = ReviewDecisionForm({f"{prefix}-{name}": value for name, value in sent.items()}, prefix=prefix)
    form.is_valid()
    for name, errors in posted.errors.items():
        for error in errors:
            if error not in form.errors.get(name, []):
                form.add_error(None if name == "__all__" else name, error)
    return form


def _safe_next(request) -> str:
    """Where to go after a decision: back to the queue page it was made from, or the queue."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("workspace:review-queue")
