"""How managed SSM objects are marked and named (patch_compliance.marker): the marker's exact text, read back."""

from __future__ import annotations

import pytest

from patch_compliance.marker import marked_length, marker_fingerprint, task_suffix, with_marker

DIGEST = "0123456789ab"


def test_the_marker_is_appended_after_a_space_or_stands_alone() -> None:
    assert with_marker("Weekly install", DIGEST) == "Weekly install [managed by patch-compliance; spec 0123456789ab]"
    assert with_marker("", DIGEST) == "[managed by patch-compliance; spec 0123456789ab]"


@pytest.mark.parametrize(("description", "digest"), [
    ("Weekly install [managed by patch-compliance; spec 0123456789ab]", DIGEST),
    ("[managed by patch-compliance; spec fedcba987654]", "fedcba987654"),
    ("Weekly install", None),
    ("[managed by patch-compliance; spec 0123456789ab] and then an edit", None),  # not at the end
    ("[managed by patch-compliance; spec 0123456789]", None),  # ten hex characters, not twelve
    ("[managed by patch-compliance; spec 0123456789AB]", None),  # upper case is not what is written
    ("[managed by terraform; spec 0123456789ab]", None),
    ("", None),
    (None, None),
])
def test_the_fingerprint_is_read_back_only_from_a_marker_ending_the_description(description, digest) -> None:
    assert marker_fingerprint(description) == digest


def test_a_marked_description_is_48_characters_longer_than_the_description() -> None:
    # " [" + "managed by patch-compliance" (27) + "; spec " (7) + 12 hex + "]": 2 + 27 + 7 + 12 + 1 = 49,
    # less the leading space when there is no description
    assert marked_length("") == 48
    assert marked_length("x" * 79) == 79 + 49 == 128  # the longest window description SSM's 128 allows


def test_a_windows_task_is_named_after_its_operation_in_lower_case() -> None:
    assert (task_suffix("Install"), task_suffix("Scan")) == ("-install", "-scan")
