"""Start and stop the stand-in: a real moto server over HTTP on 127.0.0.1 (S3, EC2, STS, SSM, Athena).

The process is ``python -m sim.moto_ext``: moto plus what this project adds to it (``sim/moto_ext``,
e.g. SSM ``DescribeAvailablePatches``). Used as a library (``MotoServer``), by the pytest fixture
in ``tests/conftest.py`` and as a command: ``python -m sim.moto_server --port 5055`` (runs until
interrupted).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

LOCAL_CREDENTIALS = {
    # moto accepts any credentials; these are placeholders, not secrets.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}
REPO = Path(__file__).resolve().parents[1]
# The first line ``python -m sim.moto_ext`` prints, once its port is bound: ``READY http://HOST:PORT ...``.
READY = "READY"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MotoServer:
    """A moto server process bound to 127.0.0.1; ``endpoint_url`` is what clients use."""

    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)
    _errors: IO[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3, pyarrow and Airflow at this server."""
        return {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url}

    def start(self, timeout: float = 120.0) -> MotoServer:
        """Start the process and wait for its ``READY`` line, which it prints once its port is bound.

        With ``port=0`` the process lets the kernel choose and reports the port: probing a free port
        here and binding it there would race every other process on the machine. The timeout is
        generous because two test workers may start Airflow, Chromium and this at once on 2 cores.
        """
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sim.moto_ext", "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=self._errors,
            cwd=REPO,
            env={**os.environ, **LOCAL_CREDENTIALS, "PYTHONPATH": path},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline() if select.select([self.process.stdout], [], [], timeout)[0] else None
        match = re.match(rb"%s http://127\.0\.0\.1:(\d+) " % READY.encode(), line or b"")
        if not match:
            if line == b"":  # its stdout closed: the process is exiting
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=10)
            code = self.process.poll()
            reason = (f"exited with code {code}" if code is not None else
                      f"did not bind within {timeout:.0f} s" if line is None else f"printed {line[:200]!r}")
            errors = self._error_tail()
            self.stop()
            raise RuntimeError(f"moto server {reason}: {errors or 'no error output'}")
        self.port = int(match.group(1))
        # Nothing else is printed: close our end so the child never blocks on a full pipe.
        self.process.stdout.close()
        return self

    def _error_tail(self, lines: int = 5) -> str:
        self._errors.seek(0)
        return " | ".join(self._errors.read().decode(errors="replace").strip().splitlines()[-lines:])

    def reset(self) -> None:
        """Forget all state (every account's resources, the extensions' state) without restarting."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a moto server on 127.0.0.1 until interrupted.")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args(argv)
    with MotoServer(port=args.port) as server:
        print(f"moto server on {server.endpoint_url} (Ctrl-C to stop)", flush=True)
        try:
            assert server.process is not None
            server.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
