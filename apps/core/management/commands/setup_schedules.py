"""``manage.py setup_schedules``: store the beat schedules declared in ``apps.core.schedules``.

Idempotent: each schedule is updated or created by name. Periodic tasks that this command
created earlier but that are no longer declared are disabled (never deleted: their history
stays visible in the admin).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from apps.core.schedules import SCHEDULES, Schedule

MANAGED_MARK = "[setup_schedules]"


def _store(schedule: Schedule) -> str:
    """Create or update one periodic task; answer what happened (created, updated, unchanged)."""
    crontab, interval = None, None
    if schedule.every_seconds:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=schedule.every_seconds, period=IntervalSchedule.SECONDS
        )
    else:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=schedule.minute,
            hour=schedule.hour,
            day_of_week=schedule.day_of_week,
            day_of_month=schedule.day_of_month,
            month_of_year=schedule.month_of_year,
            timezone="UTC",
        )
    wanted: dict[str, Any] = {
        "task": schedule.task,
        "crontab": crontab,
        "interval": interval,
        "solar": None,
        "clocked": None,
        "kwargs": json.dumps(schedule.kwargs, sort_keys=True),
        "queue": schedule.queue,
        "enabled": True,
        "one_off": False,
        "description": f"{schedule.description} {MANAGED_MARK}".strip(),
    }
    task = PeriodicTask.objects.filter(name=schedule.name).first()
    if task is None:
        PeriodicTask.objects.create(name=schedule.name, **wanted)
        return "created"
    changed = [key for key, value in wanted.items() if getattr(task, key) != value]
    if not changed:
        return "unchanged"
    for key in changed:
        setattr(task, key, wanted[key])
    task.save()  # PeriodicTask.save() also tells the running beat to reload its schedule
    return "updated"


class Command(BaseCommand):
    help = "Store the beat schedules declared in apps/core/schedules.py (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        names = [s.name for s in SCHEDULES]
        with transaction.atomic():
            for schedule in SCHEDULES:
                outcome = _store(schedule)
                self.stdout.write(f"{outcome} schedule {schedule.name!r} -> {schedule.task}")
            stale = PeriodicTask.objects.filter(description__endswith=MANAGED_MARK, enabled=True).exclude(
                name__in=names
            )
            for task in stale:
                task.enabled = False
                task.save(update_fields=["enabled"])
                self.stdout.write(f"disabled schedule {task.name!r} (no longer declared)")
