"""The value types of the config sections and the one-line description of a failed load.

Kept apart from ``patch_compliance.config`` so that module reads as the list of sections. Each check
says what was expected in the same words everywhere (``expected a number in [0, 1], got 5``); a
pydantic error becomes ``<key path>: <problem>``, the path written as in YAML terms
(``accounts[1].role_arn``), and an unknown key lists the keys allowed where it was found.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from functools import cache
from types import UnionType
from typing import Annotated, Any, TypeVar, dataclass_transform, get_args, get_origin
from urllib.parse import urlparse
from zoneinfo import available_timezones

from pydantic import AfterValidator, BeforeValidator, ConfigDict, ValidationError
from pydantic.dataclasses import dataclass
from pydantic_core import InitErrorDetails, PydanticCustomError

from patch_compliance.inputs import parse_location, validate_account_id, validate_region
from patch_compliance.marker import marked_length

_SECTION = dataclass(frozen=True, config=ConfigDict(extra="forbid"))
T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def section(cls: type[T]) -> type[T]:
    """Decorator of every config section: validated, immutable, unknown keys refused.

    A function (not an alias of pydantic's decorator) so the type checker sees frozen dataclasses.
    """
    return _SECTION(cls)  # type: ignore[return-value]  # the same class, now a pydantic dataclass


def number_in(low: float, high: float, kind: str = "a number") -> BeforeValidator:
    """A YAML number in [low, high]; booleans and numeric strings are refused, not coerced."""
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ValueError(f"expected {kind} in [{low}, {high}], got {value!r}")
        return value
    return BeforeValidator(check)


def whole_in(low: int, high: int) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number in [{low}, {high}], got {value!r}")
        return value
    return BeforeValidator(check)


def one_of(*allowed: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"expected one of {list(allowed)}, got {value!r}")
        return value
    return BeforeValidator(check)


def matching(regex: str, expected: str) -> BeforeValidator:
    """A string matching ``regex`` as a whole; ``expected`` says what that is in words."""
    compiled = re.compile(regex)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ValueError(f"expected {expected}, got {value!r}")
        return value
    return BeforeValidator(check)


def empty_or(validator: BeforeValidator) -> BeforeValidator:
    """``""`` (not set, so the documented fallback applies) or a value ``validator`` accepts."""
    return BeforeValidator(lambda value: value if value == "" else validator.func(value))  # type: ignore[call-arg]


def none_or(validator: BeforeValidator) -> BeforeValidator:
    """Not given (``None``: the documented fallback applies) or a value ``validator`` accepts."""
    return BeforeValidator(lambda value: value if value is None else validator.func(value))  # type: ignore[call-arg]


def count_in(low: int, high: int, what: str) -> AfterValidator:
    """A list or mapping of ``low`` to ``high`` entries; ``what`` names them (``rules``, ``tag keys``)."""
    def check(value: Any) -> Any:
        if not low <= len(value) <= high:
            raise ValueError(f"expected {low} to {high} {what}, got {len(value)}")
        return value
    return AfterValidator(check)


def fits_with_marker(limit: int) -> AfterValidator:
    """A description SSM still accepts (at most ``limit`` characters) once the managed marker is appended."""
    def check(value: str) -> str:
        if marked_length(value) > limit:
            raise ValueError(f"too long: {len(value)} characters; SSM allows {limit} characters with the marker "
                             f"(so at most {limit - marked_length('')} here)")
        return value
    return AfterValidator(check)


def _one_or_more(value: Any) -> Any:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError(f"expected a string or a non-empty list of strings, got {value!r}")


def _any_number_of(value: Any) -> Any:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError(f"expected a string or a list of non-empty strings, got {value!r}")


ONE_OR_MORE = BeforeValidator(_one_or_more)
Names = Annotated[tuple[str, ...], ONE_OR_MORE]
"""A string or a non-empty list of strings (``Team`` or ``[Owner, Team]``), as a tuple."""
NameList = Annotated[tuple[str, ...], BeforeValidator(_any_number_of)]
"""A string or a list of non-empty strings, possibly empty, as a tuple."""


def _account_id(value: Any) -> Any:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value  # unquoted in YAML
    return validate_account_id(text)


def _http_url(value: Any) -> Any:
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"expected an http(s):// URL, got {value!r}")
    return value


def _s3_prefix(value: Any) -> Any:
    location = parse_location(value, "location") if isinstance(value, str) else None
    if location is None or location.scheme != "s3":
        raise ValueError(f"expected s3://bucket/prefix, got {value!r}")
    return location.uri + "/"  # a prefix, as Athena's OutputLocation wants it


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _time_zone(value: Any) -> Any:
    if not isinstance(value, str) or value not in _time_zones():
        raise ValueError(f"expected an IANA time zone such as UTC or Europe/Berlin, got {value!r}")
    return value


AccountId = Annotated[str, BeforeValidator(_account_id)]
Region = Annotated[str, AfterValidator(validate_region)]
RegionOrEmpty = Annotated[str, empty_or(BeforeValidator(validate_region))]
Regions = Annotated[tuple[Region, ...], ONE_OR_MORE]
Location = Annotated[str, AfterValidator(lambda value: parse_location(value, "location").uri)]
"""``s3://bucket/prefix`` or a local directory, normalised (patch_compliance.inputs.parse_location)."""
S3PrefixOrEmpty = Annotated[str, empty_or(BeforeValidator(_s3_prefix))]
HttpUrlOrEmpty = Annotated[str, empty_or(BeforeValidator(_http_url))]
TimeZone = Annotated[str, BeforeValidator(_time_zone)]
# SSM's MaxConcurrency and MaxErrors (SendCommand, maintenance window tasks): a count or a percentage
Concurrency = Annotated[str, matching(r"[1-9][0-9]*|[1-9][0-9]?%|100%", "a count or a percentage such as 10%")]
ErrorThreshold = Annotated[str, matching(r"0|[1-9][0-9]*|[0-9]%|[1-9][0-9]%|100%",
                                         "a count or a percentage such as 5%")]


def problems_at(owner: type, found: list[tuple[tuple[str | int, ...], str, Any]]) -> ValidationError:
    """Raise this from a validator of ``owner`` to report problems deeper than its own key.

    Each problem is ``(path below owner, message, the value given)``, so a check that needs two keys
    of a section (a baseline's operating system and its rules' filters) still names the key at fault:
    ``baselines[0].approval_rules[0].filters.SEVERITY: ...``.
    """
    return ValidationError.from_exception_data(owner.__name__, [
        InitErrorDetails(type=PydanticCustomError("value_error", "{error}", {"error": message}), loc=loc, input=given)
        for loc, message, given in found])


# --- describing a failed load --------------------------------------------------------------------

_EXPECTED = {
    "string_type": "a string", "bool_type": "true or false", "int_type": "a whole number",
    "int_from_float": "a whole number", "int_parsing": "a whole number", "float_type": "a number",
    "float_parsing": "a number", "dataclass_type": "a mapping", "dict_type": "a mapping",
    "tuple_type": "a list", "list_type": "a list",
}


def key_path(loc: tuple[str | int, ...]) -> str:
    """``('accounts', 1, 'role_arn')`` -> ``accounts[1].role_arn``."""
    path = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker of a mapping key that failed: the path already ends in it
            continue
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "(top level)"


def _keys_at(root: type, loc: tuple[str | int, ...]) -> list[str]:
    """The keys the section at ``loc`` takes, found by walking the field types from ``root``."""
    node: Any = root
    for part in loc:
        if dataclasses.is_dataclass(node):
            node = getattr(node, "__pydantic_fields__")[part].annotation  # noqa: B009 (pydantic's, untyped)
        else:  # tuple[X, ...] or dict[str, X]: step to X
            node = get_args(node)[-1 if get_origin(node) is dict else 0]
        if get_origin(node) is UnionType:  # X | None
            node = next(a for a in get_args(node) if a is not type(None))
    return sorted(getattr(node, "__pydantic_fields__")) if dataclasses.is_dataclass(node) else []  # noqa: B009


def _problem(error: Any, root: type) -> str:
    kind, given = error["type"], error.get("input")
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        allowed = _keys_at(root, error["loc"][:-1])
        close = difflib.get_close_matches(str(error["loc"][-1]), allowed, n=1)
        return f"unknown key ({f'did you mean {close[0]!r}? ' if close else ''}allowed: {allowed})"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {given!r}"
    return f"{error['msg']}, got {given!r}"


def describe(exc: ValidationError, root: type) -> str:
    """Every problem of a failed validation of ``root`` on one line: ``path: problem; path: problem``."""
    problems: list[str] = []
    missing: dict[tuple[str | int, ...], list[str | int]] = {}
    for error in exc.errors(include_url=False):
        if error["type"] in ("missing", "missing_argument"):
            missing.setdefault(error["loc"][:-1], []).append(error["loc"][-1])
        else:
            problems.append(f"{key_path(error['loc'])}: {_problem(error, root)}")
    absent = [f"{key_path((*parent, keys[0]))}: required key missing" if len(keys) == 1
              else f"{key_path(parent)}: required keys missing: {keys}" for parent, keys in missing.items()]
    return "; ".join(absent + problems)
