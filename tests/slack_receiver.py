"""A real HTTP server on 127.0.0.1 that stands in for a Slack incoming webhook in tests.

It records every POST (path, headers, parsed JSON body) and answers ``200 ok`` like Slack does.
Use it as a context manager, or through the ``slack_webhook`` fixture, which also points the
``slack_webhook`` Airflow connection at it via ``AIRFLOW_CONN_SLACK_WEBHOOK``::

    from tests.slack_receiver import slack_webhook  # noqa: F401  (fixture)

    def test_alert(slack_webhook):
        send_slack("hi", blocks)
        assert slack_webhook.wait_for(1)[0].body["text"] == "hi"
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

WEBHOOK_TOKEN = "T00000000/B00000000/testtoken0000000000000"


@dataclass(frozen=True)
class CapturedRequest:
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when the body is not JSON

    def text_content(self) -> str:
        """Every text string of the message (fallback text and all blocks), for content assertions."""
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    if key == "text" and isinstance(item, str):
                        found.append(item)
                    else:
                        walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(self.body)
        return "\n".join(found)


class SlackReceiver:
    """Start on a free port; ``requests`` lists what was posted; ``status`` sets the reply code."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[CapturedRequest] = []
        self.status = status
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                try:
                    body: Any = json.loads(raw)
                except json.JSONDecodeError:
                    body = raw
                with receiver._lock:
                    receiver.requests.append(CapturedRequest(self.path, dict(self.headers), body))
                    receiver._lock.notify_all()
                reply = b"ok" if receiver.status == 200 else b"invalid_token"
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_args: Any) -> None:  # keep test output clean
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-receiver", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def webhook_path(self) -> str:
        return f"/services/{WEBHOOK_TOKEN}"

    def connection_json(self) -> str:
        """The ``slackwebhook`` connection (as ``AIRFLOW_CONN_<ID>`` JSON) that posts here."""
        return json.dumps({"conn_type": "slackwebhook", "host": f"{self.base_url}/services",
                           "password": WEBHOOK_TOKEN})

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CapturedRequest]:
        """Block until ``count`` requests arrived; fail loudly if they do not."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} webhook POSTs, got {len(self.requests)}")
                self._lock.wait(left)
            return list(self.requests)

    def start(self) -> SlackReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SlackReceiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@pytest.fixture
def slack_webhook(monkeypatch: pytest.MonkeyPatch):
    """A running receiver, with the ``slack_webhook`` Airflow connection pointing at it."""
    with SlackReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_WEBHOOK", receiver.connection_json())
        yield receiver
