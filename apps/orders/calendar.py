"""The trading calendar for DAY orders: the session closes at a configured UTC time on
configured weekdays, except holidays (settings TRADING_SESSION_CLOSE_UTC, TRADING_DAYS,
TRADING_HOLIDAYS)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_trading_day(day: date) -> bool:
    return _DAYS[day.weekday()] in settings.TRADING_DAYS and day.isoformat() not in settings.TRADING_HOLIDAYS


def close_on(day: date) -> datetime:
    hour, minute = (int(part) for part in str(settings.TRADING_SESSION_CLOSE_UTC).split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def last_close(now: datetime) -> datetime | None:
    """The most recent session close at or before ``now`` (looking back at most two weeks)."""
    for back in range(15):
        day = (now - timedelta(days=back)).date()
        if is_trading_day(day) and close_on(day) <= now:
            return close_on(day)
    return None
