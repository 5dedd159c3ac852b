"""Starting the stand-in (``sim/moto_server.py``): the process binds its own port and reports it.

These start their own moto processes (not the session fixture) so that a start can be made to fail.
"""

from __future__ import annotations

import socket
import urllib.request

import pytest

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
