"""Finding a patient (`/staff/`): a GET form, so that a search is a link staff can share, and a page
of results from `workspace.selectors.patients_find`. An empty search lists every patient the member
may see."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from registry.dates import today
from workspace.forms.find import FindForm
from workspace.selectors import is_follow_up_overdue, patient_rows, patients_find, patients_page
from workspace.views.access import staff_page

PAGE_SIZE = 50


@staff_page
@require_GET
def find(request):
    # Always bound: every field is optional, so the first visit is an empty (valid) search.
    form = FindForm(request.GET, user=request.user)
    page, rows = None, []
    if form.is_valid():
        day = today()
        found = patients_find(user=request.user, search=form.search(), today=day)
        page, patients = patients_page(
            found, rows=patient_rows(request.user), number=request.GET.get("page"), per_page=PAGE_SIZE
        )
        rows = [(patient, is_follow_up_overdue(patient, day)) for patient in patients]
    return render(request, "workspace/find.html", {"form": form, "page": page, "rows": rows})
