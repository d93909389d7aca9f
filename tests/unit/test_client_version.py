"""The SDK (kato-client, its own version module) and the server release together."""

from __future__ import annotations

import kato
from kato.client.version import __version__ as client_version


def test_the_sdk_and_the_server_have_one_version() -> None:
    assert client_version == kato.__version__
