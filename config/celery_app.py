"""The Celery application. Start a worker with `celery -A config.celery_app worker`.

There is deliberately no default for DJANGO_SETTINGS_MODULE here: a worker that fell back to the
local settings would run with DEBUG and a published secret key, against a SQLite file that the
web process never sees. Without the variable, Django refuses to load settings and says why.
"""

from celery import Celery

app = Celery("gne_registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
