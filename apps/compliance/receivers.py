"""Signal receivers: who did it, for every audit-log entry, the security events of log-ins
(Django's authentication signals: log-ins, failed log-ins of either door, log-outs; the users
app's: refusals by lock-out, API tokens issued and refreshed), and an alert for every risk limit
the mark-to-market job found breached."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import pre_save
from django.dispatch import receiver

from apps.compliance.models import AlertKind, SecurityEventKind, Severity
from apps.compliance.security import security_event_record
from apps.compliance.services import compliance_alert_raise
from apps.core import context
from apps.core.actors import system_actor
from apps.risk.signals import limit_breached
from apps.users.signals import login_locked_out, token_issued, token_refreshed


@receiver(pre_save, sender=LogEntry, dispatch_uid="compliance-attribute-log-entry")
def attribute_log_entry(sender: Any, instance: LogEntry, **kwargs: Any) -> None:
    """Every audit-log entry names an actor: the user of the request (session or API token),
    else the named system actor (Celery tasks, management commands, the system itself). Also
    the source address and the correlation id of the unit of work. No e-mail is copied into the
    entry (personal data stays in the users table, where it can be pseudonymised)."""
    ctx = context.current()
    if instance.actor_id is None:
        instance.actor_id = ctx.actor_id or system_actor().pk
    if not instance.remote_addr and ctx.source_ip:
        instance.remote_addr = ctx.source_ip
    if not instance.cid:
        instance.cid = ctx.correlation_id


@receiver(user_logged_in, dispatch_uid="compliance-logged-in")
def logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    security_event_record(kind=SecurityEventKind.LOGIN, request=request, user=user)


@receiver(user_logged_out, dispatch_uid="compliance-logged-out")
def logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        security_event_record(kind=SecurityEventKind.LOGOUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="compliance-login-failed")
def login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = credentials.get("username") or ""
    security_event_record(
        kind=SecurityEventKind.LOGIN_FAILED, request=request, username=username if isinstance(username, str) else ""
    )


@receiver(login_locked_out, dispatch_uid="compliance-login-locked-out")
def locked_out(sender: Any, request: Any, username: str, **kwargs: Any) -> None:
    security_event_record(kind=SecurityEventKind.LOCKED_OUT, request=request, username=username)


@receiver(token_issued, dispatch_uid="compliance-token-issued")
def api_token_issued(sender: Any, request: Any, user: Any, username: str = "", **kwargs: Any) -> None:
    security_event_record(kind=SecurityEventKind.TOKEN_ISSUED, request=request, user=user, username=username)


@receiver(token_refreshed, dispatch_uid="compliance-token-refreshed")
def api_token_refreshed(sender: Any, request: Any, user: Any = None, **kwargs: Any) -> None:
    security_event_record(kind=SecurityEventKind.TOKEN_REFRESHED, request=request, user=user)


@receiver(limit_breached, dispatch_uid="compliance-risk-limit-breached")
def risk_limit_breached(sender: Any, breach: Any, details: dict[str, Any], **kwargs: Any) -> None:
    """A limit breach moved an account (or the firm) to reducing only or halted: alert, in the
    same transaction as the state change. Critical when halted, a warning when reducing."""
    target = f"account {breach.account_id}" if breach.account_id is not None else "the firm"
    compliance_alert_raise(
        kind=AlertKind.RISK_LIMIT_BREACHED,
        severity=Severity.CRITICAL if breach.state == "halted" else Severity.WARNING,
        summary=f"{target} set to {breach.state}: {breach.reason}",
        details=details,
    )
