"""The stand-in's Glue ``UpdateTable`` honours ``VersionId`` as Glue does (sim/moto_ext/glue_tables.py)."""

from __future__ import annotations

import boto3
import pytest


@pytest.fixture
def glue(aws_env):
    client = boto3.client("glue")
    client.create_database(DatabaseInput={"Name": "lake"})
    client.create_table(DatabaseName="lake", TableInput={"Name": "t", "Parameters": {"v": "0"}})
    return client


def _update(glue, value: str, **version: str) -> None:
    glue.update_table(DatabaseName="lake", TableInput={"Name": "t", "Parameters": {"v": value}}, **version)


def _current(glue) -> tuple[str, str]:
    table = glue.get_table(DatabaseName="lake", Name="t")["Table"]
    return table["VersionId"], table["Parameters"]["v"]


def test_an_update_at_the_current_version_wins_and_a_stale_one_is_refused(glue) -> None:
    read_by_both, _ = _current(glue)
    _update(glue, "first", VersionId=read_by_both)
    with pytest.raises(glue.exceptions.ConcurrentModificationException, match="concurrent modifications"):
        _update(glue, "second", VersionId=read_by_both)
    version, value = _current(glue)
    assert value == "first" and version == str(int(read_by_both) + 1)


def test_an_update_without_a_version_is_applied_as_moto_does(glue) -> None:
    _update(glue, "unconditional")
    assert _current(glue)[1] == "unconditional"
