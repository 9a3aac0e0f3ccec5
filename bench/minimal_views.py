"""The baseline for `bench/api_bench.py`: the least Django can do for the same requests.

`/bench/minimal/assessments/` answers the same list and create requests as `/api/v1/assessments/`
with no DRF: a plain `JsonResponse` of `.values()` for the same 50 rows (same order, same filter),
and a plain `Assessment.objects.create` from the JSON body (no validation, no computed fields, no
milestone derivation), answering with the stored row as the API does. Authentication is knox's token
check (the row found by the token's first characters, its digest compared, its expiry checked), in one
query (token joined to its user), so both sides pay for a token lookup. The rest of the site
(`config.urls`) is included unchanged, so one gunicorn serves both.

Used only through `bench/settings.py` (ROOT_URLCONF); never part of the deployed site.
"""

import json
from hmac import compare_digest

from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from knox.crypto import hash_token

from assessments.models import Assessment
from assessments.services import ASSESSMENT_FIELDS
from patients.models import Patient
from registry.tokens import TOKEN_KEY_LENGTH, AuthToken

LIST_FIELDS = (
    "uuid",
    "version",
    "created_at",
    "updated_at",
    "patient__uuid",
    *ASSESSMENT_FIELDS,
    "ibmfrs_total",
    "hhd_upper_composite_kg",
    "hhd_lower_composite_kg",
    "review_flags",
)
MAX_PAGE_SIZE = 500


def _token_user(request):
    """The active user of an `Authorization: Token <key>` header, in one query; else None."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "token" or not key.strip():
        return None
    key = key.strip()
    digest = hash_token(key)
    for token in AuthToken.objects.select_related("user").filter(token_key=key[:TOKEN_KEY_LENGTH]):
        if compare_digest(digest, token.digest) and token.expiry > timezone.now() and token.user.is_active:
            return token.user
    return None


def _list(request):
    queryset = Assessment.objects.order_by("patient_id", "assessment_date", "id")
    patient = request.GET.get("patient")
    if patient:
        queryset = queryset.filter(patient__uuid=patient)
    try:
        size = max(1, min(int(request.GET.get("page_size", 50)), MAX_PAGE_SIZE))
    except ValueError:
        size = 50
    return JsonResponse({"results": list(queryset.values(*LIST_FIELDS)[:size])})


def _create(request, user):
    try:
        body = json.loads(request.body)
        patient_id = Patient.objects.filter(uuid=body["patient"]).values_list("id", flat=True).first()
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"detail": "Send a JSON object with a patient UUID."}, status=400)
    if patient_id is None:
        return JsonResponse({"detail": "No such patient."}, status=400)
    values = {name: body[name] for name in ASSESSMENT_FIELDS if name in body}
    assessment = Assessment.objects.create(patient_id=patient_id, entered_by=user, **values)
    # Answer with the stored row, as the API does.
    row = Assessment.objects.filter(pk=assessment.pk).values(*LIST_FIELDS).get()
    return JsonResponse(row, status=201)


@csrf_exempt
def assessments(request):
    user = _token_user(request)
    if user is None:
        return JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
    if request.method == "GET":
        return _list(request)
    if request.method == "POST":
        return _create(request, user)
    return HttpResponseNotAllowed(["GET", "POST"])


urlpatterns = [
    path("bench/minimal/assessments/", assessments, name="bench-minimal-assessments"),
    path("", include("config.urls")),
]
