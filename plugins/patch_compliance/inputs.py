"""Validation of every external input before it reaches SQL, a path or an API call.

Each function returns the normalised value or raises ``InputError`` with a message that says
what was expected, so a CLI user or a DAG trigger form gets an actionable error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

INSTANCE_ID_RE = re.compile(r"^(?:i-[0-9a-f]{8}(?:[0-9a-f]{9})?|mi-[0-9a-f]{17})$")
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
REGION_RE = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
CVE_ID_RE = re.compile(r"^CVE-\d{4}-\d{4,}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONTH_RE = re.compile(r"^\d{4}-\d{2}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class InputError(ValueError):
    """An external input (CLI argument, DAG param, config value, S3 key) is not acceptable."""


class DataCheckError(RuntimeError):
    """The data failed a check (e.g. too many malformed lines): nothing was published."""


def parse_date(value: str, what: str = "date") -> date:
    if not isinstance(value, str) or not DATE_RE.match(value):
        raise InputError(f"{what} must be YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"{what} {value!r} is not a calendar date: {exc}") from exc


def parse_month(value: str) -> tuple[int, int]:
    if not isinstance(value, str) or not MONTH_RE.match(value):
        raise InputError(f"month must be YYYY-MM, got {value!r}")
    year, month = int(value[:4]), int(value[5:])
    if not 1 <= month <= 12:
        raise InputError(f"month {value!r} has no month {month}")
    return year, month


def parse_timestamp(value: str, what: str = "timestamp") -> datetime:
    """ISO-8601 to an aware UTC datetime; a naive value is taken as UTC."""
    if not isinstance(value, str) or not value:
        raise InputError(f"{what} must be an ISO-8601 timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"{what} must be an ISO-8601 timestamp such as 2026-11-02T03:10:00Z, got {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _check(pattern: re.Pattern[str], value: str, what: str, example: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise InputError(f"{what} must look like {example}, got {value!r}")
    return value


def validate_instance_id(value: str) -> str:
    return _check(INSTANCE_ID_RE, value, "instance id", "i-0abc123def4567890 or mi-0123456789abcdef0")


def validate_account_id(value: str) -> str:
    return _check(ACCOUNT_ID_RE, value, "account id", "123456789012 (12 digits)")


def validate_region(value: str) -> str:
    return _check(REGION_RE, value, "Region", "eu-west-1")


def validate_cve_id(value: str) -> str:
    value = value.strip().upper() if isinstance(value, str) else value
    return _check(CVE_ID_RE, value, "CVE id", "CVE-2026-12345")


@dataclass(frozen=True)
class Location:
    """A validated lake or source location: an S3 bucket and prefix, or a local directory."""

    scheme: str  # "s3" or "file"
    bucket: str  # empty for local paths
    path: str  # key prefix (s3) or absolute directory (file), without a trailing slash

    @property
    def uri(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.path}".rstrip("/")
        return self.path

    @property
    def fs_path(self) -> str:
        """The path as pyarrow filesystems name it (bucket/prefix for S3)."""
        if self.scheme == "s3":
            return f"{self.bucket}/{self.path}".rstrip("/")
        return self.path

    def join(self, *parts: str) -> str:
        """An fs path below this location; every part is checked so no input escapes it."""
        for part in parts:
            if not part or part.startswith("/") or ".." in part.split("/"):
                raise InputError(f"refusing path component {part!r} below {self.uri}")
        return "/".join([self.fs_path, *parts])


def parse_location(value: str, what: str = "location") -> Location:
    """Accept ``s3://bucket[/prefix]`` or a local directory path."""
    import os

    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} must be s3://bucket/prefix or a local directory, got {value!r}")
    value = value.strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise InputError(f"{what} must not contain control characters, got {value!r}")
    if value.startswith("s3://"):
        rest = value[len("s3://"):].strip("/")
        bucket, _, prefix = rest.partition("/")
        if not BUCKET_RE.match(bucket) or ".." in bucket:
            raise InputError(f"{what}: {bucket!r} is not a valid S3 bucket name (in {value!r})")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            raise InputError(f"{what}: prefix {prefix!r} has empty, '.' or '..' segments (in {value!r})")
        return Location("s3", bucket, prefix)
    if "://" in value:
        raise InputError(f"{what}: only s3:// URIs and local paths are supported, got {value!r}")
    if value.startswith("file:"):
        value = value[len("file:"):]
    return Location("file", "", os.path.abspath(os.path.expanduser(value)))
