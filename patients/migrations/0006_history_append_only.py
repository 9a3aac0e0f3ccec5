"""The history tables of patients' records refuse UPDATE and DELETE (docs/audit.md, "What cannot be changed")."""

from django.db import migrations

from registry.audit import append_only


class Migration(migrations.Migration):
    dependencies = [("patients", "0005_record_history")]

    operations = [
        append_only(
            "patients_historicalpatient",
            "patients_historicalpatientidentity",
            "patients_historicalenrollmentevent",
            "patients_historicaldiagnosis",
            "patients_historicalgenotype",
            "patients_historicaltreatment",
            "patients_historicalconsentgrant",
            "patients_historicalconsentdocument",
        ),
    ]
