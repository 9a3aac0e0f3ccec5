"""Developer machine: `make run`. SQLite and in-process tasks unless the environment says otherwise."""

from .base import *
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A fixed key is acceptable only here: local data is synthetic and the server listens on loopback.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-development-key-not-for-production-use-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = [
    "rest_framework.renderers.JSONRenderer",
    "rest_framework.renderers.BrowsableAPIRenderer",
]
