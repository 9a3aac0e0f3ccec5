"""API tokens moved to django-rest-knox, which stores only a digest of each token. The old table of
DRF's authtoken held every token in plain text and must not outlive the change: drop it. Clients
log in again for a new token."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_auditevent_append_only")]

    operations = [migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", reverse_sql=migrations.RunSQL.noop)]
