"""A patient's self-reports (docs/patient-reports.md): a new report in short steps, one sent report,
and its correction within the window. Thin views: the step forms check shapes, portal.drafts keeps
the answers between steps, and the assessment services apply the rules when the report is sent.

Nothing typed is lost: every step is saved to the draft in the database (it survives a closed
browser and another device); a step sent after the session ended is kept in the new session until
the patient logs in again; a report the rules refuse takes the patient back to the step concerned,
with the message and their answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from assessments import services
from assessments.models import Assessment, Source
from patients.models import Patient
from portal import drafts
from portal.forms.reports import (
    ANSWER_STEPS,
    STEP_BY_SLUG,
    STEPS,
    Step,
    answers_of,
    step_number,
    steps_of_fields,
    summary,
)
from registry import roles
from registry.errors import RecordGoneError, StaleVersionError, ValidationError

# Answers POSTed after the session ended, by the path they were sent to, until the patient is back.
STASH_KEY = "portal_report_stash"
# A refused report's messages, by the path of the step they concern, for that step to show.
ERRORS_KEY = "portal_report_errors"
# Each step form carries its patient's id, signed: answers kept from an ended session are given back
# only to the same patient (on a shared computer someone else may log in next).
OWNER_FIELD = "report_owner"
OWNER_SALT = "portal.reports.owner"
# Bounds on what a stash keeps: a patient's answers fit well within them; the session row stays small.
# Twice the longest valid answer (the comment), so a cut value is still one the form refuses.
STASH_VALUE_MAX_CHARS = 2 * services.COMMENT_MAX_LENGTH
STASH_VALUES_PER_FIELD = 20


def _owner_token(patient: Patient) -> str:
    return signing.dumps(str(patient.uuid), salt=OWNER_SALT)


def _is_owner(token, patient: Patient) -> bool:
    try:
        return signing.loads(str(token), salt=OWNER_SALT) == str(patient.uuid)
    except signing.BadSignature:
        return False


def _stash_answers(request) -> None:
    """Keep a step's answers, sent after the session ended, in the new session until login."""
    kept = {
        name: [value[:STASH_VALUE_MAX_CHARS] for value in values[:STASH_VALUES_PER_FIELD]]
        for name, values in request.POST.lists()
        if name in steps_of_fields() or name == OWNER_FIELD  # never the CSRF token, nor anything else
    }
    # Only the latest: the patient is on one step when the session ends, and the session stays small.
    request.session[STASH_KEY] = {request.path: kept}


def report_page(*, keeps_answers: bool = False):
    """Only a patient with a claimed record goes on (staff and researchers get 403); anyone not
    logged in is sent to log in, and with `keeps_answers` a step they sent is kept for after it."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                if keeps_answers and request.method == "POST" and kwargs.get("step") in STEP_BY_SLUG:
                    _stash_answers(request)
                    messages.info(
                        request, _("Your session had ended. Log in again to carry on: your answers are kept.")
                    )
                return redirect_to_login(request.path)
            if roles.PATIENT not in roles.user_roles(request.user):
                raise PermissionDenied
            patient = Patient.objects.filter(account=request.user).first()
            if patient is None:
                return redirect("portal:me")  # says that the login has no record yet
            return view(request, patient, *args, **kwargs)

        return wrapper

    return decorate


@dataclass
class ReportFlow:
    """A new report (`report` is None) or the correction of a sent one, and where its pages are."""

    patient: Patient
    report: Assessment | None = None

    def step_url(self, step: Step) -> str:
        if self.report is None:
            return reverse("portal:report-new-step", kwargs={"step": step.slug})
        return reverse("portal:report-correct-step", kwargs={"report": self.report.uuid, "step": step.slug})

    def answers(self) -> dict:
        return drafts.draft_answers(patient=self.patient, assessment=self.report)

    def draft(self):
        return drafts.draft_find(patient=self.patient, assessment=self.report)

    @property
    def today(self):
        return timezone.localdate(timezone=self.patient.zone)

    @property
    def heading(self) -> str:
        if self.report is None:
            return _("New report")
        return _("Correct your report of %(date)s") % {
            "date": formats.date_format(self.report.assessment_date, "DATE_FORMAT")
        }

    def form(self, step: Step, **kwargs):
        return step.form_class(today=self.today, **kwargs)


# --- New reports ---------------------------------------------------------------------------------


@report_page()
@require_GET
def new_report(request, patient):
    """Start a report, or resume the draft at the step it was left at (on this device or another)."""
    return redirect(_resume_url(ReportFlow(patient)))


@report_page(keeps_answers=True)
@require_http_methods(["GET", "POST"])
def new_report_step(request, patient, step):
    return _step_page(request, ReportFlow(patient), step)


# --- Sent reports and their correction -------------------------------------------------------------


@report_page()
@require_GET
def report_detail(request, patient, report):
    assessment = get_object_or_404(Assessment, uuid=report, patient=patient)
    refusal = services.report_correction_refusal(assessment=assessment, patient=patient)
    context = {
        "report": assessment,
        "sections": summary(drafts.report_answers(assessment)),
        "is_self_report": assessment.source == Source.PATIENT,
        "refusal": refusal,
        "deadline": services.report_correction_deadline(assessment),
        "zone": patient.zone,
        "correction_started": refusal is None and drafts.draft_find(patient=patient, assessment=assessment),
    }
    return render(request, "portal/reports/detail.html", context)


def _correction(request, patient, report) -> tuple[ReportFlow | None, object]:
    """The correction flow of the patient's own report, or a redirect to it saying why not."""
    assessment = get_object_or_404(Assessment, uuid=report, patient=patient)
    refusal = services.report_correction_refusal(assessment=assessment, patient=patient)
    if refusal:
        messages.error(request, refusal)
        return None, redirect("portal:report-detail", report=assessment.uuid)
    return ReportFlow(patient, assessment), None


