"""Research projects and exports in the admin.

Projects are set up by superusers (they decide who may receive data); other staff see them. The
pseudonym key is not a form field (`editable=False`) and is named in no list or read-only field,
so the admin never shows it. Exports are a read-only record: who asked, what happened, who
downloaded it and when.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from registry.admin import ReadOnlyInlineMixin, StaffReadOnlyAdmin
from research import services
from research.models import ExportDownload, ResearchExport, ResearchProject


class ProjectAdminForm(forms.ModelForm):
    class Meta:
        model = ResearchProject
        fields = [*services.PROJECT_FIELDS, "members"]

    def clean(self):
        cleaned = super().clean()
        members = cleaned.get("members") or []
        try:
            services.project_validate(data=cleaned, members=members, creating=self.instance.pk is None)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


@admin.register(ResearchProject)
class ResearchProjectAdmin(StaffReadOnlyAdmin):
    form = ProjectAdminForm
    list_display = ["title", "approving_body", "approval_reference", "data_use_agreement_ends", "created_at"]
    search_fields = ["title", "approval_reference"]
    filter_horizontal = ["members"]
    readonly_fields = ["created_by", "created_at"]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        # Through the services, like every other entry path; the form has already run their checks.
        data = {name: form.cleaned_data[name] for name in services.PROJECT_FIELDS if name in form.cleaned_data}
        members = form.cleaned_data.get("members", [])
        if change:
            saved = services.project_update(project=obj, data=data, members=members)
        else:
            saved = services.project_create(data=data, members=members, created_by=request.user)
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        # Members were saved by the service; the form must not save them again over its result.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class ExportDownloadInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = ExportDownload
    fields = ["user", "downloaded_at"]
    readonly_fields = fields


@admin.register(ResearchExport)
class ResearchExportAdmin(StaffReadOnlyAdmin):
    list_display = ["id", "project", "requested_by", "status", "progress_percent", "created_at", "finished_at"]
    list_filter = ["status", "project"]
    list_select_related = ["project", "requested_by"]
    inlines = [ExportDownloadInline]
    fields = [
        "project",
        "requested_by",
        "cohort",
        "include_ancestry",
        "status",
        "progress_percent",
        "step",
        "reason",
        "attempts",
        "file_name",
        "size_bytes",
        "sha256",
        "patient_count",
        "achieved_k",
        "created_at",
        "enqueued_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
