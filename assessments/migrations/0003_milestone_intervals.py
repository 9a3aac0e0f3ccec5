# Milestones as intervals (docs/clinical-rules.md, "Milestones"): the lower bound of a derived
# milestone, its censoring, review flags on reported milestones, and the kinds' new labels (the
# stored codes are unchanged).

import django.db.models.expressions
from django.db import migrations, models


def milestones_as_intervals(apps, schema_editor):
    """Give the rows stored before this migration what the services now store.

    Reported milestones get their censoring; derived ones are derived again from the assessments
    with today's rules (bounds, censoring; no AFO inferred from a higher class, no walker from a
    cane and a part-time wheelchair). Nothing to do on an empty database.
    """
    Assessment = apps.get_model("assessments", "Assessment")
    Milestone = apps.get_model("assessments", "Milestone")
    reported = Milestone.objects.filter(source="reported", skipped=False)
    reported.filter(date__isnull=False, date_precision__in=["", "day"]).update(censoring="exact")
    reported.filter(censoring="").update(censoring="interval")
    patient_ids = set(Assessment.objects.values_list("patient_id", flat=True))
    patient_ids |= set(Milestone.objects.filter(source="derived").values_list("patient_id", flat=True))
    if not patient_ids:
        return
    # The derivation is a pure function of these fields of the assessment rows.
    from assessments.services import derived_milestone_bounds

    rows_by_patient = {}
    fields = ("id", "assessment_date", "ambulation_class", "wheelchair_use", "devices")
    for row in Assessment.objects.values("patient_id", *fields):
        rows_by_patient.setdefault(row["patient_id"], []).append(row)
    Milestone.objects.filter(source="derived").delete()
    Milestone.objects.bulk_create(
        Milestone(
            patient_id=patient_id,
            kind=kind,
            source="derived",
            date=bounds.upper,
            date_precision="day",
            lower_bound_date=bounds.lower,
            censoring=str(bounds.censoring),
            derived_from_id=bounds.upper_id,
        )
        for patient_id, rows in rows_by_patient.items()
        for kind, bounds in derived_milestone_bounds(rows).items()
        if bounds.upper
    )


class Migration(migrations.Migration):

    dependencies = [
        ("assessments", "0002_integrity_constraints"),
    ]

    operations = [
        migrations.AddField(
            model_name="milestone",
            name="censoring",
            field=models.CharField(
                blank=True,
                choices=[
                    ("interval", "Interval: after the lower bound, by the date"),
                    ("left", "Left-censored: already reached at the first informative visit"),
                    ("exact", "Exact: on the day given"),
                ],
                editable=False,
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="milestone",
            name="lower_bound_date",
            field=models.DateField(
                blank=True,
                editable=False,
                help_text="Derived: the last visit seen below this stage before `date`; empty when none (left-censored).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="milestone",
            name="review_flags",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
        migrations.AlterField(
            model_name="milestone",
            name="kind",
            field=models.CharField(
                choices=[
                    ("afo", "First ankle-foot orthoses"),
                    ("cane", "Cane or more walking support"),
                    ("walker", "Walker or more walking support"),
                    ("wheelchair_part_time", "Part-time wheelchair or more"),
                    ("wheelchair_full_time", "Full-time wheelchair (loss of ambulation)"),
                ],
                max_length=30,
            ),
        ),
        migrations.AddConstraint(
            model_name="milestone",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("lower_bound_date__isnull", True),
                    models.Q(
                        ("date__isnull", False),
                        ("lower_bound_date__lte", django.db.models.expressions.F("date")),
                    ),
                    _connector="OR",
                ),
                name="milestone_lower_bound_not_after_date",
            ),
        ),
        migrations.AddConstraint(
            model_name="milestone",
            constraint=models.CheckConstraint(
                condition=models.Q(("censoring", "left"), ("lower_bound_date__isnull", False), _negated=True),
                name="milestone_left_censored_has_no_lower_bound",
            ),
        ),
        migrations.RunPython(milestones_as_intervals, migrations.RunPython.noop, elidable=True),
    ]
