"""The FIX session's settings: defaults, and parsing from ``settings.BROKERS["fix44"]``.

Values may be given as their type or as strings (they usually come from the environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from django.core.exceptions import ImproperlyConfigured

DEFAULTS: Mapping[str, object] = MappingProxyType(
    {
        "sender_comp_id": "BACKOFFICE",  # 49 on what we send
        "target_comp_id": "VENUE",  # 56 on what we send
        "host": "127.0.0.1",
        "port": 9878,
        "heartbeat_seconds": 30,  # HeartBtInt (108) proposed at logon
        "reconnect_seconds": 5,  # between connection attempts
        "reset_on_logon": False,  # ResetSeqNumFlag (141): only where the counterparty asks for it
        "data_dir": "var/fix",  # the engine's message store and logs live under <data_dir>/<session>
        "tls": False,  # TLS to the counterparty (SSLProtocol etc. from the engine)
        "tls_ca_file": "",  # the counterparty's CA (PEM), with tls
        "tls_certificate": "",  # our client certificate (PEM), where the counterparty asks for one
        "tls_private_key": "",
        "answer_timeout_seconds": "5",  # how long a request waits for the venue's answer
        "positions": True,  # RequestForPositions (AN) at logon, where the counterparty supports it
        "log_messages": False,  # the engine's own message log files under the data dir
    }
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class FixSettings:
    sender_comp_id: str = "BACKOFFICE"
    target_comp_id: str = "VENUE"
    host: str = "127.0.0.1"
    port: int = 9878
    heartbeat_seconds: int = 30
    reconnect_seconds: int = 5
    reset_on_logon: bool = False
    data_dir: Path = Path("var/fix")
    tls: bool = False
    tls_ca_file: str = ""
    tls_certificate: str = ""
    tls_private_key: str = ""
    answer_timeout_seconds: float = 5.0
    positions: bool = True
    log_messages: bool = False

    @classmethod
    def parse(cls, raw: Mapping[str, object]) -> FixSettings:
        """Parse merged settings (unknown keys are refused by the registry); raise ImproperlyConfigured."""
        values = {**DEFAULTS, **raw}
        parsed = cls(
            sender_comp_id=_comp_id(values, "sender_comp_id"),
            target_comp_id=_comp_id(values, "target_comp_id"),
            host=str(values["host"]).strip(),
            port=_int(values, "port", low=1, high=65535),
            heartbeat_seconds=_int(values, "heartbeat_seconds", low=1, high=3600),
            reconnect_seconds=_int(values, "reconnect_seconds", low=1, high=3600),
            reset_on_logon=_bool(values, "reset_on_logon"),
            data_dir=Path(str(values["data_dir"])),
            tls=_bool(values, "tls"),
            tls_ca_file=str(values["tls_ca_file"] or ""),
            tls_certificate=str(values["tls_certificate"] or ""),
            tls_private_key=str(values["tls_private_key"] or ""),
            answer_timeout_seconds=_seconds(values, "answer_timeout_seconds"),
            positions=_bool(values, "positions"),
            log_messages=_bool(values, "log_messages"),
        )
        if not parsed.host:
            raise ImproperlyConfigured("fix44: host is required.")
        if parsed.sender_comp_id == parsed.target_comp_id:
            raise ImproperlyConfigured("fix44: sender_comp_id and target_comp_id must differ.")
        if parsed.tls and not parsed.tls_ca_file:
            raise ImproperlyConfigured("fix44: tls needs tls_ca_file (the counterparty's CA, PEM).")
        return parsed


def _comp_id(values: Mapping[str, Any], key: str) -> str:
    text = str(values.get(key) or "").strip()
    if not text or not text.isascii() or any(c in text for c in "\x01= |"):
        raise ImproperlyConfigured(f"fix44: {key} must be a non-empty ASCII id without spaces, '=' or '|'.")
    return text


def _int(values: Mapping[str, Any], key: str, *, low: int, high: int) -> int:
    raw = values.get(key)
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ImproperlyConfigured(f"fix44: {key} must be an integer.")
    try:
        number = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"fix44: {key} must be an integer, not {raw!r}.") from None
    if not low <= number <= high:
        raise ImproperlyConfigured(f"fix44: {key} must be between {low} and {high}.")
    return number


def _seconds(values: Mapping[str, Any], key: str) -> float:
    raw = values.get(key)
    try:
        number = float(str(raw))  # a duration, not money
    except ValueError:
        raise ImproperlyConfigured(f"fix44: {key} must be a number of seconds, not {raw!r}.") from None
    if not 0 < number <= 600:
        raise ImproperlyConfigured(f"fix44: {key} must be more than 0 and at most 600 seconds.")
    return number


def _bool(values: Mapping[str, Any], key: str) -> bool:
    raw = values.get(key)
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ImproperlyConfigured(f"fix44: {key} must be true or false, not {raw!r}.")
