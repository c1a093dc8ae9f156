"""Tests: real PostgreSQL (DATABASE_URL, else the embedded one), fast hashing."""

from config.embedded import database_url

from .base import *
from .base import database_settings

DEBUG = False
DATABASES = {"default": database_settings(database_url())}
DATABASES["default"]["CONN_MAX_AGE"] = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MIDDLEWARE = [m for m in MIDDLEWARE if "whitenoise" not in m]
# Messages that tests enqueue go to an in-memory broker unless a test runs a real worker
# (tests/core/test_celery_worker.py and the pipeline tests pass their own broker to it).
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
