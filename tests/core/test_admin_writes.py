"""The admin and the API are two doors to the same services: an admin class never saves a model
that has a service.

- Every model auditlog tracks (the mutable ones) is declared here: written by a service, or a
  configuration row without one. A new tracked model fails until it is declared.
- Every registered admin of a model with a service either offers no add, change or delete (to a
  superuser), or is a ``ServiceAdmin`` whose save (and delete, where allowed) is its own; an
  inline of such a model is saved by its parent's own ``save_formset``.
- One real admin POST per such model writes only inside a service's durable transaction (every
  write service is ``atomic(durable=True)``; Django's own ``save_model`` runs in none), and the
  service's effect is there. Refusals are form errors, never a 500, and change nothing.
- Who may write is the role predicate the API asks (``has_role``), not a model permission.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models.signals import m2m_changed, pre_delete, pre_save
from django.test import RequestFactory
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.accounts.services import trading_account_create
from apps.brokers.models import AccountRoute
from apps.core.admin import ServiceAdmin
from apps.instruments.models import PriceObservation, ReferencePrice
from apps.instruments.signals import reference_price_changed
from apps.risk.models import RestrictedInstrument, RiskLimits, TradingState
from apps.users.roles import COMPLIANCE, OPERATIONS
from tests.compliance.admin_support import staff
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

#: Models whose rows change only through a service (the service named for the reader).
MODELS_WITH_A_SERVICE: dict[str, str] = {
    "accounts.TradingAccount": "accounts.services: trading_account_create / _rename / _set_status / _owner_add",
    "accounts.TradingAccountUserObjectPermission": "accounts.services.account_access_grant / _revoke",
    "accounts.TradingAccountGroupObjectPermission": "accounts.services.account_access_grant / _revoke",
    "instruments.Instrument": "instruments.services.instrument_create / instrument_update",
    "instruments.ReferencePrice": "instruments.services.reference_price_set",
    "risk.RiskLimits": "risk.services.risk_limits_set",
    "risk.TradingState": "risk.services.trading_state_set / kill_switch_set",
    "risk.RestrictedInstrument": "risk.services.restricted_instrument_add / _remove",
    "brokers.AccountRoute": "brokers.services.account_route_set / account_route_clear",
    "brokers.BrokerControl": "brokers.services.broker_pause / broker_resume",
    "compliance.ComplianceAlert": "compliance.services.compliance_alert_acknowledge",
    "reports.ReportRun": "reports.services.report_run_execute",
}
#: Tracked configuration rows without a service: the admin saves them (auditlog records it).
CONFIG_WITHOUT_A_SERVICE = {
    "reports.ReportRecipient",
    "users.User",
    "auth.Group",
    "django_celery_beat.PeriodicTask",
}


def _tracked() -> set[str]:
    labels = set()
    for entry in settings.AUDITLOG_INCLUDE_TRACKING_MODELS:
        label = entry["model"] if isinstance(entry, dict) else entry
        labels.add(apps.get_model(label)._meta.label)
    return labels


def test_every_tracked_model_is_declared_with_or_without_a_service() -> None:
    assert _tracked() == {apps.get_model(label)._meta.label for label in MODELS_WITH_A_SERVICE} | {
        apps.get_model(label)._meta.label for label in CONFIG_WITHOUT_A_SERVICE
    }


def _own(model_admin: Any, name: str) -> bool:
    """``name`` is defined by the admin's own class (or a mixin), not by Django or ServiceAdmin."""
    for klass in type(model_admin).__mro__:
        if name in vars(klass):
            return klass not in (ServiceAdmin, admin.ModelAdmin, admin.options.BaseModelAdmin)
    return False


def test_no_admin_saves_a_model_that_has_a_service() -> None:
    request = RequestFactory().get("/admin/")
    request.user = UserFactory.build(is_superuser=True, is_staff=True, is_active=True)
    with_service = {apps.get_model(label) for label in MODELS_WITH_A_SERVICE}
    checked = []
    for model, model_admin in admin.site._registry.items():
        if model in with_service:
            can_write = model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
            if can_write:
                assert isinstance(model_admin, ServiceAdmin), model
                assert _own(model_admin, "save_model"), f"{model.__name__}: save_model through the service"
            if model_admin.has_delete_permission(request):
                assert isinstance(model_admin, ServiceAdmin) and _own(model_admin, "delete_model"), model
            checked.append(model)
        for inline in model_admin.get_inline_instances(request):
            if inline.model in with_service and (
                inline.has_add_permission(request, None) or inline.has_change_permission(request)
            ):
                assert _own(model_admin, "save_formset"), f"{model.__name__}: inline {inline.model.__name__}"
    assert {RiskLimits, TradingState, RestrictedInstrument, TradingAccount, AccountRoute} <= set(checked)


