"""Reads of assessments shared by the API and later exports."""

from collections import defaultdict

from assessments.models import Assessment, DynamometryMeasurement


def assessments_attach_measurements(assessments: list[Assessment]) -> list[Assessment]:
    """Give each assessment its dynamometry rows as `.measurements`, in one query for all.

    Cheaper than prefetch_related for a page of rows: no related manager is built per row.
    """
    by_assessment = defaultdict(list)
    rows = DynamometryMeasurement.objects.filter(assessment_id__in=[a.pk for a in assessments])
    for row in rows.order_by("assessment_id", "muscle_group", "side"):
        by_assessment[row.assessment_id].append(row)
    for assessment in assessments:
        assessment.measurements = by_assessment[assessment.pk]
    return assessments
