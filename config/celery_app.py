"""The Celery application. Settings live in Django settings under ``CELERY_*``."""

import os

from celery import Celery

from apps.brokers.relay_step import RelayLoopStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.steps["worker"].add(RelayLoopStep)  # the relay loop in every worker (apps/brokers/relay_loop.py)