@pytest.fixture
def service_writes() -> Iterator[list[tuple[str, bool]]]:
    """Each write to a model with a service: (model label, inside a durable transaction)."""
    labels = {apps.get_model(label)._meta.label for label in MODELS_WITH_A_SERVICE}
    seen: list[tuple[str, bool]] = []

    def record(sender: Any, **kwargs: Any) -> None:
        label = sender._meta.label
        if kwargs.get("action", "pre_").startswith("pre_") and label in labels:
            seen.append((label, any(block.durable for block in connection.atomic_blocks)))

    def record_m2m(sender: Any, instance: Any, **kwargs: Any) -> None:
        record(type(instance), **kwargs)

    pre_save.connect(record, weak=False, dispatch_uid="service_writes_save")
    pre_delete.connect(record, weak=False, dispatch_uid="service_writes_delete")
    m2m_changed.connect(record_m2m, weak=False, dispatch_uid="service_writes_m2m")
    try:
        yield seen
    finally:
        pre_save.disconnect(dispatch_uid="service_writes_save")
        pre_delete.disconnect(dispatch_uid="service_writes_delete")
        m2m_changed.disconnect(dispatch_uid="service_writes_m2m")


def _inline(instrument: Any, **values: Any) -> dict[str, Any]:
    ref = instrument.reference_price
    as_of = values.pop("as_of", ref.as_of)
    return {
        "name": instrument.name,
        "asset_class": instrument.asset_class,
        "active": "on",
        "reference_price-TOTAL_FORMS": "1",
        "reference_price-INITIAL_FORMS": "1",
        "reference_price-MIN_NUM_FORMS": "0",
        "reference_price-MAX_NUM_FORMS": "1",
        "reference_price-0-id": ref.pk,
        "reference_price-0-instrument": instrument.pk,
        "reference_price-0-price": values.pop("price", ref.price),
        "reference_price-0-as_of_0": as_of.strftime("%Y-%m-%d"),
        "reference_price-0-as_of_1": as_of.strftime("%H:%M:%S"),
        "reference_price-0-source": "desk",
        "_save": "Save",
    }


