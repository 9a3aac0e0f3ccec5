"""`/staff/import/`: check and import a legacy spreadsheet (docs/import.md). A thin view over
`workspace.imports.spreadsheet_import`, the service the API uses too.

"Check the file" runs the import and rolls it back, showing every problem by line and column or a
summary of what would be created. A file that checks clean is kept in the member's session (server
side, with its SHA-256), so "Import these records" imports exactly the file that was checked without
choosing it again; the copy is dropped by the import, by the next check, or with the session. The
import checks everything again anyway (the registry may have changed in between), all or nothing.
"""

import hashlib

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from patients.models import Patient
from workspace.forms.imports import ImportUploadForm
from workspace.imports import (
    ASSESSMENT_COLUMNS,
    DIAGNOSIS_COLUMNS,
    GENOTYPE_COLUMNS,
    PATIENT_COLUMNS,
    REQUIRED_COLUMNS,
    ImportReport,
    spreadsheet_import,
)
from workspace.views.access import staff_page

CHECKED_KEY = "workspace_import_checked"  # the file that checked clean: name, digest, text
DONE_KEY = "workspace_import_done"  # the last import's counts and patients, shown once after the redirect
CREATED_SHOWN = 200  # patients listed after an import; the counts give the whole


@staff_page
@require_http_methods(["GET", "POST"])
def import_upload(request):
    if request.method == "GET":
        return _render(request, ImportUploadForm(), done=request.session.pop(DONE_KEY, None))
    if request.POST.get("action") == "import-checked":
        return _import_checked(request)
    form = ImportUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(request, form)
    upload = form.cleaned_data["file"]
    content = upload.read()
    dry_run = request.POST.get("action") != "import"
    report = spreadsheet_import(content=content, user=request.user, dry_run=dry_run)
    request.session.pop(CHECKED_KEY, None)
    if not dry_run and report.ok:
        return _imported(request, report)
    checked = None
    if dry_run and report.ok:
        checked = {"name": upload.name, "digest": _digest(content), "text": content.decode("utf-8-sig")}
        request.session[CHECKED_KEY] = checked
    return _render(request, ImportUploadForm(), report=report, checked=checked)


def _import_checked(request):
    checked = request.session.get(CHECKED_KEY)
    if not checked or checked["digest"] != request.POST.get("digest"):
        messages.error(request, _("The checked file is no longer kept. Choose it again and check it."))
        return redirect("workspace:import")
    report = spreadsheet_import(content=checked["text"].encode(), user=request.user, dry_run=False)
    request.session.pop(CHECKED_KEY, None)
    if report.ok:
        return _imported(request, report)
    # The registry changed since the check (someone entered one of these patients meanwhile).
    return _render(request, ImportUploadForm(), report=report)


def _imported(request, report: ImportReport):
    request.session[DONE_KEY] = {
        "counts": report.counts(),
        "created": [str(uuid) for uuid in report.created[:CREATED_SHOWN]],
    }
    message = ngettext(
        "Imported %(patients)d patient with %(assessments)d assessments.",
        "Imported %(patients)d patients with %(assessments)d assessments.",
        report.patients,
    )
    messages.success(request, message % {"patients": report.patients, "assessments": report.assessments})
    return redirect("workspace:import")


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _render(request, form, *, report=None, checked=None, done=None):
    created = []
    if done:
        # One query, however many were imported; listed by family name as on the find page.
        created = list(
            Patient.objects.filter(uuid__in=done["created"])
            .select_related("identity", "site")
            .order_by("identity__family_name", "identity__given_name", "id")
        )
    context = {
        "form": form,
        "report": report,
        "checked": checked,
        "done": done,
        "created": created,
        "required_columns": REQUIRED_COLUMNS,
        "column_parts": [
            (_("Patient"), list(PATIENT_COLUMNS)),
            (_("Diagnosis"), list(DIAGNOSIS_COLUMNS)),
            (_("Genotype"), list(GENOTYPE_COLUMNS)),
            (_("Assessment (one visit per line)"), list(ASSESSMENT_COLUMNS)),
        ],
    }
    return render(request, "workspace/import.html", context)
