"""The admin for compliance staff in a real headless Chromium, against a live server.

A compliance user logs in through the admin's login form with a real password, reads an
order's timeline, halts trading for an account with the kill switch (two clicks and a
reason) after which the account's next order is rejected with ``trading_halted``, and finds
no way to edit or delete a ledger row, not even with a crafted POST carrying a valid CSRF
token. An operations user is not offered the kill switch.

Orders are placed through the real services and, after the halt, through the REST API on the
live server with the account owner's JWT.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts.services import trading_account_create
from apps.core.actors import system_actor
from apps.ledger.models import JournalEntry, JournalTransaction
from apps.orders.models import Order, OrderEvent
from apps.risk.models import TradingState
from tests.browser.conftest import admin_login
from tests.compliance.admin_support import acknowledge, buy, fill, fund
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MICROSECOND_UTC = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6} UTC$")


@pytest.fixture
def trader(db: Any) -> Any:
    return UserFactory(username="tina")


@pytest.fixture
def trading_account(trader: Any, instrument: Any) -> Any:
    """Tina's account, funded, with the ACME instrument priced at 100.00."""
    actor = system_actor()
    account = trading_account_create(actor=actor, name="Tina's account", base_currency="USD", owner=trader)
    return fund(account, actor)


def place_order_through_api(browser: Any, base_url: str, user: Any, account: Any, client_order_id: str) -> Any:
    """POST /api/v1/orders/ on the live server as ``user`` (JWT), from a cookie-less context."""
    context = browser.new_context(base_url=base_url)
    try:
        response = context.request.post(
            "/api/v1/orders/",
            headers={"Authorization": f"Bearer {AccessToken.for_user(user)}", "Content-Type": "application/json"},
            data=json.dumps(
                {
                    "account": account.pk,
                    "symbol": "ACME",
                    "side": "buy",
                    "type": "limit",
                    "quantity": "1",
                    "limit_price": "100.00",
                    "time_in_force": "day",
                    "client_order_id": client_order_id,
                }
            ),
        )
        return response.status, response.json()
    finally:
        context.close()


def csrf_token(page: Any) -> str:
    tokens = [c["value"] for c in page.context.cookies() if c["name"] == "csrftoken"]
    assert tokens, "no csrftoken cookie after logging in"
    return tokens[0]


def crafted_post(page: Any, url: str, fields: dict[str, str]) -> dict[str, Any]:
    """A form POST from inside the logged-in page (same origin, session cookie, valid CSRF token)."""
    return page.evaluate(
        """async ([url, fields]) => {
            const body = new FormData();
            for (const [name, value] of Object.entries(fields)) body.append(name, value);
            const response = await fetch(url, {
                method: "POST", body, credentials: "same-origin", redirect: "manual",
                headers: {"X-CSRFToken": fields.csrfmiddlewaretoken},
            });
            return {status: response.status, type: response.type, text: await response.text()};
        }""",
        [url, fields],
    )


# 1. The order timeline ---------------------------------------------------------------------


def test_compliance_user_logs_in_and_reads_an_order_timeline(page, compliance_user, trader, trading_account) -> None:
    order = buy(trader, trading_account, quantity="3")  # apps.orders.placement.order_place, as Tina
    acknowledge(order)
    fill(order, "1")
    events = list(OrderEvent.objects.filter(order=order).select_related("actor").order_by("id"))
    assert len(events) >= 3

    admin_login(page, compliance_user.username)
    page.goto(f"/admin/orders/order/{order.pk}/change/")
    page.click("a.order-timeline-link")
    page.wait_for_url(f"**/admin/orders/order/{order.pk}/timeline/")
    assert page.locator("h1").inner_text() == f"Timeline of order {order.pk}"

    rows = page.locator("#order-timeline tbody tr.timeline-event")
    assert rows.count() == len(events)
    times = rows.locator("td.timeline-at").all_inner_texts()
    actors = rows.locator("td.timeline-actor").all_inner_texts()
    for text in times:
        assert MICROSECOND_UTC.match(text.strip()), text
    # Each event's exact stored time (microseconds included) and its actor, in order.
    assert [t.strip() for t in times] == [e.at.strftime("%Y-%m-%d %H:%M:%S.%f UTC") for e in events]
    assert [a.strip() for a in actors] == [e.actor.get_username() for e in events]
    assert actors[0].strip() == "tina"  # the order was placed by its owner
    # The fill is on the timeline too, with its own microsecond time.
    fill_row = page.locator("#order-timeline tbody tr.timeline-fill")
    assert fill_row.count() == 1
    assert MICROSECOND_UTC.match(fill_row.locator("td.timeline-at").inner_text().strip())


