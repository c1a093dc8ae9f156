"""Local development: DEBUG on, the embedded PostgreSQL when no DATABASE_URL is set."""

from config.embedded import database_url

from .base import *
from .base import database_settings, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
DATABASES = {"default": database_settings(database_url(), pool=env.bool("DATABASE_POOL", default=True))}

# The venue simulation (``manage.py simulate``; it runs in a throwaway database): development only.
INSTALLED_APPS = [*INSTALLED_APPS, "apps.simulation"]
