"""Vendor feeds for the patch catalog, where SSM has none (Amazon Linux 2023, RHEL, ...).

A feed is a ``catalog_source.CatalogSource``: given products and patch ids, it returns catalog rows.
Implemented: ``yum_updateinfo``, the advisory metadata every yum/dnf repository publishes, which is
what Amazon Linux 2023 offers (``https://cdn.amazonlinux.com/al2023/core/mirrors/latest/x86_64/mirror.list``):

    mirror.list                 one repository URL per line (the first on the mirror list's own host is used)
    <repo>/repodata/repomd.xml  <repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="updateinfo">
                                  <checksum type="sha256">…</checksum><location href="repodata/…updateinfo.xml.gz"/>
    <repo>/<href>               gzip (or plain) XML: <updates><update type="security" …><id>ALAS2023-2024-…</id>
                                  <title/><issued date="2024-07-01 20:41:00"/><severity>Important</severity>
                                  <references><reference type="cve" id="CVE-…"/></references>
                                  <pkglist><collection><package name= epoch= version= release= arch=>

Each ``<package>`` of an advisory becomes a row: patch id ``name.arch`` and title
``name.arch:epoch:version-release`` (as Patch Manager's compliance items name them), release date
= the advisory's issued date (UTC), classification from its type (``security`` -> ``Security``, ...),
its severity and CVE references.

Everything fetched is untrusted: only http(s), no redirect to another host, a mirror only on the
mirror list's host, ``href`` relative and inside the repository, sizes capped (``max_bytes``, also
after decompression), the repomd checksum verified, no DTD/entities, bounded element counts, and
every value checked (ids, names, versions, dates, CVE ids). An advisory with an invalid value is
refused whole and counted; a document that cannot be trusted fails the lookup.
"""

from __future__ import annotations

import hashlib
import io
import re
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlparse
from xml.etree import ElementTree

from patch_compliance import __version__
from patch_compliance.catalog_source import CatalogRow, CatalogSourceError, SourceAnswer
from patch_compliance.config import FeedSettings

REPO_NS = "{http://linux.duke.edu/metadata/repo}"
SMALL_DOCUMENT = 4 << 20  # mirror lists and repomd.xml are a few KiB
MAX_UPDATES = 500_000
MAX_PACKAGES = 20_000  # per advisory
MAX_REFERENCES = 5_000  # per advisory
CLASSIFICATIONS = {"security": "Security", "bugfix": "Bugfix", "enhancement": "Enhancement",
                   "recommended": "Recommended", "newpackage": "Newpackage"}
SEVERITIES = {"critical": "Critical", "important": "Important", "moderate": "Medium", "medium": "Medium",
              "low": "Low"}
ADVISORY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}")
ARCH_RE = re.compile(r"[a-z0-9_]{1,32}")
EVR_RE = re.compile(r"[A-Za-z0-9._+~^]{1,128}")
DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2})?))?(?:\s*(?:UTC|Z))?")
CVE_RE = re.compile(r"CVE-\d{4}-\d{4,7}")
HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512, "sha384": hashlib.sha384}