# 2. The kill switch ------------------------------------------------------------------------


def test_compliance_user_halts_an_account_with_a_reason_and_its_next_order_is_rejected(
    page, browser, live_server, compliance_user, trader, trading_account
) -> None:
    before = buy(trader, trading_account)
    assert before.status == "pending_new"

    admin_login(page, compliance_user.username)
    page.goto(f"/admin/accounts/tradingaccount/{trading_account.pk}/change/")
    # Click 1: the control on the account page.
    page.click("a.kill-switch-halted")
    page.wait_for_url(f"**/admin/risk/tradingstate/kill-switch/account/{trading_account.pk}/halted/")
    assert trading_account.number in page.locator("#kill-switch-target").inner_text()
    page.fill("#id_reason", "Suspected account takeover")
    # Click 2: confirm.
    page.click("#kill-switch-form input[type=submit][value='Halt trading']")
    page.wait_for_url(f"**/admin/accounts/tradingaccount/{trading_account.pk}/change/")
    assert "is now Halted" in page.locator("ul.messagelist").inner_text()
    assert "Suspected account takeover" in page.locator(".kill-switch-status").inner_text()

    state = TradingState.objects.get(scope="account", account=trading_account)
    assert (state.state, state.reason, state.updated_by_id) == (
        "halted",
        "Suspected account takeover",
        compliance_user.pk,
    )
    # The very next order for the account, through the REST API on the live server...
    status, problem = place_order_through_api(browser, live_server.url, trader, trading_account, "after-halt-1")
    assert (status, problem["code"]) == (422, "trading_halted")
    rejected = Order.objects.get(pk=problem["order_id"])
    assert (rejected.status, rejected.reject_reason) == ("rejected", "trading_halted")
    # ... and through the service.
    assert buy(trader, trading_account).reject_reason == "trading_halted"


def test_halting_without_a_reason_shows_an_error_and_changes_nothing(
    page, browser, live_server, compliance_user, trader, trading_account
) -> None:
    admin_login(page, compliance_user.username)
    page.goto(f"/admin/accounts/tradingaccount/{trading_account.pk}/change/")
    page.click("a.kill-switch-halted")
    page.wait_for_url(f"**/kill-switch/account/{trading_account.pk}/halted/")
    page.fill("#id_reason", "   ")  # blank after stripping
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("#kill-switch-form input[type=submit][value='Halt trading']")
    assert posted.value.status == 400
    assert page.url.endswith(f"/kill-switch/account/{trading_account.pk}/halted/")
    assert "A reason is required." in page.locator("#kill-switch-form .errorlist").inner_text()
    assert page.locator("#kill-switch-current").inner_text() == "Active"

    assert not TradingState.objects.filter(account=trading_account).exists()
    status, body = place_order_through_api(browser, live_server.url, trader, trading_account, "no-halt-1")
    assert (status, body["status"]) == (201, "pending_new")


# 3. Ledger rows cannot be edited or deleted -------------------------------------------------


