"""``python -m sim.moto_ext --port P``: the extended moto server on 127.0.0.1 until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import threading

from sim.moto_ext import install


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.moto_ext", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    registry = install()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print(f"moto server on http://127.0.0.1:{args.port} with simulator routes "
          f"{sorted(registry.routes)}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
