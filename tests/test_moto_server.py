"""Starting the stand-in (``sim/moto_server.py``, ``sim/moto_ext/__main__.py``): it binds and reports its port.

These start their own moto processes (not the session fixture) so that a start can be made to fail.
"""

from __future__ import annotations

import os
import socket
import urllib.request

import pytest
from moto import backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from sim.moto_ext.__main__ import list_moto_modules_once
from sim.moto_server import MotoServer


def test_a_kernel_chosen_port_is_read_from_the_process_and_answers() -> None:
    with MotoServer() as server:
        assert server.port > 0
        with urllib.request.urlopen(f"{server.endpoint_url}/moto-api/", timeout=10) as response:  # noqa: S310
            assert response.status == 200


def test_a_taken_port_fails_the_start_at_once_with_the_processes_own_reason() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MotoServer(port=port)
        with pytest.raises(RuntimeError) as failure:
            server.start(timeout=60)
    message = str(failure.value)
    assert message.startswith("moto server exited with code 1:")
    assert f"Port {port} is in use" in message
    assert server.process is None  # nothing left running


def test_moto_lists_its_modules_once_and_dispatches_by_host_as_before(monkeypatch) -> None:
    """The cached list is moto's own, and a Host naming a module still dispatches without a directory read."""
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)  # restored after the test
    listed = tuple(backends.list_of_moto_modules())
    assert list_moto_modules_once() == listed and {"s3", "ssm", "glue"} <= set(listed)

    def no_listing(path: str) -> list[str]:
        raise AssertionError(f"moto listed {path} again")

    monkeypatch.setattr(os, "listdir", no_listing)
    dispatcher = DomainDispatcherApplication(create_backend_app)
    assert [dispatcher.get_backend_for_host(host) for host in ("s3", "glue", "moto_api")] == ["s3", "glue", "moto_api"]
    assert tuple(backends.list_of_moto_modules()) == listed
