"""Which patients a user may see: sites as data-access groups (docs/sites.md).

A staff member is foundation-wide, or limited to one or more sites by a `StaffSiteScope`; a
site-limited member sees and changes only those sites' patients, on every path (API, pages,
search, import, identifiable lists). Patients see their own record only; researchers none.
Every view, selector and service that lists or fetches patients for a user goes through here.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from patients.models import Patient, StaffSiteScope
from registry.roles import PATIENT, STAFF, user_roles

_NO_SCOPE = object()


def staff_site_ids(user) -> frozenset[int] | None:
    """The sites a staff member is limited to, or None when they are foundation-wide.

    Read once per request and kept on the user object, like the roles.
    """
    cached = getattr(user, "_registry_site_ids", _NO_SCOPE)
    if cached is _NO_SCOPE:
        scope = StaffSiteScope.objects.filter(user=user).prefetch_related("sites").first()
        cached = None if scope is None else frozenset(site.pk for site in scope.sites.all())
        user._registry_site_ids = cached
    return cached


def is_foundation_wide(user) -> bool:
    """Staff who see every patient (the only ones who may use the admin and the identifiable lists of all sites)."""
    return STAFF in user_roles(user) and staff_site_ids(user) is None


def visible_patients_q(user, *, path: str = "") -> Q:
    """A filter for rows whose patient (at ORM `path`, "" for Patient itself) this user may see."""
    prefix = f"{path}__" if path else ""
    roles = user_roles(user)
    if STAFF in roles:
        site_ids = staff_site_ids(user)
        if site_ids is None:
            return Q()
        return Q(**{f"{prefix}site__in": site_ids})
    if PATIENT in roles:
        return Q(**{f"{prefix}account": user})
    return Q(pk__in=[])


def limit_to_visible_patients(queryset: QuerySet, user, *, path: str = "patient") -> QuerySet:
    """`queryset` narrowed to rows of patients the user may see (all for foundation-wide staff)."""
    return queryset.filter(visible_patients_q(user, path=path))


def visible_patients(user) -> QuerySet[Patient]:
    return limit_to_visible_patients(Patient.objects.all(), user, path="")


def can_see_patient(user, patient: Patient) -> bool:
    """Whether the user may see (and, for staff, change) this patient, read without a query for staff."""
    roles = user_roles(user)
    if STAFF in roles:
        site_ids = staff_site_ids(user)
        return site_ids is None or patient.site_id in site_ids
    return PATIENT in roles and patient.account_id == user.pk
