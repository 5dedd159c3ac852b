"""Answering like the real API: request bodies, SSM's validation errors, opaque paging tokens.

Every extension validates what the real API validates (lengths, patterns, enums, ranges: the
botocore client checks only types, required members and minimum lengths) and refuses what it does
not emulate with a ``ValidationException`` that says so, instead of accepting it silently.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

NOT_EMULATED = "is not emulated by the local stand-in"


def body(response: Any) -> dict[str, Any]:
    """The JSON request of a moto response object (``self`` of an operation method)."""
    parsed = json.loads(response.body or "{}")
    if not isinstance(parsed, dict):
        raise invalid("the request body must be a JSON object")
    return parsed


def invalid(message: str) -> Exception:
    from moto.ssm.exceptions import ValidationException

    return ValidationException(message)


def error(code: str, message: str) -> Exception:
    """One of the API's modelled errors (``DoesNotExistException``, ``ResourceInUseException``, ...)."""
    from moto.ssm.exceptions import SSMException

    return SSMException(code, message)


def _constraint(key: str, value: Any, constraint: str) -> Exception:
    return invalid(f"1 validation error detected: Value {value!r} at '{key}' failed to satisfy constraint: "
                   f"{constraint}")


def text(request: dict[str, Any], key: str, *, low: int = 1, high: int, pattern: str | None = None,
         required: bool = False) -> str | None:
    value = request.get(key)
    if value is None:
        if required:
            raise _constraint(key, None, "Member must not be null")
        return None
    if not isinstance(value, str):
        raise _constraint(key, value, "Member must be a string")
    return checked_text(key, value, low, high, pattern)


def checked_text(key: str, value: str, low: int, high: int, pattern: str | None = None) -> str:
    if len(value) < low:
        raise _constraint(key, value, f"Member must have length greater than or equal to {low}")
    if len(value) > high:
        raise _constraint(key, value, f"Member must have length less than or equal to {high}")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise _constraint(key, value, f"Member must satisfy regular expression pattern: {pattern}")
    return value


def number(request: dict[str, Any], key: str, *, low: int, high: int, required: bool = False) -> int | None:
    value = request.get(key)
    if value is None:
        if required:
            raise _constraint(key, None, "Member must not be null")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _constraint(key, value, "Member must be an integer")
    if not low <= value <= high:
        raise _constraint(key, value, f"Member must have value between {low} and {high}")
    return value


def one_of(request: dict[str, Any], key: str, allowed: Iterable[str], default: str | None = None) -> str | None:
    value = request.get(key, default)
    allowed = sorted(allowed)
    if value is not None and value not in allowed:
        raise _constraint(key, value, f"Member must satisfy enum value set: [{', '.join(allowed)}]")
    return value


def flag(request: dict[str, Any], key: str) -> bool | None:
    value = request.get(key)
    if value is not None and not isinstance(value, bool):
        raise _constraint(key, value, "Member must be a boolean")
    return value


def strings(request: dict[str, Any], key: str, *, high: int, item_high: int, low: int = 0,
            item_pattern: str | None = None) -> list[str] | None:
    values = request.get(key)
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _constraint(key, values, "Member must be a list of strings")
    if not low <= len(values) <= high:
        raise _constraint(key, values, f"Member must have between {low} and {high} items")
    return [checked_text(f"{key}.member", v, 1, item_high, item_pattern) for v in values]


def mapping(request: dict[str, Any], key: str, *, required: Sequence[str] = ()) -> dict[str, Any] | None:
    value = request.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _constraint(key, value, "Member must be a structure")
    for member in required:
        if value.get(member) is None:
            raise _constraint(f"{key}.{member}", None, "Member must not be null")
    return value


def refuse_unknown(request: dict[str, Any], operation: str, emulated: Iterable[str]) -> None:
    """A member the stand-in does not emulate fails loudly rather than being dropped."""
    extra = sorted(set(request) - set(emulated))
    if extra:
        raise invalid(f"{operation}: {', '.join(extra)} {NOT_EMULATED}")


# --- paging: an opaque NextToken bound to the query that issued it ----------------------------


def token(query: Any, offset: int) -> str:
    digest = hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "q": digest}).encode()).decode()


def offset(next_token: str | None, query: Any, code: str = "ValidationException") -> int:
    """Where a page starts; a foreign or malformed token is refused with ``code``."""
    if not next_token:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(next_token.encode()))
        start = int(decoded["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise error(code, "The NextToken is not valid") from exc
    if start < 0 or token(query, start) != next_token:
        raise error(code, "The NextToken is not valid for this request")
    return start


def page(items: Sequence[Any], request: dict[str, Any], query: Any, *, key: str, default: int, high: int,
         invalid_code: str = "ValidationException") -> dict[str, Any]:
    """``{key: one page, "NextToken": ...}`` for MaxResults 1..high (``default`` when absent)."""
    size = number(request, "MaxResults", low=1, high=high) or default
    start = offset(request.get("NextToken"), query, invalid_code)
    answer: dict[str, Any] = {key: list(items[start:start + size])}
    if start + size < len(items):
        answer["NextToken"] = token(query, start + size)
    return answer
