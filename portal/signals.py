"""The patient's time zone in the session, so that `portal.middleware.PatientTimeZoneMiddleware`
can judge every page's dates in it without a query per request.

Put there at login (`patient_time_zone_on_login`, connected in `PortalConfig.ready`) and when the
patient changes it on the settings page. The session only carries it: the stored value is
`Patient.time_zone`, and services judge a patient's dates in `Patient.zone` whatever the session says.
"""

from django.contrib.sessions.backends.base import SessionBase

from patients.models import Patient
from portal.middleware import SESSION_KEY


def session_time_zone_set(session: SessionBase, time_zone: str) -> None:
    """Remember a zone name in the session; blank forgets it (the site's own zone applies)."""
    if time_zone:
        session[SESSION_KEY] = time_zone
    else:
        session.pop(SESSION_KEY, None)


def patient_time_zone_on_login(sender, request, user, **kwargs) -> None:
    """`user_logged_in` receiver: the zone of the record this user claimed, if any."""
    session = getattr(request, "session", None)
    if session is None:  # a login without a request (e.g. a token exchange) has no session to fill
        return
    time_zone = Patient.objects.filter(account=user).values_list("time_zone", flat=True).first()
    session_time_zone_set(session, time_zone or "")