class FeedError(CatalogSourceError):
    """The feed could not be fetched or is not a document this product can trust."""


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only within the host first asked (a feed must not bounce the worker elsewhere)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # urllib's signature
        if urlparse(newurl).hostname != urlparse(req.full_url).hostname or urlparse(newurl).scheme not in (
                "http", "https"):
            raise FeedError(f"{req.full_url} redirects to {newurl}, another host: refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, limit: int, timeout: float) -> bytes:
    """GET ``url`` (http/https only), refusing bodies over ``limit`` bytes."""
    if urlparse(url).scheme not in ("http", "https"):
        raise FeedError(f"{url}: only http(s) feeds are fetched")
    opener = urllib.request.build_opener(_SameHostRedirects)
    request = urllib.request.Request(url, headers={"User-Agent": f"patch-compliance/{__version__}"})  # noqa: S310 - http(s) checked above
    try:
        with opener.open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise FeedError(f"{url}: {declared} bytes, over the {limit}-byte limit")
            body = response.read(limit + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FeedError(f"{url}: {exc}") from exc
    if len(body) > limit:
        raise FeedError(f"{url}: more than {limit} bytes, refused")
    return body


def gunzip(data: bytes, limit: int, what: str) -> bytes:
    """Decompress gzip data, refusing more than ``limit`` bytes of output (no decompression bombs)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise FeedError(f"{what}: not valid gzip: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise FeedError(f"{what}: decompresses to more than {limit} bytes, refused")
    return out


def _xml(data: bytes, what: str) -> None:
    head = data[:65536].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise FeedError(f"{what}: XML with a DTD or entity declarations is refused")


def mirror_from_list(text: bytes, list_url: str) -> str:
    """The first repository URL in a mirror list that is on the mirror list's own host."""
    host = urlparse(list_url).hostname
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise FeedError(f"{list_url}: mirror list is not UTF-8 text") from exc
    for line in lines:
        candidate = line.strip()
        parsed = urlparse(candidate)
        if parsed.scheme in ("http", "https") and parsed.hostname == host and not _CONTROL_RE.search(candidate):
            return candidate if candidate.endswith("/") else candidate + "/"
    raise FeedError(f"{list_url}: the mirror list names no http(s) repository on {host}")


_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")


def updateinfo_location(repomd: bytes, repository: str) -> tuple[str, str | None, str | None]:
    """(URL, checksum type, checksum) of the repository's updateinfo, from ``repodata/repomd.xml``."""
    _xml(repomd, "repomd.xml")
    try:
        root = ElementTree.fromstring(repomd)  # noqa: S314 - DTDs refused above, size capped by fetch
    except ElementTree.ParseError as exc:
        raise FeedError(f"{repository}repodata/repomd.xml is not XML: {exc}") from exc
    for data in root.iter():
        if data.tag in (f"{REPO_NS}data", "data") and data.get("type") == "updateinfo":
            location = data.find(f"{REPO_NS}location")
            location = location if location is not None else data.find("location")
            href = location.get("href") if location is not None else None
            if not href or "://" in href or href.startswith("/") or ".." in href.split("/") or \
                    _CONTROL_RE.search(href):
                raise FeedError(f"{repository}repodata/repomd.xml: updateinfo href {href!r} is not a relative path")
            checksum = data.find(f"{REPO_NS}checksum")
            checksum = checksum if checksum is not None else data.find("checksum")
            kind = checksum.get("type") if checksum is not None else None
            digest = (checksum.text or "").strip().lower() if checksum is not None else None
            return urljoin(repository, href), kind, digest
    raise FeedError(f"{repository}repodata/repomd.xml lists no updateinfo")


def _issued(value: str | None, not_after: date) -> date:
    text = (value or "").strip()
    if text.isdigit() and len(text) <= 12:
        day = datetime.fromtimestamp(int(text), UTC).date()
    else:
        match = DATE_RE.fullmatch(text)
        if not match:
            raise ValueError(f"issued date {text[:40]!r} is not YYYY-MM-DD[ HH:MM:SS] or epoch seconds")
        day = date.fromisoformat(match.group(1))
    if not date(1990, 1, 1) <= day <= not_after:
        raise ValueError(f"issued date {day} is outside 1990-01-01 .. {not_after}")
    return day


@dataclass(frozen=True)
class Advisory:
    """One ``<update>`` of updateinfo.xml, checked."""

    advisory_id: str
    classification: str
    severity: str | None
    issued: date
    cve_ids: tuple[str, ...]
    packages: tuple[tuple[str, str], ...]  # (patch id name.arch, title name.arch:epoch:version-release)


def _advisory(update: ElementTree.Element, not_after: date) -> Advisory:
    advisory_id = (update.findtext("id") or "").strip()
    if not ADVISORY_RE.fullmatch(advisory_id):
        raise ValueError(f"advisory id {advisory_id[:60]!r} is not an advisory id")
    kind = (update.get("type") or "").strip().lower()
    if kind not in CLASSIFICATIONS:
        raise ValueError(f"{advisory_id}: type {kind[:30]!r} is not one of {sorted(CLASSIFICATIONS)}")
    severity = (update.findtext("severity") or "").strip()
    if severity and severity.lower() not in SEVERITIES:
        raise ValueError(f"{advisory_id}: severity {severity[:30]!r} is not one of {sorted(SEVERITIES)}")
    issued = update.find("issued")
    try:
        day = _issued(issued.get("date") if issued is not None else None, not_after)
    except ValueError as exc:
        raise ValueError(f"{advisory_id}: {exc}") from exc
    references = update.findall("references/reference")
    if len(references) > MAX_REFERENCES:
        raise ValueError(f"{advisory_id}: more than {MAX_REFERENCES} references")
    cves = []
    for reference in references:
        if (reference.get("type") or "").lower() != "cve":
            continue
        cve = (reference.get("id") or "").strip().upper()
        if not CVE_RE.fullmatch(cve):
            raise ValueError(f"{advisory_id}: CVE reference {cve[:40]!r} is not CVE-YYYY-NNNN")
        cves.append(cve)
    packages = update.findall("pkglist/collection/package")
    if not packages or len(packages) > MAX_PACKAGES:
        raise ValueError(f"{advisory_id}: {len(packages)} packages (1..{MAX_PACKAGES} expected)")
    rows = []
    for package in packages:
        name, arch = package.get("name") or "", package.get("arch") or ""
        epoch = package.get("epoch") or "0"
        version, release = package.get("version") or "", package.get("release") or ""
        if not (NAME_RE.fullmatch(name) and ARCH_RE.fullmatch(arch) and epoch.isdigit() and len(epoch) <= 10
                and EVR_RE.fullmatch(version) and EVR_RE.fullmatch(release)):
            raise ValueError(f"{advisory_id}: package {name[:40]!r} {arch[:20]!r} {epoch[:12]!r} {version[:40]!r} "
                             f"{release[:40]!r} is not a valid name/arch/epoch/version/release")
        rows.append((f"{name}.{arch}", f"{name}.{arch}:{int(epoch)}:{version}-{release}"))
    return Advisory(advisory_id, CLASSIFICATIONS[kind], SEVERITIES.get(severity.lower()), day,
                    tuple(sorted(set(cves))), tuple(rows))


def parse_updateinfo(document: bytes, not_after: date) -> tuple[list[Advisory], list[str]]:
    """Every valid advisory of an updateinfo.xml, and the reasons the others were refused."""
    _xml(document, "updateinfo.xml")
    advisories: list[Advisory] = []
    refused: list[str] = []
    seen = 0
    try:
        events: Iterator[tuple[str, ElementTree.Element]] = ElementTree.iterparse(  # noqa: S314 - DTDs refused
            io.BytesIO(document), events=("start", "end"))
        _, root = next(events)
        if root.tag != "updates":
            raise FeedError(f"updateinfo.xml: root element <{root.tag[:40]}>, expected <updates>")
        for event, element in events:
            if event != "end" or element.tag != "update":
                continue
            seen += 1
            if seen > MAX_UPDATES:
                raise FeedError(f"updateinfo.xml: more than {MAX_UPDATES} advisories, refused")
            try:
                advisories.append(_advisory(element, not_after))
            except ValueError as exc:
                refused.append(str(exc))
            root.clear()  # keep memory flat: each advisory is dropped once read
    except (ElementTree.ParseError, StopIteration) as exc:
        raise FeedError(f"updateinfo.xml is not well-formed XML: {exc}") from exc
    return advisories, refused


@dataclass
class YumUpdateinfoFeed:
    """A ``CatalogSource`` over a yum repository's ``updateinfo`` (one download per lookup)."""

    settings: FeedSettings
    not_after: date | None = None  # latest plausible issued date (default: today + 2 days)
    requests: int = 0

    @property
    def name(self) -> str:
        return self.settings.name

    def covers(self, product: str) -> bool:
        return product in self.settings.products

    def _get(self, url: str, limit: int) -> bytes:
        self.requests += 1
        return fetch(url, limit, self.settings.timeout_seconds)

    def repository(self) -> str:
        if self.settings.repository:
            base = self.settings.repository
            return base if base.endswith("/") else base + "/"
        return mirror_from_list(self._get(self.settings.mirror_list, SMALL_DOCUMENT), self.settings.mirror_list)

    def advisories(self) -> tuple[list[Advisory], list[str], str]:
        """The feed's valid advisories, the reasons others were refused, and where they came from."""
        repository = self.repository()
        url, kind, digest = updateinfo_location(self._get(urljoin(repository, "repodata/repomd.xml"),
                                                          SMALL_DOCUMENT), repository)
        body = self._get(url, self.settings.max_bytes)
        if kind is not None or digest is not None:
            if kind not in HASHES or not digest:
                raise FeedError(f"{url}: checksum type {kind!r} is not one of {sorted(HASHES)}")
            if HASHES[kind](body).hexdigest() != digest:
                raise FeedError(f"{url}: {kind} does not match repomd.xml's checksum: refused")
        if body[:2] == b"\x1f\x8b":
            body = gunzip(body, self.settings.max_bytes, url)
        elif url.endswith((".xz", ".zst", ".bz2")):
            raise FeedError(f"{url}: only gzip or plain updateinfo is supported")
        advisories, refused = parse_updateinfo(body, self.not_after or datetime.now(UTC).date() + timedelta(days=2))
        return advisories, refused, f"{len(advisories)} advisories from {url}"

    def lookup(self, requests: Mapping[str, Sequence[str]]) -> SourceAnswer:
        advisories, refused, fetched = self.advisories()
        notes = [fetched, *refused]
        products_of: dict[str, list[str]] = {}
        for product, patch_ids in requests.items():
            for patch_id in patch_ids:
                products_of.setdefault(patch_id, []).append(product)
        rows: list[CatalogRow] = []
        rejected = len(refused)
        for advisory in advisories:
            for patch_id, title in advisory.packages:
                for product in products_of.get(patch_id, ()):
                    try:
                        rows.append(CatalogRow(patch_id, title, product, advisory.classification, advisory.severity,
                                               advisory.issued, advisory.cve_ids, self.name))
                    except ValueError as exc:
                        rejected += 1
                        notes.append(f"{advisory.advisory_id}: {exc}")
        return SourceAnswer(tuple(rows), rejected, tuple(notes[:6]))


def feed_source(settings: FeedSettings, **kwargs: Any) -> YumUpdateinfoFeed:
    """The source for one configured feed (``format`` is validated by the config)."""
    if settings.format != "yum_updateinfo":
        raise CatalogSourceError(f"feed {settings.name}: format {settings.format!r} is not implemented")
    return YumUpdateinfoFeed(settings, **kwargs)

