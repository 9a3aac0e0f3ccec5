"""The follow-up list (`/staff/follow-up/`): enrolled patients whose next assessment is due, the
longest overdue first, for all the member's sites or one of them."""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from registry.dates import today
from workspace.forms.find import FollowUpFilter
from workspace.selectors import follow_up_counts_by_site, follow_up_list, follow_up_rows, patient_rows, patients_page
from workspace.views.access import staff_page

PAGE_SIZE = 50


@staff_page
@require_GET
def follow_up(request):
    form = FollowUpFilter(request.GET, user=request.user)
    day = today()
    site = form.cleaned_data["site"] if form.is_valid() else None
    due = follow_up_list(user=request.user, today=day, site=site)
    page, patients = patients_page(
        due, rows=patient_rows(request.user), number=request.GET.get("page"), per_page=PAGE_SIZE
    )
    context = {
        "form": form,
        "page": page,
        "rows": follow_up_rows(patients, day),
        "by_site": follow_up_counts_by_site(user=request.user, today=day),
        "site": site,
        "today": day,
        "follow_up_months": settings.REGISTRY_FOLLOW_UP_MONTHS,
    }
    return render(request, "workspace/follow_up.html", context)
