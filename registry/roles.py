"""The three roles, held as auth groups. A superuser counts as staff."""

STAFF = "staff"
PATIENT = "patient"
RESEARCHER = "researcher"
ROLES = (STAFF, PATIENT, RESEARCHER)


def user_roles(user) -> frozenset[str]:
    """Roles of a user, cached on the user object for the length of a request."""
    if not user or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_registry_roles", None)
    if cached is None:
        remember_roles(user, set(user.groups.values_list("name", flat=True)))
        cached = user._registry_roles
    return cached


def remember_roles(user, names: set[str]) -> None:
    """Store roles already read (e.g. with the token) so `user_roles` needs no query."""
    if user.is_superuser:
        names = names | {STAFF}
    user._registry_roles = frozenset(names & set(ROLES))


def is_staff_member(user) -> bool:
    return STAFF in user_roles(user)
