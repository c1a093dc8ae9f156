"""The kill switch in the admin: two clicks from an account, an instrument or the trading-state
list; a reason is required; halting can cancel every open order in its scope through the
brokers' outbox, each cancel recorded with the kill switch as initiator."""

from __future__ import annotations

import pytest

from apps.brokers.models import OrderInstruction
from apps.core.errors import ValidationError
from apps.orders.models import OrderEvent
from apps.risk.models import TradingState
from apps.risk.services import kill_switch_set
from apps.users.roles import COMPLIANCE, OPERATIONS
from tests.compliance.admin_support import buy, fund, staff
from tests.factories import InstrumentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance_user(db):  # type: ignore[no-untyped-def]
    return staff("carla", COMPLIANCE)


@pytest.fixture
def ops_user(db):  # type: ignore[no-untyped-def]
    return staff("oscar", OPERATIONS)


@pytest.fixture
def two_accounts(make_account, instrument, actor):  # type: ignore[no-untyped-def]
    a, b = fund(make_account(), actor), fund(make_account(), actor)
    return a, b


def url(scope: str, target: int | None, state: str) -> str:
    if scope == "global":
        return f"/admin/risk/tradingstate/kill-switch/global/{state}/"
    return f"/admin/risk/tradingstate/kill-switch/{scope}/{target}/{state}/"


def test_halt_an_account_in_two_clicks_and_cancel_its_open_orders(
    client, two_accounts, instrument, actor, compliance_user
) -> None:
    a, b = two_accounts
    mine = [buy(actor, a), buy(actor, a)]
    unsent = buy(actor, a)  # still in the outbox: canceled here at once
    other = buy(actor, b)
    OrderInstruction.objects.filter(order__in=mine).update(status="done")  # these are at the venue
    client.force_login(compliance_user)
    # Click 1: the account page offers the control.
    page = client.get(f"/admin/accounts/tradingaccount/{a.pk}/change/").content.decode()
    assert f'href="{url("account", a.pk, "halted")}"' in page and ">Halt trading<" in page
    form = client.get(url("account", a.pk, "halted"))
    assert form.status_code == 200
    html = form.content.decode()
    assert 'value="Halt trading"' in html and 'name="cancel_open_orders"' in html and 'name="reason"' in html
    # Click 2: confirm with a reason.
    done = client.post(url("account", a.pk, "halted"), {"reason": "Suspicious activity", "cancel_open_orders": "on"})
    assert done.status_code == 302 and done["Location"] == f"/admin/accounts/tradingaccount/{a.pk}/change/"
    state = TradingState.objects.get(scope="account", account=a)
    assert (state.state, state.reason, state.updated_by_id) == ("halted", "Suspicious activity", compliance_user.pk)
    for order in mine:
        order.refresh_from_db()
        assert order.status == "pending_cancel"
        cancel = OrderEvent.objects.get(order=order, kind="cancel_requested")
        assert (cancel.initiator, cancel.actor_id, cancel.data["reason"]) == (
            "kill_switch",
            compliance_user.pk,
            "Suspicious activity",
        )
        assert OrderInstruction.objects.filter(order=order, action="cancel", status="pending").exists()
    unsent.refresh_from_db()
    assert unsent.status == "canceled" and unsent.hold.remaining == 0
    assert OrderEvent.objects.get(order=unsent, kind="canceled").initiator == "kill_switch"
    assert not OrderInstruction.objects.filter(order=unsent, action="cancel").exists()
    other.refresh_from_db()
    assert other.status == "pending_new"
    assert not OrderInstruction.objects.filter(order=other, action="cancel").exists()
    # The very next order of the account is refused.
    assert buy(actor, a).reject_reason == "trading_halted"
    assert buy(actor, b).status == "pending_new"
    followed = client.get(done["Location"]).content.decode()
    assert "3 open order(s) canceled or sent for cancel" in followed


def test_a_reason_is_required_and_nothing_changes_without_one(client, two_accounts, actor, compliance_user) -> None:
    a, _ = two_accounts
    order = buy(actor, a)
    client.force_login(compliance_user)
    for reason in ("", "   "):
        response = client.post(url("account", a.pk, "halted"), {"reason": reason, "cancel_open_orders": "on"})
        assert response.status_code == 400
        assert "A reason is required." in response.content.decode()
    assert not TradingState.objects.exists()
    order.refresh_from_db()
    assert order.status == "pending_new"
    assert not OrderEvent.objects.filter(order=order, kind="cancel_requested").exists()


def test_reduce_only_and_resume_an_instrument(client, two_accounts, instrument, actor, compliance_user) -> None:
    a, _ = two_accounts
    client.force_login(compliance_user)
    page = client.get(f"/admin/instruments/instrument/{instrument.pk}/change/").content.decode()
    assert url("instrument", instrument.pk, "reducing") in page and ">Reduce only<" in page
    form = client.get(url("instrument", instrument.pk, "reducing")).content.decode()
    assert 'value="Reduce only"' in form and "cancel_open_orders" not in form
    response = client.post(url("instrument", instrument.pk, "reducing"), {"reason": "Corporate action"})
    assert response.status_code == 302
    assert buy(actor, a).reject_reason == "trading_reducing"
    response = client.post(url("instrument", instrument.pk, "active"), {"reason": "Done"})
    assert response.status_code == 302
    assert TradingState.objects.get(scope="instrument", instrument=instrument).state == "active"
    assert buy(actor, a).status == "pending_new"


