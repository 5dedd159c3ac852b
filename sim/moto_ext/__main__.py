"""``python -m sim.moto_ext --port P [--host H]``: the extended moto server until SIGTERM/SIGINT.

It binds 127.0.0.1 unless told otherwise (a container publishing the port to the host's 127.0.0.1
passes ``--host 0.0.0.0``).
"""

from __future__ import annotations

import argparse
import signal
import threading

from sim.moto_ext import install


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.moto_ext", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    args = parser.parse_args(argv)
    registry = install()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    print(f"moto server on http://{args.host}:{args.port} with simulator routes "
          f"{sorted(registry.routes)}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
