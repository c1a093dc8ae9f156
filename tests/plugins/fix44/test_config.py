"""The FIX session's settings: parsed from strings (the environment), refused with a clear
message when unsafe or wrong, and turned into the engine's session configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from plugins.fix44.config import FixSettings
from plugins.fix44.engine import session_config


def test_strings_from_the_environment_are_parsed():
    parsed = FixSettings.parse({"port": "9001", "heartbeat_seconds": "2", "reset_on_logon": "yes", "data_dir": "/x"})
    assert (parsed.port, parsed.heartbeat_seconds, parsed.reset_on_logon) == (9001, 2, True)
    assert parsed.data_dir == Path("/x")
    assert parsed.answer_timeout_seconds == 5.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"port": "0"}, "port must be between 1 and 65535"),
        ({"port": "http"}, "port must be an integer"),
        ({"sender_comp_id": "A B"}, "sender_comp_id must be a non-empty ASCII id"),
        ({"sender_comp_id": "VENUE"}, "must differ"),
        ({"tls": "true"}, "tls needs tls_ca_file"),
        ({"reset_on_logon": "maybe"}, "reset_on_logon must be true or false"),
        ({"answer_timeout_seconds": "0"}, "answer_timeout_seconds must be more than 0"),
        ({"host": " "}, "host is required"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(values, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        FixSettings.parse(values)


def test_the_engine_configuration_names_the_session_and_keeps_its_store_under_the_data_dir(tmp_path):
    settings = FixSettings.parse({"data_dir": str(tmp_path), "port": "9100", "heartbeat_seconds": "7"})
    text = session_config("fix44", settings)
    assert "SenderCompID=BACKOFFICE\n" in text and "TargetCompID=VENUE\n" in text
    assert "SocketConnectPort=9100\n" in text and "HeartBtInt=7\n" in text
    assert f"FileStorePath={tmp_path.resolve() / 'fix44' / 'store'}\n" in text
    assert "ResetOnLogon=N\n" in text and "SSLEnable" not in text


def test_tls_adds_the_engines_tls_settings(tmp_path):
    settings = FixSettings.parse({"tls": "on", "tls_ca_file": "/etc/venue-ca.pem", "data_dir": str(tmp_path)})
    text = session_config("fix44", settings)
    assert "SSLEnable=Y\n" in text and "CertificationAuthoritiesFile=/etc/venue-ca.pem\n" in text
