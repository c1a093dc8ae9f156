"""Production: everything from the environment, and refuse to start with unsafe values."""

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import database_settings, env, logs

# One JSON object a line (LOG_FORMAT=console for people reading a terminal); /metrics is closed
# but to METRICS_ALLOWED_IPS and METRICS_TOKEN (docs/observability.md).
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = logs.logging_settings(LOG_FORMAT, level=env("DJANGO_LOG_LEVEL", default="INFO"))
METRICS_OPEN = False

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production.")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("local-insecure"):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to a long random value in production.")
_db_url = env("DATABASE_URL", default="")
if not _db_url:
    raise ImproperlyConfigured("DATABASE_URL must be set in production (no embedded database).")
if not env("CELERY_BROKER_URL", default=""):
    raise ImproperlyConfigured("CELERY_BROKER_URL must be set in production (RabbitMQ or Redis).")
if not env("REDIS_URL", default=""):
    raise ImproperlyConfigured("REDIS_URL must be set in production (API throttles need a shared cache).")
DATABASES = {"default": database_settings(_db_url, pool=env.bool("DATABASE_POOL", default=True))}
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the real host names.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading binds the whole parent domain into browsers for months and is the domain owner's
# decision (it needs a max-age of a year and every subdomain on HTTPS): off unless they turn it
# on, and then `check --deploy` is not told to keep quiet about it (security.W021).
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DEMO_DATA_ALLOWED = False  # seed_demo refuses to run

# Report files: an S3-compatible store when REPORTS_S3_BUCKET is set (django-storages; endpoint,
# region and credentials from the usual AWS_* variables), else the file system under MEDIA_ROOT
# (a mounted volume shared by the workers and the web processes).
_s3_bucket = env("REPORTS_S3_BUCKET", default="")
if _s3_bucket:
    STORAGES = {
        **STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {  # type: ignore[dict-item]
                "bucket_name": _s3_bucket,
                "endpoint_url": env("AWS_S3_ENDPOINT_URL", default="") or None,
                "region_name": env("AWS_S3_REGION_NAME", default="") or None,
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
    }
if not env("EMAIL_HOST", default="") and not env("EMAIL_BACKEND", default=""):
    raise ImproperlyConfigured(
        "EMAIL_HOST (SMTP) or EMAIL_BACKEND must be set in production: reports are delivered by e-mail."
    )
