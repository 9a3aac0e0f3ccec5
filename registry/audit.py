"""The audit trail's events (`AuditEvent`): what happened, who did it and by which path."""

from registry.models import AuditEvent


def audit_log(
    kind: str, *, user=None, username: str = "", via: str = "", target=None, detail: dict | None = None
) -> AuditEvent:
    """Record one event. `target` is a record with a public `uuid` (or None); `detail` must hold no
    identifying data, since the trail outlives an erasure."""
    target_type = target_id = ""
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(getattr(target, "uuid", None) or target.pk)
    if user is not None and getattr(user, "is_authenticated", False):
        username = username or user.get_username()
    else:
        user = None
    return AuditEvent.objects.create(
        kind=kind,
        user=user,
        username=username[:150],
        via=via,
        target_type=target_type,
        target_id=target_id,
        detail=detail or {},
    )
