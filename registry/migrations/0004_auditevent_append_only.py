"""Audit events refuse UPDATE and DELETE (docs/audit.md, "What cannot be changed").

The one change let through: `user_id` set to NULL, which ON DELETE SET NULL does when an account is
deleted; the event keeps the username.
"""

from django.db import migrations

from registry.audit import append_only


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_auditevent")]

    operations = [append_only("registry_auditevent", nullable_column="user_id")]