def test_global_halt_from_the_trading_state_list(client, two_accounts, actor, compliance_user) -> None:
    a, b = two_accounts
    orders = [buy(actor, a), buy(actor, b)]
    client.force_login(compliance_user)
    listing = client.get("/admin/risk/tradingstate/").content.decode()
    assert url("global", None, "halted") in listing
    response = client.post(
        url("global", None, "halted"), {"reason": "Market-wide incident", "cancel_open_orders": "on"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/risk/tradingstate/"
    for order in orders:
        order.refresh_from_db()
        assert order.status == "canceled"  # neither had left the outbox
    assert buy(actor, b).reject_reason == "trading_halted"
    client.post(url("global", None, "active"), {"reason": "Incident over"})
    assert buy(actor, b).status == "pending_new"


def test_only_those_allowed_see_or_use_the_kill_switch(client, two_accounts, actor, ops_user) -> None:
    a, _ = two_accounts
    order = buy(actor, a)
    client.force_login(ops_user)
    page = client.get(f"/admin/accounts/tradingaccount/{a.pk}/change/").content.decode()
    assert "/kill-switch/" not in page and ">Halt trading</a>" not in page
    assert client.get(url("account", a.pk, "halted")).status_code == 403
    response = client.post(url("account", a.pk, "halted"), {"reason": "x", "cancel_open_orders": "on"})
    assert response.status_code == 403
    assert not TradingState.objects.exists()
    order.refresh_from_db()
    assert order.status == "pending_new"
    client.logout()
    response = client.post(url("account", a.pk, "halted"), {"reason": "x"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not TradingState.objects.exists()


def test_unknown_targets_and_states_are_not_found(client, two_accounts, compliance_user) -> None:
    a, _ = two_accounts
    client.force_login(compliance_user)
    assert client.post(url("account", a.pk, "frozen"), {"reason": "x"}).status_code == 404
    assert client.post(url("account", 999999, "halted"), {"reason": "x"}).status_code == 404
    assert client.post(url("instrument", 999999, "halted"), {"reason": "x"}).status_code == 404
    assert client.post("/admin/risk/tradingstate/kill-switch/desk/1/halted/", {"reason": "x"}).status_code == 404
    assert not TradingState.objects.exists()


def test_cancelling_needs_a_halt(two_accounts, actor, compliance_user) -> None:
    a, _ = two_accounts
    order = buy(actor, a)
    with pytest.raises(ValidationError) as info:
        kill_switch_set(actor=compliance_user, state="reducing", reason="x", account=a, cancel_open_orders=True)
    assert info.value.code == "cancel_requires_halt"
    assert not TradingState.objects.exists()
    order.refresh_from_db()
    assert order.status == "pending_new"


def test_orders_that_already_ended_are_skipped(two_accounts, actor, compliance_user) -> None:
    a, _ = two_accounts
    instrument2 = InstrumentFactory()
    from apps.instruments.services import reference_price_set

    reference_price_set(actor=actor, instrument=instrument2, price="50.00")
    kept = buy(actor, a, symbol=instrument2.symbol, limit="50.00")
    result = kill_switch_set(
        actor=compliance_user, state="halted", reason="Instrument halt", instrument=instrument2, cancel_open_orders=True
    )
    assert result.canceled == [kept.pk] and result.skipped == []
    again = kill_switch_set(
        actor=compliance_user, state="halted", reason="Again", instrument=instrument2, cancel_open_orders=True
    )
    assert again.canceled == []  # pending cancel: already on its way out


def test_the_trading_state_admin_requires_a_reason_sets_who_and_never_deletes(
    client, two_accounts, compliance_user
) -> None:
    a, _ = two_accounts
    client.force_login(compliance_user)
    bad = client.post("/admin/risk/tradingstate/add/", {"scope": "account", "account": a.pk, "state": "halted"})
    assert bad.status_code == 200 and "This field is required" in bad.content.decode()
    mismatch = client.post(
        "/admin/risk/tradingstate/add/", {"scope": "global", "account": a.pk, "state": "halted", "reason": "x"}
    )
    assert "A global state has neither an account nor an instrument." in mismatch.content.decode()
    assert not TradingState.objects.exists()
    ok = client.post(
        "/admin/risk/tradingstate/add/", {"scope": "account", "account": a.pk, "state": "halted", "reason": "Review"}
    )
    assert ok.status_code == 302
    state = TradingState.objects.get()
    assert state.updated_by_id == compliance_user.pk
    change = client.get(f"/admin/risk/tradingstate/{state.pk}/change/").content.decode()
    assert ">Review</textarea>" not in change  # a fresh reason for every change
    again = client.post(f"/admin/risk/tradingstate/{state.pk}/change/", {"state": "active", "reason": ""})
    assert again.status_code == 200
    state.refresh_from_db()
    assert state.state == "halted"
    assert client.post(f"/admin/risk/tradingstate/{state.pk}/delete/", {"post": "yes"}).status_code == 403
    assert TradingState.objects.filter(pk=state.pk).exists()
