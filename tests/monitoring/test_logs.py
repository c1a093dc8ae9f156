"""Structured logs: every line (stdlib loggers' too) carries the correlation id and the actor;
secrets never reach the output, whatever logs them."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from django.contrib.auth import get_user_model

from apps.core import context, logs

PASSWORD = "Corr3ct-Horse-Battery-Staple"  # the secret the output must not contain


@pytest.fixture
def captured():  # type: ignore[no-untyped-def]
    """Everything logged, at DEBUG, rendered as production renders it (JSON)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter_for("json"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
def test_log_ins_leave_no_password_or_token_in_the_logs(client, captured, caplog):
    caplog.set_level(logging.DEBUG)
    get_user_model().objects.create_user(username="trader", password=PASSWORD, is_staff=True, is_superuser=True)

    assert client.post("/admin/login/", {"username": "trader", "password": PASSWORD}).status_code == 302
    assert client.post("/admin/login/", {"username": "trader", "password": PASSWORD + "x"}).status_code == 200
    token_url, as_json = "/api/v1/auth/token/", "application/json"
    tokens = client.post(token_url, {"username": "trader", "password": PASSWORD}, content_type=as_json).json()
    failed = client.post(token_url, {"username": "trader", "password": PASSWORD + "x"}, content_type=as_json)
    assert failed.status_code == 401
    access, refresh = tokens["access"], tokens["refresh"]
    assert client.get("/api/v1/accounts/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    # the raw records (before masking) of Django, DRF and the log-in code hold none of them either
    assert caplog.records and all(secret not in caplog.text for secret in (PASSWORD, access, refresh))
    # code that logs them anyway: masked by key, and a token inside any text
    structlog.get_logger("test").warning("tokens", password=PASSWORD, access=access, data={"refresh": refresh})
    logging.getLogger("test").warning("header was Bearer %s, raw %s", access, refresh)

    output = captured.getvalue()
    assert output, "nothing was logged"
    for secret in (PASSWORD, access, refresh, access.split(".")[2]):
        assert secret not in output
    masked = next(line for line in lines(captured) if line["event"] == "tokens")
    assert masked["password"] == masked["access"] == masked["data"]["refresh"] == logs.MASK


def test_each_line_carries_the_unit_of_works_context(captured):
    logger = logging.getLogger("apps.test")
    with (
        context.bind(context.RequestContext(correlation_id="c0ffee", actor_id=7)),
        structlog.contextvars.bound_contextvars(account_id=3, order_id=42),
    ):
        logger.info("order %s placed", 42)
        structlog.get_logger("apps.test").info("booked", fills=1)
    logger.info("outside")
    first, second, third = lines(captured)
    assert first | {"timestamp": None} == {
        "event": "order 42 placed",
        "level": "info",
        "logger": "apps.test",
        "timestamp": None,
        "correlation_id": "c0ffee",
        "actor_id": 7,
        "account_id": 3,
        "order_id": 42,
    }
    assert (second["event"], second["fills"], second["order_id"], second["correlation_id"]) == (
        "booked",
        1,
        42,
        "c0ffee",
    )
    assert "correlation_id" not in third and "order_id" not in third


def test_console_and_json_are_the_formats():
    assert logs.logging_settings("json")["formatters"]["structured"]["fmt"] == "json"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.logging_settings("xml")