@report_page()
@require_GET
def correct_report(request, patient, report):
    flow, refused = _correction(request, patient, report)
    return refused or redirect(_resume_url(flow))


@report_page(keeps_answers=True)
@require_http_methods(["GET", "POST"])
def correct_report_step(request, patient, report, step):
    flow, refused = _correction(request, patient, report)
    return refused or _step_page(request, flow, step)


# --- The steps -------------------------------------------------------------------------------------


def _resume_url(flow: ReportFlow) -> str:
    draft = flow.draft()
    step = STEP_BY_SLUG.get(draft.step) if draft is not None else None
    return flow.step_url(step or STEPS[0])


def _step_page(request, flow: ReportFlow, slug: str):
    step = STEP_BY_SLUG.get(slug)
    if step is None:
        raise Http404
    if step is STEPS[-1]:
        return _check_page(request, flow, step)
    if request.method == "POST":
        form = flow.form(step, data=request.POST)
        index = STEPS.index(step)
        going_back = request.POST.get("action") == "back"
        if form.is_valid():
            target = STEPS[max(index - 1, 0)] if going_back else STEPS[index + 1]
            drafts.draft_save_step(
                patient=flow.patient, assessment=flow.report, answers=answers_of(form), resume_at=target.slug
            )
            return redirect(flow.step_url(target))
        # Everything typed is shown again, with what to fix; going back waits until it is fixed.
        return _render_step(request, flow, step, form)
    form = _kept_answers_form(request, flow, step) or _refused_answers_form(request, flow, step)
    return _render_step(request, flow, step, form or flow.form(step, initial=flow.answers()))


def _kept_answers_form(request, flow: ReportFlow, step: Step):
    """The step as the patient sent it when their session had ended, now saved to the draft."""
    stash = request.session.get(STASH_KEY) or {}
    kept = stash.pop(request.path, None)
    if kept is None:
        return None
    request.session[STASH_KEY] = stash
    if not _is_owner((kept.get(OWNER_FIELD) or [""])[0], flow.patient):
        return None
    data = QueryDict(mutable=True)
    for name, values in kept.items():
        data.setlist(name, values)
    form = flow.form(step, data=data)
    if form.is_valid():
        drafts.draft_save_step(
            patient=flow.patient, assessment=flow.report, answers=answers_of(form), resume_at=step.slug
        )
    messages.info(
        request, _("Welcome back. Your answers from before your session ended are below: check them and carry on.")
    )
    return form


def _refused_answers_form(request, flow: ReportFlow, step: Step):
    """The step as saved, with the messages of the report the rules refused (see `_send`)."""
    errors = _pop_errors(request, request.path)
    if errors is None:
        return None
    form = flow.form(step, data=flow.answers())
    form.is_valid()  # the form's own messages, if the saved answers no longer pass
    for name, field_messages in errors.items():
        for message in field_messages:
            form.add_error(name if name in form.fields else None, message)
    return form


