"""``python -m sim.moto_ext --port P [--host H]``: the extended moto server until SIGTERM/SIGINT.

It binds 127.0.0.1 unless told otherwise (a container publishing the port to the host's 127.0.0.1
passes ``--host 0.0.0.0``). ``--port 0`` lets the kernel choose: the process binds before it prints
its first line, ``READY http://HOST:PORT``, so a parent reads the real address instead of racing other
processes for a port it probed earlier. A port that cannot be bound ends the process with an error.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from sim.moto_ext import install
from sim.moto_server import READY


def list_moto_modules_once() -> tuple[str, ...]:
    """Make moto's module list a constant of the process; returns it.

    moto's dispatcher lists its own package directory (a ``listdir`` and ~200 ``stat`` calls) on every
    request, while holding the lock that serialises dispatch, to ask whether the Host names a moto
    module: a fifth of the stand-in's busy time in the demo. The installed package cannot change while
    the server runs, so it is listed once.
    """
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    return modules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.moto_ext", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    args = parser.parse_args(argv)
    registry = install()
    list_moto_modules_once()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    # moto's ThreadedMotoServer binds inside its thread and waits forever when that fails; binding here
    # turns a taken port into an exit code.
    server = make_server(args.host, args.port, DomainDispatcherApplication(create_backend_app), threaded=True,
                         request_handler=MotoRequestHandler)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request: stderr is for errors
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    print(f"{READY} http://{args.host}:{server.port} with simulator routes {sorted(registry.routes)}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