def test_admin_posts_write_through_the_services(client, actor, instrument, service_writes) -> None:  # type: ignore[no-untyped-def]
    ops, officer = staff("olga", OPERATIONS), staff("cora", COMPLIANCE)
    owner, other = UserFactory(username="ann"), UserFactory(username="ben")
    account = trading_account_create(actor=actor, name="Client", base_currency="USD", owner=owner)
    service_writes.clear()

    client.force_login(ops)
    change = f"/admin/accounts/tradingaccount/{account.pk}/change/"
    ledger_accounts = {"ledger_accounts-TOTAL_FORMS": "0", "ledger_accounts-INITIAL_FORMS": "0"}
    done = client.post(change, {"name": "Client A", "status": "restricted", "owners": [other.pk], **ledger_accounts})
    assert done.status_code == 302, done.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.name, account.status, list(account.owners.all())) == ("Client A", "restricted", [other])
    assert other.has_perm("accounts.trade_tradingaccount", account)  # the grants came with the ownership
    assert not UserFactory._meta.model.objects.get(pk=owner.pk).has_perm("accounts.view_tradingaccount", account)

    signals: list[Any] = []
    reference_price_changed.connect(lambda **kw: signals.append(kw["price"]), weak=False, dispatch_uid="t")
    try:
        change = f"/admin/instruments/instrument/{instrument.pk}/change/"
        done = client.post(change, _inline(instrument, price="101.25"))
    finally:
        reference_price_changed.disconnect(dispatch_uid="t")
    assert done.status_code == 302, done.content.decode()[:2000]
    assert PriceObservation.objects.filter(instrument=instrument, price="101.25", source="desk").exists()
    assert signals == [Decimal("101.25")]

    done = client.post("/admin/brokers/accountroute/add/", {"account": account.pk, "broker": "paper", "_save": "1"})
    assert done.status_code == 302 and AccountRoute.objects.get(account=account).broker == "paper"

    client.force_login(officer)
    done = client.post("/admin/risk/risklimits/add/", {"account": account.pk, "max_open_orders": "7", "_save": "1"})
    assert done.status_code == 302 and RiskLimits.objects.get(account=account).max_open_orders == 7
    entry = LogEntry.objects.get_for_object(RiskLimits.objects.get(account=account)).latest("timestamp")
    assert entry.actor == officer
    data = {"scope": "account", "account": account.pk, "state": "halted", "reason": "Review", "_save": "1"}
    assert client.post("/admin/risk/tradingstate/add/", data).status_code == 302
    assert TradingState.objects.get(account=account).updated_by == officer
    data = {"instrument": instrument.pk, "account": "", "reason": "Insider list", "_save": "1"}
    assert client.post("/admin/risk/restrictedinstrument/add/", data).status_code == 302
    restriction = RestrictedInstrument.objects.get(instrument=instrument)
    assert restriction.created_by == officer
    delete = client.post(f"/admin/risk/restrictedinstrument/{restriction.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 302 and not RestrictedInstrument.objects.exists()

    labels = {label for label, _ in service_writes}
    assert {
        "accounts.TradingAccount",
        "accounts.TradingAccountUserObjectPermission",
        "instruments.ReferencePrice",
        "brokers.AccountRoute",
        "risk.RiskLimits",
        "risk.TradingState",
        "risk.RestrictedInstrument",
    } <= labels
    assert [label for label, durable in service_writes if not durable] == []


def test_service_refusals_are_form_errors_and_change_nothing(client, actor, instrument, service_writes) -> None:  # type: ignore[no-untyped-def]
    client.force_login(staff("olga", OPERATIONS))
    prices = PriceObservation.objects.count()
    future = timezone.now() + timedelta(hours=1)
    page = client.post(f"/admin/instruments/instrument/{instrument.pk}/change/", _inline(instrument, as_of=future))
    assert page.status_code == 200 and "is in the future" in page.content.decode()
    page = client.post(f"/admin/instruments/instrument/{instrument.pk}/change/", _inline(instrument, price="1.001"))
    assert page.status_code == 200 and "not a multiple of the tick size" in page.content.decode()
    assert PriceObservation.objects.count() == prices
    # a refusal only the service knows (no form check): caught while saving, shown on the form
    account = trading_account_create(actor=actor, name="Client", base_currency="USD")
    page = client.post("/admin/brokers/accountroute/add/", {"account": account.pk, "broker": "nyse", "_save": "1"})
    assert page.status_code == 200 and "is not enabled" in page.content.decode()
    assert not AccountRoute.objects.exists()

    client.force_login(staff("cora", COMPLIANCE))
    limits = list(RiskLimits.objects.values())
    page = client.post(
        "/admin/risk/risklimits/add/",
        {"account": "", "daily_loss_limit": "100", "daily_loss_halt_limit": "50", "_save": "1"},
    )
    assert page.status_code == 200 and "must be at least daily_loss_limit" in page.content.decode()
    assert limits == list(RiskLimits.objects.values())
    assert not ReferencePrice.objects.exclude(pk=instrument.reference_price.pk).exists()


def test_the_admin_asks_the_role_like_the_api_not_a_model_permission(client, instrument) -> None:  # type: ignore[no-untyped-def]
    # a staff user given the model permissions by hand, in no role group: no write
    hand = staff("hank")
    hand.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_risklimits", "add_risklimits", "change_tradingaccount"])
    )
    client.force_login(hand)
    assert client.get("/admin/risk/risklimits/").status_code == 200
    assert client.get("/admin/risk/risklimits/add/").status_code == 403
    # operations may change an account (as they grant access in the API), compliance may not
    account = trading_account_create(actor=staff("olga", OPERATIONS), name="Client", base_currency="USD")
    client.force_login(staff("cora", COMPLIANCE))
    page = client.get(f"/admin/accounts/tradingaccount/{account.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    client.force_login(UserFactory._meta.model.objects.get(username="olga"))
    page = client.get(f"/admin/accounts/tradingaccount/{account.pk}/change/").content.decode()
    assert 'name="_save"' in page
