"""What a locked-out login gets (django-axes' AXES_LOCKOUT_CALLABLE).

After REGISTRY_LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, every login
with that pair is refused, the right password included, for REGISTRY_LOGIN_COOLOFF_MINUTES after
the latest attempt. The API gets the registry's JSON error shape, pages get a page that says what
happened and what to do; both answer 429 with Retry-After.
"""

import math

from axes.helpers import get_cool_off, get_failure_limit
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext

from registry.api.middleware import API_PREFIX

STATUS = 429


def lockout_response(request, response=None, credentials=None, *args, **kwargs) -> HttpResponse:
    """The answer to a login refused because of earlier failures (axes passes the original response)."""
    cool_off = get_cool_off(request)
    seconds = max(60, int(cool_off.total_seconds())) if cool_off else 3600
    minutes = math.ceil(seconds / 60)
    if request.path.startswith(API_PREFIX):
        message = ngettext(
            "Too many failed login attempts. Try again in %(minutes)d minute, or reset your password.",
            "Too many failed login attempts. Try again in %(minutes)d minutes, or reset your password.",
            minutes,
        ) % {"minutes": minutes}
        answer = JsonResponse({"error": {"status": STATUS, "code": "locked_out", "message": message}}, status=STATUS)
    else:
        context = {"minutes": minutes, "failure_limit": get_failure_limit(request, credentials)}
        answer = render(request, "registration/locked_out.html", context, status=STATUS)
    answer["Retry-After"] = str(seconds)
    return answer


# Longer than any real username (Django's are at most 150 characters): the rest is cut before
# django-axes stores the attempt, whose column is 255 long. Without it, a 100,000-character
# username sent to any login path failed the request with a database error instead of a refusal.
USERNAME_KEPT = 150


def username_of_attempt(request, credentials=None) -> str | None:
    """The username a login attempt names, as django-axes counts it (AXES_USERNAME_CALLABLE)."""
    source = credentials or getattr(request, "data", request.POST)
    username = source.get("username")
    return username[:USERNAME_KEPT] if isinstance(username, str) else username
