"""What a patch catalog source is and what it returns: the protocol and value types that
``patch_catalog`` (which asks sources and keeps the catalog) and ``vendor_feeds`` (one kind of
source) share, so neither imports the other for them.

Every ``CatalogRow`` field is checked when the row is made, whatever the source: feeds are
untrusted input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

EARLIEST_RELEASE = date(1990, 1, 1)

CVE_RE = re.compile(r"CVE-\d{4}-\d{4,7}")
PATCH_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~^:@-]{0,255}")
PRODUCT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()-]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_TITLE = 1024
MAX_CVES = 2000

Partition = tuple[str, str]  # (account id, region)


class CatalogSourceError(RuntimeError):
    """A source could not be asked (unreachable, refused, malformed answer): the day publishes nothing."""


def _text(value: str | None, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or _CONTROL.search(value):
        raise ValueError(f"{what} is not text of at most {limit} printable characters: {str(value)[:80]!r}")
    return value or None


@dataclass(frozen=True)
class CatalogRow:
    """One patch version as a source describes it; a row without ``release_date`` means "asked, unknown".

    Every field is checked here, whatever the source: feeds are untrusted input.
    """

    patch_id: str
    title: str | None
    product: str
    classification: str | None
    severity: str | None
    release_date: date | None
    cve_ids: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        if not isinstance(self.patch_id, str) or not PATCH_ID_RE.fullmatch(self.patch_id):
            raise ValueError(f"patch id {str(self.patch_id)[:80]!r} is not a package name or KB id")
        if not isinstance(self.product, str) or not PRODUCT_RE.fullmatch(self.product):
            raise ValueError(f"product {str(self.product)[:80]!r} is not a product name")
        _text(self.title, "title", MAX_TITLE)
        _text(self.classification, "classification", 64)
        _text(self.severity, "severity", 64)
        if self.release_date is not None and (not isinstance(self.release_date, date)
                                              or isinstance(self.release_date, datetime)
                                              or self.release_date < EARLIEST_RELEASE):
            raise ValueError(f"release date {self.release_date!r} is not a date after {EARLIEST_RELEASE}")
        if len(self.cve_ids) > MAX_CVES or not all(isinstance(c, str) and CVE_RE.fullmatch(c) for c in self.cve_ids):
            raise ValueError(f"CVE ids {list(self.cve_ids)[:5]} are not CVE-YYYY-NNNN ids")
        object.__setattr__(self, "cve_ids", tuple(sorted(set(self.cve_ids))))

    def as_row(self, partition: Partition) -> dict[str, Any]:
        return {"patch_id": self.patch_id, "title": self.title, "product": self.product,
                "classification": self.classification, "severity": self.severity,
                "release_date": self.release_date, "cve_ids": list(self.cve_ids), "source": self.source,
                "account_id": partition[0], "region": partition[1]}


@dataclass(frozen=True)
class SourceAnswer:
    """What a source returned for one day's lookups: valid rows, and how many entries it refused."""

    rows: tuple[CatalogRow, ...]
    rejected: int = 0
    notes: tuple[str, ...] = ()  # a few reasons for refused entries, and what was fetched


class CatalogSource(Protocol):
    """Where catalog rows come from: given products and the patch ids of each, rows for them.

    ``lookup`` returns every version (title) the source knows of each requested patch id of that
    product; ids it does not know are simply absent. It raises ``CatalogSourceError`` when the
    source cannot be asked. Implementations: ``patch_catalog.SsmCatalogSource``, ``vendor_feeds.YumUpdateinfoFeed``.
    """

    @property
    def name(self) -> str: ...

    def covers(self, product: str) -> bool: ...

    def lookup(self, requests: Mapping[str, Sequence[str]]) -> SourceAnswer: ...
