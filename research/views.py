"""Server-rendered research pages: the projects a user may see, the cohort form that requests an
export, and the exports with their progress. Thin views (docs/architecture.md): each parses its
input, calls one selector or service, and renders."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from registry import roles
from registry.errors import ValidationError
from research.forms import CohortForm
from research.models import ExportDownload, ExportStatus
from research.selectors import exports_visible_to, projects_visible_to
from research.services import export_download_link, export_request

IN_PROGRESS = (ExportStatus.QUEUED, ExportStatus.RUNNING)


def research_page(view):
    """Login required; then only staff and researchers may go on (a patient gets 403)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not roles.user_roles(request.user) & {roles.STAFF, roles.RESEARCHER}:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


@research_page
@require_GET
def project_list(request):
    projects = projects_visible_to(request.user).annotate(member_count=Count("members", distinct=True))
    return render(request, "research/project_list.html", {"projects": projects})


@research_page
@require_http_methods(["GET", "POST"])
def project_detail(request, pk: int):
    project = get_object_or_404(projects_visible_to(request.user), pk=pk)
    form = CohortForm(request.POST or None, ancestry_allowed=project.ancestry_allowed)
    if request.method == "POST" and form.is_valid():
        try:
            export = export_request(
                project=project,
                requested_by=request.user,
                cohort=form.cohort(),
                include_ancestry=form.cleaned_data.get("include_ancestry", False),
            )
        except ValidationError as error:
            form.add_service_error(error)
        else:
            messages.success(
                request, _("Export #%(id)s was requested; it is built in the background.") % {"id": export.pk}
            )
            return redirect("research:export-list")
    return render(request, "research/project_detail.html", {"project": project, "form": form})


@research_page
@require_GET
def export_list(request):
    user = request.user
    is_staff = roles.is_staff_member(user)
    exports = exports_visible_to(user).select_related("project", "requested_by")
    if is_staff:
        exports = exports.prefetch_related(
            Prefetch("downloads", queryset=ExportDownload.objects.select_related("user"))
        )
    # The service gives a signed link only to the requester of a finished export, None otherwise.
    rows = [{"export": export, "download_link": export_download_link(export=export, user=user)} for export in exports]
    context = {
        "rows": rows,
        "is_staff": is_staff,
        "in_progress": any(row["export"].status in IN_PROGRESS for row in rows),
        "auto_refresh": request.GET.get("refresh") != "off",
    }
    return render(request, "research/export_list.html", context)