def _pop_errors(request, path: str) -> dict | None:
    stored = request.session.get(ERRORS_KEY) or {}
    errors = stored.pop(path, None)
    if errors is not None:
        request.session[ERRORS_KEY] = stored
    return errors


def _keep_errors(request, path: str, errors: dict) -> None:
    request.session[ERRORS_KEY] = {path: errors}


def _render_step(request, flow: ReportFlow, step: Step, form):
    index = STEPS.index(step)
    context = {
        "flow": flow,
        "step": step,
        "form": form,
        **_progress(flow, step),
        "previous_step": STEPS[index - 1] if index else None,
        "owner_token": _owner_token(flow.patient),
    }
    return render(request, step.template, context)


def _progress(flow: ReportFlow, step: Step) -> dict:
    return {
        "steps": [{"step": each, "number": step_number(each), "current": each is step} for each in STEPS],
        "number": step_number(step),
        "total": len(STEPS),
    }


# --- Check and send --------------------------------------------------------------------------------


def _check_page(request, flow: ReportFlow, step: Step):
    if request.method == "POST":
        return _send(request, flow)
    errors = _pop_errors(request, request.path) or {}
    context = {
        "flow": flow,
        "step": step,
        **_progress(flow, step),
        "previous_url": flow.step_url(STEPS[-2]),
        "sections": [(section, rows, flow.step_url(section)) for section, rows in summary(flow.answers())],
        "errors": [message for field_messages in errors.values() for message in field_messages],
        "has_draft": flow.draft() is not None,
    }
    return render(request, step.template, context)


def _send(request, flow: ReportFlow):
    """Send the report (or the correction) the draft holds; on a refusal, back to where it is fixed."""
    if flow.draft() is None:
        if flow.report is None:
            return redirect(flow.step_url(STEPS[0]))
        messages.info(request, _("You have not changed anything in this report."))
        return redirect("portal:report-detail", report=flow.report.uuid)
    answers, data = flow.answers(), {}
    for step in ANSWER_STEPS:
        form = flow.form(step, data=answers)
        if not form.is_valid():
            _keep_errors(request, flow.step_url(step), {})  # the step shows its form's own messages
            return redirect(flow.step_url(step))
        data |= answers_of(form)
    try:
        report = drafts.draft_submit(patient=flow.patient, assessment=flow.report, data=data, user=request.user)
    except ValidationError as error:
        return _show_refusal(request, flow, error)
    except StaleVersionError as stale:
        drafts.draft_correction_restart(patient=flow.patient, assessment=flow.report, version=stale.current_version)
        messages.warning(
            request,
            _(
                "The registry team changed this report while you were correcting it. Your answers are kept: "
                "check them against the report as it is now, and send again."
            ),
        )
        return redirect(flow.step_url(STEPS[-1]))
    except services.ReportCorrectionRefused as refused:
        messages.error(request, str(refused))
        return redirect("portal:report-detail", report=flow.report.uuid)
    except (drafts.DraftGone, RecordGoneError):
        messages.info(request, _("This report has already been sent, or no longer exists."))
        return redirect("portal:me")
    if flow.report is None:
        messages.success(request, _("Thank you: your report was sent to the registry."))
    else:
        messages.success(request, _("Thank you: your correction was saved."))
    return redirect("portal:report-detail", report=report.uuid)


def _show_refusal(request, flow: ReportFlow, error: ValidationError):
    """Take the patient to the first step whose answers the rules refused, with the messages there;
    messages about no question they answered are shown on the check page."""
    by_field = error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}
    by_step: dict[str, dict] = {}
    general = []
    for name, field_messages in by_field.items():
        step = steps_of_fields().get(name)
        if step is None:
            general.extend(field_messages)
        else:
            by_step.setdefault(step.slug, {})[name] = field_messages
    if not by_step:
        _keep_errors(request, flow.step_url(STEPS[-1]), {NON_FIELD_ERRORS: general})
        return redirect(flow.step_url(STEPS[-1]))
    first = min((STEP_BY_SLUG[slug] for slug in by_step), key=step_number)
    errors = by_step[first.slug] | ({NON_FIELD_ERRORS: general} if general else {})
    _keep_errors(request, flow.step_url(first), errors)
    messages.error(request, _("The report was not sent yet: please check the answers marked below."))
    return redirect(flow.step_url(first))
