"""Tests: real PostgreSQL (DATABASE_URL, else the embedded one), fast hashing."""

import tempfile
from pathlib import Path

from config.embedded import database_url

from .base import *
from .base import database_settings, env

DEBUG = False
DATABASES = {"default": database_settings(database_url())}
DATABASES["default"]["CONN_MAX_AGE"] = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Report files of a test run go to a directory of their own (pytest-django sends mail to locmem).
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="backoffice-test-media-"))
MIDDLEWARE = [m for m in MIDDLEWARE if "whitenoise" not in m]
# Messages that tests enqueue go to an in-memory broker, unless CELERY_BROKER_URL names one:
# the worker processes that the pipeline tests start get a real broker that way.
if not env("CELERY_BROKER_URL", default=""):
    CELERY_BROKER_URL = "memory://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
# Throttles stay on (the API tests exercise them with their own low rates) but do not get in
# the way of the suites that send many requests.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "anon": "100000/min",
        "user": "100000/min",
        "orders": "100000/min",
        "auth": "100000/min",
    },
}
# The venue simulation (tests/simulation, ``manage.py simulate``): development only.
INSTALLED_APPS = [*INSTALLED_APPS, "apps.simulation"]
