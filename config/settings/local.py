"""Local development: DEBUG on, the embedded PostgreSQL when no DATABASE_URL is set."""

from config.embedded import database_url

from .base import *
from .base import database_settings, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
DATABASES = {"default": database_settings(database_url())}
