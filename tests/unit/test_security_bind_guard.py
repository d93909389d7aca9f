"""Secure default: no auth means loopback only, unless explicitly insecure (with a warning)."""

from __future__ import annotations

import logging

import pytest

from kato.config import SecuritySettings
from kato.security import InsecureBindError
from kato.security.bind_guard import check_bind, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("kato.example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_auth_none_on_loopback_starts_silently(caplog):
    with caplog.at_level(logging.WARNING, logger="kato.security"):
        check_bind("127.0.0.1", SecuritySettings(auth_mode="none"))
    assert caplog.records == []


def test_auth_none_on_network_is_refused():
    with pytest.raises(InsecureBindError, match="--insecure"):
        check_bind("0.0.0.0", SecuritySettings(auth_mode="none"))


def test_insecure_flag_allows_it_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="kato.security"):
        check_bind("0.0.0.0", SecuritySettings(auth_mode="none", insecure=True))
    assert any("INSECURE" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("mode", ["api_key", "jwt", "api_key+jwt"])
def test_authenticated_modes_may_bind_anywhere(mode, caplog):
    with caplog.at_level(logging.WARNING, logger="kato.security"):
        check_bind("0.0.0.0", SecuritySettings(auth_mode=mode))
    assert caplog.records == []
