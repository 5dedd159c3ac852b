"""The config's value types and the one-line description of a failed load (patch_compliance.config_types).

The validators are checked on their own (through pydantic's TypeAdapter, as a section's field uses
them) and the description through a load of the project's config with mistakes in it.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Annotated, Any

import pytest
from pydantic import TypeAdapter, ValidationError

from patch_compliance import config_types as types
from tests.fixtures.config_edits import RAW, RULE, WINDOW, at, edited, rejects


@pytest.mark.parametrize(("path", "typo", "suggestion"), [
    ("", "qualty", "quality"),
    ("quality", "tag_coverge_min", "tag_coverage_min"),
    ("accounts[1]", "rol_arn", "role_arn"),
    ("patch_catalog.feeds[0]", "mirorr_list", "mirror_list"),
    ("maintenance_windows[1]", "targets_", "targets"),
])
def test_a_typo_names_its_path_and_the_key_meant(path: str, typo: str, suggestion: str) -> None:
    config = copy.deepcopy(RAW)
    at(config, path)[typo] = at(config, path).pop(suggestion, "x")
    rejects(config, f"{path + '.' if path else ''}{typo}: unknown key (did you mean {suggestion!r}?")


def test_every_bad_value_of_a_load_is_reported_at_once() -> None:
    message = rejects(edited({f"{RULE}.approve_after_days": 400, f"{WINDOW}.priority": 9,
                              "maintenance_windows[1].operation": "Reboot"}), f"{RULE}.approve_after_days")
    assert f"{WINDOW}.priority" in message and "maintenance_windows[1].operation" in message


def check(annotation: Any, value: Any) -> Any:
    """``value`` validated as a section's field of type ``annotation`` would be."""
    return TypeAdapter(annotation).validate_python(value)


def refusal(annotation: Any, value: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        check(annotation, value)
    (error,) = raised.value.errors(include_url=False)
    return str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]


def test_numbers_are_checked_in_their_range_and_never_coerced() -> None:
    share = Annotated[float, types.number_in(0, 1)]
    assert check(share, 0) == 0 and check(share, 1) == 1 and check(share, 0.25) == 0.25
    assert refusal(share, 1.5) == "expected a number in [0, 1], got 1.5"
    assert refusal(share, "0.5") == "expected a number in [0, 1], got '0.5'"
    assert refusal(share, True) == "expected a number in [0, 1], got True"  # a bool is not a number here
    threads = Annotated[int, types.whole_in(1, 256)]
    assert check(threads, 256) == 256
    assert refusal(threads, 2.0) == "expected a whole number in [1, 256], got 2.0"
    assert refusal(threads, 0) == "expected a whole number in [1, 256], got 0"


def test_choices_and_patterns_say_what_was_expected() -> None:
    engine = Annotated[str, types.one_of("duckdb", "athena")]
    assert check(engine, "athena") == "athena"
    assert refusal(engine, "Athena") == "expected one of ['duckdb', 'athena'], got 'Athena'"
    assert check(types.Concurrency, "10%") == "10%" and check(types.Concurrency, "100%") == "100%"
    for bad in ("0", "0%", "101%", "10 %", 10):
        assert refusal(types.Concurrency, bad).startswith("expected a count or a percentage such as 10%")
    assert check(types.ErrorThreshold, "0") == "0" and check(types.ErrorThreshold, "0%") == "0%"
    assert refusal(types.ErrorThreshold, "05").startswith("expected a count or a percentage such as 5%")


def test_empty_or_and_none_or_let_the_unset_value_through_and_check_the_rest() -> None:
    assert check(types.HttpUrlOrEmpty, "") == ""
    assert check(types.HttpUrlOrEmpty, "https://hooks.example/x") == "https://hooks.example/x"
    assert refusal(types.HttpUrlOrEmpty, "ftp://hooks.example") == "expected an http(s):// URL, got 'ftp://hooks.example'"
    assert refusal(types.HttpUrlOrEmpty, "https://") == "expected an http(s):// URL, got 'https://'"
    days = Annotated[int | None, types.none_or(types.whole_in(0, 360))]
    assert check(days, None) is None and check(days, 360) == 360
    assert refusal(days, 361) == "expected a whole number in [0, 360], got 361"


