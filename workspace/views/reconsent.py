"""Who has not yet re-consented (`/staff/reconsent/`): when a new version of a consent document asks
patients to consent again, the patients of the member's sites who consented under an earlier
version and have not answered this one (docs/consent.md, "Re-consent")."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from patients.models import ConsentPurpose
from patients.selectors import reconsent_purposes
from workspace.selectors import reconsent_documents, reconsent_pending
from workspace.views.access import staff_page

PAGE_SIZE = 50


@staff_page
@require_GET
def reconsent(request):
    documents = reconsent_documents()
    chosen = next((d for d in documents if str(d.pk) == request.GET.get("document")), None)
    document = chosen or (documents[-1] if documents else None)
    page, rows = None, []
    if document is not None:
        page = Paginator(reconsent_pending(user=request.user, document=document), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        labels = dict(ConsentPurpose.choices)
        rows = [{**row, "purposes": [labels[p] for p in reconsent_purposes(row)]} for row in page.object_list]
    context = {"documents": documents, "document": document, "page": page, "rows": rows}
    return render(request, "workspace/reconsent.html", context)
