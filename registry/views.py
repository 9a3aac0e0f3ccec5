from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from registry.roles import PATIENT, RESEARCHER, STAFF, user_roles


@require_GET
def health(request):
    """Liveness for load balancers and the compose healthcheck: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_GET
def home(request):
    """`/`: each role's own start page; anyone not logged in goes to the login page."""
    roles = user_roles(request.user)
    if not roles and not request.user.is_authenticated:
        return redirect_to_login("/")
    if STAFF in roles:
        return redirect("workspace:find")
    if PATIENT in roles:
        return redirect("portal:me")
    if RESEARCHER in roles:
        return redirect("research:project-list")
    raise PermissionDenied("This account has no role in the registry yet; ask the registry team.")
