from django.contrib import admin

from assessments.models import Assessment, DynamometryMeasurement, ManualMuscleTest, Milestone
from registry.admin import ReadOnlyInlineMixin, StaffReadOnlyAdmin


class DynamometryInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = DynamometryMeasurement


class ManualMuscleTestInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = ManualMuscleTest


@admin.register(Assessment)
class AssessmentAdmin(StaffReadOnlyAdmin):
    list_display = ["patient", "assessment_date", "source", "ambulation_class", "wheelchair_use", "ibmfrs_total"]
    list_filter = ["source", "ambulation_class", "wheelchair_use"]
    list_select_related = ["patient"]
    date_hierarchy = "assessment_date"
    inlines = [DynamometryInline, ManualMuscleTestInline]


@admin.register(Milestone)
class MilestoneAdmin(StaffReadOnlyAdmin):
    list_display = ["patient", "kind", "source", "date", "age_years", "skipped"]
    list_filter = ["kind", "source"]
    list_select_related = ["patient"]
