"""Fail fast, with instructions, when the test suite's PostgreSQL or Redis is not reachable."""

import psycopg2
import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
}


class Command(BaseCommand):
    help = "Check that PostgreSQL and Redis answer (used by `make test` before running the suite)."

    def handle(self, *args, **options):
        problems = []
        db = settings.DATABASES["default"]
        if "postgresql" not in db["ENGINE"]:
            problems.append(("PostgreSQL", f"DATABASE_URL points at {db['ENGINE']}, not PostgreSQL"))
        else:
            try:
                psycopg2.connect(
                    host=db["HOST"] or None,
                    port=db["PORT"] or None,
                    user=db["USER"],
                    password=db["PASSWORD"] or None,
                    dbname="postgres",
                    connect_timeout=3,
                ).close()
            except psycopg2.OperationalError as error:
                problems.append(("PostgreSQL", f"{db['HOST']}:{db['PORT']} did not answer: {error}".strip()))
        try:
            redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as error:
            problems.append(("Redis", f"{settings.CELERY_BROKER_URL} did not answer: {error}"))
        if problems:
            lines = [f"{service}: {reason}\n  start it with: {HOW_TO_START[service]}" for service, reason in problems]
            raise CommandError("The test suite needs real services.\n" + "\n".join(lines))
        self.stdout.write("PostgreSQL and Redis are reachable.")
