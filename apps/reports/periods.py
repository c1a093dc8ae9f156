"""Business dates and their periods, from the trading calendar (apps/orders/calendar.py).

A business date's period runs from the previous trading day's session close up to its own close:
activity after a close (evenings, weekends, holidays) belongs to the next business date, as on a
broker's statements. A report for a date is produced only once its close is ``REPORT_GRACE`` in
the past, so that every transaction posted before the close has committed."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from apps.core.errors import ValidationError
from apps.orders.calendar import close_on, is_trading_day
from apps.reports.kinds import Period

REPORT_GRACE = timedelta(minutes=5)
_LOOK_BACK_DAYS = 15


def previous_business_date(day: date) -> date:
    for back in range(1, _LOOK_BACK_DAYS + 1):
        candidate = day - timedelta(days=back)
        if is_trading_day(candidate):
            return candidate
    raise ValidationError(f"No business date in the {_LOOK_BACK_DAYS} days before {day}.", code="no_business_date")


def period_for(business_date: date) -> Period:
    """The period of a business date (``not_business_date`` if the calendar has no session then)."""
    if not isinstance(business_date, date) or isinstance(business_date, datetime):
        raise ValidationError("business_date must be a date.", code="invalid_date", field="business_date")
    if not is_trading_day(business_date):
        raise ValidationError(
            f"{business_date.isoformat()} is not a business date (weekend or holiday).",
            code="not_business_date",
            field="business_date",
        )
    return Period(
        business_date=business_date, start=close_on(previous_business_date(business_date)), end=close_on(business_date)
    )


def latest_reportable_date(now: datetime) -> date | None:
    """The most recent business date whose close is at least ``REPORT_GRACE`` before ``now``."""
    cutoff = now - REPORT_GRACE
    for back in range(_LOOK_BACK_DAYS):
        day = (cutoff - timedelta(days=back)).date()
        if is_trading_day(day) and close_on(day) <= cutoff:
            return day
    return None


def period_is_closed(period: Period, now: datetime) -> bool:
    return period.end + REPORT_GRACE <= now
