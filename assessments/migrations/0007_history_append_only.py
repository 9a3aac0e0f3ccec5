"""The history tables of assessments and milestones refuse UPDATE and DELETE (docs/audit.md, "What cannot be
changed")."""

from django.db import migrations

from registry.audit import append_only


class Migration(migrations.Migration):
    dependencies = [("assessments", "0006_record_history")]

    operations = [
        append_only(
            "assessments_historicalassessment",
            "assessments_historicaldynamometrymeasurement",
            "assessments_historicalmanualmuscletest",
            "assessments_historicalmilestone",
        ),
    ]
