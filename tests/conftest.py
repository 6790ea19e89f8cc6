"""Shared test set-up: the network is blocked for every test.

Like osmnx's own suite, tests never reach the internet: any socket connection
to a non-loopback address raises. Tests that exercise download code run a
local HTTP server on 127.0.0.1 and point the code at it.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect
_real_create_connection = socket.create_connection


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:  # unix sockets and the like
        return True
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> object:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise RuntimeError(f"network access blocked in tests: {address!r}")
    return _real_connect(self, address)


def _guarded_create_connection(address: object, *args: object, **kwargs: object) -> object:
    if not _is_loopback(address):
        raise RuntimeError(f"network access blocked in tests: {address!r}")
    return _real_create_connection(address, *args, **kwargs)


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket, "create_connection", _guarded_create_connection)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point territory's cache dir at a temporary folder for every test."""
    monkeypatch.setenv("TERRITORY_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
