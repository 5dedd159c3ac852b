"""Shared fixtures: a real moto server over HTTP, clean AWS environment variables, Jinja's compiles."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest

from sim.moto_server import LOCAL_CREDENTIALS, MotoServer

# No test may touch a user's ~/airflow: Airflow reads AIRFLOW_HOME once, when a test first imports it.
os.environ.setdefault("AIRFLOW_HOME", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "airflow_parse_home"))


@pytest.fixture(scope="session")
def moto_server():
    """One moto server on 127.0.0.1 for the test session (reset it per test when state matters)."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Point boto3 and pyarrow at the moto server, with placeholder credentials and fresh state."""
    moto_server.reset()
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    return moto_server


@pytest.fixture
def compiled_templates(monkeypatch) -> list[str]:
    """The names of the templates Jinja compiles from now on (a list that fills as they are)."""
    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(str(name))
        return original(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return compiled


def pytest_configure(config):
    # Nothing in the suite may reach real AWS: default every client to placeholder credentials.
    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