def _snapshot(txn_id: int) -> tuple[Any, ...]:
    txn = JournalTransaction.objects.get(pk=txn_id)
    entries = tuple(
        JournalEntry.objects.filter(transaction_id=txn_id)
        .order_by("id")
        .values_list("id", "ledger_account_id", "amount", "balance_after", "account_version")
    )
    return (txn.kind, txn.reference, txn.memo, txn.posted_at, txn.actor_id, txn.idempotency_key, entries)


def assert_no_edit_or_delete_control(page: Any) -> None:
    main = page.locator("#content-main")
    assert main.locator("input[type=submit], button[type=submit], button:not([type])").count() == 0
    assert main.get_by_role("button", name=re.compile(r"save|delete", re.I)).count() == 0
    assert main.get_by_role("link", name=re.compile(r"delete", re.I)).count() == 0
    assert main.locator("a.deletelink, .deletelink-box").count() == 0
    editable = main.locator("input:not([type=hidden]), textarea, select, [contenteditable=true]")
    assert editable.count() == 0, editable.evaluate_all("els => els.map(e => e.outerHTML)")


def test_compliance_user_cannot_edit_or_delete_a_ledger_row(page, compliance_user, trading_account) -> None:
    txn = JournalTransaction.objects.filter(entries__ledger_account__trading_account=trading_account).distinct().get()
    entry = JournalEntry.objects.filter(transaction=txn).order_by("id").first()
    assert entry is not None
    before = _snapshot(txn.pk)

    admin_login(page, compliance_user.username)
    for url in (
        f"/admin/ledger/journaltransaction/{txn.pk}/change/",
        f"/admin/ledger/journalentry/{entry.pk}/change/",
    ):
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        assert page.locator("#content-main div.readonly").count() > 0, "the row's fields are not shown"
        assert_no_edit_or_delete_control(page)

    token = csrf_token(page)
    crafted = {
        "csrfmiddlewaretoken": token,
        "memo": "tampered",
        "reference": "tampered",
        "amount": "999999.00",
        "_save": "Save",
        "post": "yes",  # the delete confirmation's field
    }
    for url in (
        f"/admin/ledger/journaltransaction/{txn.pk}/change/",
        f"/admin/ledger/journaltransaction/{txn.pk}/delete/",
        f"/admin/ledger/journalentry/{entry.pk}/change/",
        f"/admin/ledger/journalentry/{entry.pk}/delete/",
    ):
        result = crafted_post(page, url, crafted)
        assert result["status"] in (403, 405), (url, result["status"])
        assert "CSRF" not in result["text"], "refused by the CSRF check, not by the permission"
    # Also through Playwright's request API (same cookies, token in the header and the form).
    refused = page.request.post(
        f"/admin/ledger/journaltransaction/{txn.pk}/delete/",
        form={"csrfmiddlewaretoken": token, "post": "yes"},
        headers={"X-CSRFToken": token, "Referer": page.url},
        max_redirects=0,
    )
    assert refused.status in (403, 405) and "CSRF" not in refused.text()

    assert _snapshot(txn.pk) == before
    assert JournalTransaction.objects.filter(pk=txn.pk).exists()


# 4. Operations does not get the kill switch --------------------------------------------------


def test_operations_user_sees_no_kill_switch_control(page, ops_user, trading_account) -> None:
    admin_login(page, ops_user.username)
    response = page.goto(f"/admin/accounts/tradingaccount/{trading_account.pk}/change/")
    assert response is not None and response.status == 200
    assert page.locator(".kill-switch-status").count() == 1  # sees the state...
    assert page.locator("a[class^=kill-switch-]").count() == 0  # ...but no control
    assert page.get_by_role("link", name=re.compile(r"halt|reduce only|resume", re.I)).count() == 0
    direct = page.goto(f"/admin/risk/tradingstate/kill-switch/account/{trading_account.pk}/halted/")
    assert direct is not None and direct.status == 403
    assert not TradingState.objects.filter(account=trading_account).exists()
