import django_filters
from django.db.models import Q

from assessments.models import Assessment, Milestone
from patients.api.filters import PatientRecordFilter


class AssessmentFilter(PatientRecordFilter):
    date_from = django_filters.DateFilter(field_name="assessment_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="assessment_date", lookup_expr="lte")
    needs_review = django_filters.BooleanFilter(method="filter_needs_review")

    class Meta:
        model = Assessment
        fields = ["patient", "source", "ambulation_class", "wheelchair_use", "date_from", "date_to"]

    def filter_needs_review(self, queryset, name, value):
        no_flags = Q(review_flags=[])
        return queryset.exclude(no_flags) if value else queryset.filter(no_flags)


class MilestoneFilter(PatientRecordFilter):
    class Meta:
        model = Milestone
        fields = ["patient", "kind", "source"]