def test_an_s3_prefix_ends_in_a_slash_and_a_local_path_is_refused() -> None:
    assert check(types.S3PrefixOrEmpty, "s3://results/queries") == "s3://results/queries/"
    assert check(types.S3PrefixOrEmpty, "s3://results/queries/") == "s3://results/queries/"
    assert refusal(types.S3PrefixOrEmpty, "/tmp/results") == "expected s3://bucket/prefix, got '/tmp/results'"


def test_names_take_one_string_or_a_list_and_give_a_tuple() -> None:
    assert check(types.Names, "Team") == ("Team",) and check(types.Names, ["Owner", "Team"]) == ("Owner", "Team")
    assert refusal(types.Names, []) == "expected a string or a non-empty list of strings, got []"
    assert refusal(types.Names, ["Team", ""]).startswith("expected a string or a non-empty list of strings")
    assert check(types.NameList, []) == () and check(types.NameList, "dev") == ("dev",)
    assert refusal(types.NameList, "") == "expected a string or a list of non-empty strings, got ''"


def test_an_account_id_may_be_an_unquoted_yaml_number_and_a_time_zone_must_be_iana() -> None:
    assert check(types.AccountId, 111111111111) == "111111111111"
    assert check(types.AccountId, "012345678901") == "012345678901"
    with pytest.raises(ValidationError):
        check(types.AccountId, True)
    assert check(types.TimeZone, "Europe/Berlin") == "Europe/Berlin"
    assert refusal(types.TimeZone, "CEST") == "expected an IANA time zone such as UTC or Europe/Berlin, got 'CEST'"


def test_counts_and_the_marker_budget() -> None:
    rules = Annotated[tuple[int, ...], types.count_in(1, 2, "rules")]
    assert check(rules, [1, 2]) == (1, 2)
    assert refusal(rules, []) == "expected 1 to 2 rules, got 0"
    window_description = Annotated[str, types.fits_with_marker(128)]
    assert check(window_description, "d" * 79) == "d" * 79  # 79 + 49 characters of marker = 128
    assert refusal(window_description, "d" * 80) == ("too long: 80 characters; SSM allows 128 characters with the "
                                                     "marker (so at most 80 here)")


@pytest.mark.parametrize(("loc", "path"), [
    (("accounts", 1, "role_arn"), "accounts[1].role_arn"),
    (("quality", "environment_patch_groups", "prod", "[key]"), "quality.environment_patch_groups.prod"),
    ((3,), "[3]"),
    ((), "(top level)"),
])
def test_a_key_path_is_written_as_in_yaml(loc: tuple, path: str) -> None:
    assert types.key_path(loc) == path


@types.section
class Inner:
    limit: Annotated[int, types.whole_in(1, 9)] = 1


@types.section
class Outer:
    name: str
    inner: Inner = Inner()
    items: tuple[Inner, ...] = ()


def test_a_failed_validation_is_described_on_one_line_with_every_problem_and_the_keys_allowed() -> None:
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(Outer).validate_python({"inner": {"limt": 3}, "items": [{"limit": 0}, "x"]})
    assert types.describe(raised.value, Outer) == (  # missing keys first, then each problem where it is
        "name: required key missing; "
        "inner.limt: unknown key (did you mean 'limit'? allowed: ['limit']); "
        "items[0].limit: expected a whole number in [1, 9], got 0; "
        "items[1]: expected a mapping, got 'x'")
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(Outer).validate_python({"name": "n", "colour": "red"})
    assert types.describe(raised.value, Outer) == "colour: unknown key (allowed: ['inner', 'items', 'name'])"


def test_a_section_is_frozen_and_refuses_unknown_keys() -> None:
    inner = Inner(limit=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        inner.limit = 4  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Inner(limit=3, other=1)  # type: ignore[call-arg]
