"""Admin access follows the registry roles, not Django's per-model permissions.

Clinical records are read-only here: their rules live in services, and the staff workspace (a
later issue) will write through them. Until then staff correct data through the API.

The admin lists every site's patients and has no site filter, so it is for foundation-wide staff
(and superusers) only; staff limited to some sites get 403 on its pages (docs/sites.md).
"""

from django.contrib import admin

from registry.api.permissions import is_foundation_wide_staff
from registry.history import history_models
from registry.models import AuditEvent


def may_use_admin(user) -> bool:
    return user.is_active and (user.is_superuser or is_foundation_wide_staff(user))


class StaffReadOnlyAdmin(admin.ModelAdmin):
    def has_module_permission(self, request):
        return may_use_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return may_use_admin(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StaffEditableAdmin(StaffReadOnlyAdmin):
    """For reference data without cross-record rules (sites, consent document versions)."""

    def has_add_permission(self, request):
        return may_use_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return may_use_admin(request.user)


class ReadOnlyInlineMixin:
    """An inline shown inside a read-only page: visible to whoever may see the page, never edited."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- The audit trail: shown to staff, never added to, changed or deleted here (docs/audit.md) ---


@admin.register(AuditEvent)
class AuditEventAdmin(StaffReadOnlyAdmin):
    list_display = ("at", "kind", "username", "via", "target_type", "target_id")
    list_filter = ("kind", "via")
    search_fields = ("username", "target_id")


class RecordHistoryAdmin(StaffReadOnlyAdmin):
    list_display = ("history_date", "history_type", "history_username", "via", "__str__")
    list_filter = ("history_type", "via")
    search_fields = ("history_username",)


for _history in history_models():
    admin.site.register(_history, RecordHistoryAdmin)
