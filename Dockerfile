# GNE myopathy registry: one image for web (gunicorn), worker and beat (celery) and migrate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

# Unprivileged runtime user with a fixed uid/gid (predictable ownership on named volumes) and a
# writable home (gunicorn puts its control socket in ~/.gunicorn).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
       --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, so code changes do not invalidate this layer.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# Application code stays owned by root: the app user can read it but not modify it.
COPY . .

# Production settings refuse to load without a secret key, a database URL and allowed hosts.
# collectstatic needs none of them for real, so throwaway values are passed to this RUN only;
# they are not baked into the image environment. Nothing connects to the SQLite URL.
RUN DJANGO_SECRET_KEY=build-only-not-a-secret \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput \
    && rm -f /tmp/build.sqlite3

# Directories the app writes to. Named volumes mounted here start with this ownership.
RUN mkdir -p /app/exports /app/celerybeat \
    && chown app:app /app/exports /app/celerybeat

USER app

EXPOSE 8000

CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
