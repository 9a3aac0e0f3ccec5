"""Dates on a patient's pages are judged in the patient's own time zone.

The zone is put in the session when the patient logs in or changes it (portal.signals.session_time_zone_set), so
activating it here costs no query. API writes do not rely on this: the assessment services judge a
patient's dates in `Patient.zone` whichever path the data came by.
"""

import zoneinfo

from django.utils import timezone

SESSION_KEY = "portal_time_zone"


class PatientTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
        if not name:
            return self.get_response(request)
        try:
            zone = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)
