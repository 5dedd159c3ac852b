"""The simulated catalog as the real services publish it, so the product's own catalog task reads it.

Two publications of ``sim.catalog`` as of a simulated date (updates released on or before it):

- **SSM** ``DescribeAvailablePatches``: every update in the API's ``Patch`` shape, posted to the
  stand-in's simulator route (``sim/moto_ext/available_patches.py``), which answers only the products
  the real API covers (Amazon Linux 1/2, Windows Server). Windows patches carry no ``CVEIds``: the
  API reference says they apply to Linux only.
- **Amazon Linux 2023's yum repository**: ``mirror.list`` -> ``repodata/repomd.xml`` ->
  ``repodata/<sha256>-updateinfo.xml.gz``, public-read objects in the stand-in's S3 (as the real
  repository is served from S3), one advisory per update. The product reads it over plain HTTP at
  ``feed_url(endpoint)``. Format as fetched from the live feed by MaineK00n/vuls-data-update
  (``pkg/fetch/amazon/amazon.go``, ``types.go``; golden file
  ``testdata/golden/2023/core/2023/ALAS2023-2023-001.json``).

Base versions (what images ship with) are no update: neither publication lists them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from xml.sax.saxutils import escape, quoteattr

from sim.catalog import Catalog, Update

ROUTE = "/moto-api/sim/patch-catalog"
FEED_BUCKET = "al2023-repos-eu-west-1-de612dc2"  # the real repositories' bucket naming
FEED_FAMILY = "AmazonLinux2023"
# Families whose release dates the product's catalog task learns from these publications: SSM answers
# Amazon Linux 2 and Windows Server, the repository feed Amazon Linux 2023; nothing knows Ubuntu's.
CATALOGUED_FAMILIES = frozenset({"AmazonLinux2", "WindowsServer2019", "WindowsServer2022", FEED_FAMILY})
MIRROR_LIST_KEY = "core/mirrors/latest/x86_64/mirror.list"
RELEASE_TIME = time(18, 0)  # updates are released at 18:00 UTC on their release day
_LINUX_TITLE = re.compile(r"(?P<name>.+)\.(?P<arch>[^.:]+):(?P<epoch>\d+):(?P<version>[^-]+)-(?P<release>.+)")
_ADVISORY_PREFIX = {"AmazonLinux2023": "ALAS2023", "AmazonLinux2": "ALAS2", "Ubuntu": "USN"}
_SQL_SERVER = "Microsoft SQL Server 2019"


def released(catalog: Catalog, on: date) -> list[Update]:
    """Updates released on or before ``on``, in a stable order."""
    return sorted((u for u in catalog.all_updates() if u.release_date <= on),
                  key=lambda u: (u.family, u.release_date, u.patch_id, u.version))


def _advisory_ids(updates: Iterable[Update]) -> dict[tuple[str, str, int], str]:
    """ALAS-style ids, numbered per family and year in release order."""
    numbers: dict[tuple[str, int], int] = {}
    ids = {}
    for update in sorted(updates, key=lambda u: (u.family, u.release_date, u.patch_id, u.version)):
        counter = (update.family, update.release_date.year)
        numbers[counter] = numbers.get(counter, 0) + 1
        prefix = _ADVISORY_PREFIX.get(update.family, "ADV")
        ids[(update.family, update.patch_id, update.version)] = \
            f"{prefix}-{update.release_date.year}-{numbers[counter]:03d}"
    return ids


def _epoch_seconds(day: date) -> int:
    return int(datetime.combine(day, RELEASE_TIME, tzinfo=UTC).timestamp())


def linux_parts(update: Update) -> dict[str, str | int]:
    """Name, arch, epoch, version, release of a Linux update's Title (Ubuntu packages are ``amd64``)."""
    if update.family == "Ubuntu":
        package, _, evr = update.title.partition(":")
        version, _, release = evr.partition("-")
        return {"Name": package, "Arch": "amd64", "Epoch": 0, "Version": version, "Release": release}
    match = _LINUX_TITLE.fullmatch(update.title)
    if not match:
        raise ValueError(f"not a name.arch:epoch:version-release title: {update.title}")
    return {"Name": match["name"], "Arch": match["arch"], "Epoch": int(match["epoch"]), "Version": match["version"],
            "Release": match["release"]}


def available_patches(catalog: Catalog, on: date) -> list[dict]:
    """Every update released by ``on`` (all families) in ``DescribeAvailablePatches``' Patch shape."""
    updates = released(catalog, on)
    advisories = _advisory_ids(updates)
    patches = []
    for update in updates:
        common = {"Title": update.title, "ReleaseDate": _epoch_seconds(update.release_date),
                  "Classification": update.classification, "Product": update.family}
        if update.family.startswith("Windows"):
            patches.append({**common, "Id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim-kb:{update.patch_id}")),
                            "KbNumber": update.patch_id, "MsrcSeverity": update.severity, "ProductFamily": "Windows",
                            "Vendor": "Microsoft", "Language": "All"})
            continue
        parts = linux_parts(update)
        patches.append({**common, "Name": parts["Name"], "Arch": parts["Arch"], "Epoch": parts["Epoch"],
                        "Version": parts["Version"], "Release": parts["Release"],
                        "Severity": update.severity or None, "CVEIds": list(update.cve_ids),
                        "AdvisoryIds": [advisories[(update.family, update.patch_id, update.version)]],
                        "BugzillaIds": [], "Repository": "Core"})
    for _family, kbs in sorted(catalog.not_applicable.items()):
        for kb in kbs:  # SQL Server updates: another product of the Windows patch set APPLICATION
            patches.append({"Title": kb.title, "ReleaseDate": _epoch_seconds(kb.release_date), "KbNumber": kb.patch_id,
                            "Id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim-kb:{kb.patch_id}")),
                            "Classification": kb.classification, "MsrcSeverity": kb.severity,
                            "Product": _SQL_SERVER, "ProductFamily": "SQL Server", "Vendor": "Microsoft"})
    return [{k: v for k, v in p.items() if v is not None} for p in patches]


def updateinfo_xml(catalog: Catalog, on: date, family: str = FEED_FAMILY) -> bytes:
    """The family's updates released by ``on`` as a yum ``updateinfo.xml`` (one advisory per update)."""
    updates = [u for u in released(catalog, on) if u.family == family]
    advisories = _advisory_ids(updates)
    out = ['<?xml version="1.0" ?>\n<updates>']
    for update in updates:
        advisory = advisories[(update.family, update.patch_id, update.version)]
        parts = linux_parts(update)
        issued = f"{update.release_date.isoformat()} {RELEASE_TIME:%H:%M:%S}"
        severity = f"<severity>{escape(update.severity)}</severity>" if update.severity else ""
        references = "".join(
            f'<reference href="https://cve.mitre.org/cgi-bin/cvename.cgi?name={cve}" id="{cve}" title="" type="cve" />'
            for cve in update.cve_ids)
        out.append(
            f'<update author="linux-security@amazon.com" from="linux-security@amazon.com" status="final" '
            f'type="{update.classification.lower()}" version="1.4"><id>{advisory}</id>'
            f'<title>Amazon Linux 2023 - {advisory}: {escape(update.severity or update.classification)} '
            f'priority package update for {escape(str(parts["Name"]))}</title>'
            f'<issued date="{issued}" /><updated date="{issued}" />{severity}'
            f'<description>Package updates are available for Amazon Linux 2023.</description>'
            f'<references>{references}</references><pkglist><collection short="amazon-linux-2023">'
            f'<name>Amazon Linux 2023</name><package arch={quoteattr(str(parts["Arch"]))} '
            f'epoch="{parts["Epoch"]}" name={quoteattr(str(parts["Name"]))} '
            f'release={quoteattr(str(parts["Release"]))} version={quoteattr(str(parts["Version"]))}>'
            f'<filename>Packages/{escape(str(parts["Name"]))}-{escape(str(parts["Version"]))}-'
            f'{escape(str(parts["Release"]))}.{escape(str(parts["Arch"]))}.rpm</filename></package>'
            f'</collection></pkglist></update>')
    out.append("</updates>\n")
    return "".join(out).encode()


def repository_objects(catalog: Catalog, on: date, endpoint_url: str) -> dict[str, bytes]:
    """The yum repository's metadata objects (keys in ``FEED_BUCKET``) as of ``on``."""
    document = gzip.compress(updateinfo_xml(catalog, on), mtime=0)
    digest = hashlib.sha256(document).hexdigest()
    base = f"core/guids/{digest[:32]}/x86_64/"
    href = f"repodata/{digest}-updateinfo.xml.gz"
    repomd = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo" '
        'xmlns:rpm="http://linux.duke.edu/metadata/rpm">\n'
        f'  <revision>{_epoch_seconds(on)}</revision>\n  <data type="updateinfo">\n'
        f'    <checksum type="sha256">{digest}</checksum>\n'
        f'    <open-checksum type="sha256">{hashlib.sha256(gzip.decompress(document)).hexdigest()}</open-checksum>\n'
        f'    <location href="{href}"/>\n    <timestamp>{_epoch_seconds(on)}</timestamp>\n'
        f'    <size>{len(document)}</size>\n  </data>\n</repomd>\n').encode()
    return {MIRROR_LIST_KEY: f"{endpoint_url.rstrip('/')}/{FEED_BUCKET}/{base}\n".encode(),
            base + "repodata/repomd.xml": repomd, base + href: document}


def feed_url(endpoint_url: str) -> str:
    """The AL2023 mirror list on the stand-in: what ``patch_catalog.feeds[].mirror_list`` points at locally."""
    return f"{endpoint_url.rstrip('/')}/{FEED_BUCKET}/{MIRROR_LIST_KEY}"


@dataclass(frozen=True)
class Published:
    on: date
    ssm_patches: int
    feed_objects: int
    feed_url: str


def publish_catalog(endpoint_url: str, catalog: Catalog, on: date, region: str = "eu-west-1") -> Published:
    """Tell the stand-in what SSM and the AL2023 repository know on ``on`` (replacing what they knew)."""
    import boto3

    body = json.dumps({"patches": available_patches(catalog, on)}).encode()
    request = urllib.request.Request(f"{endpoint_url.rstrip('/')}{ROUTE}", data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local stand-in
        posted = json.loads(response.read())["patches"]
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if FEED_BUCKET not in existing:
        s3.create_bucket(Bucket=FEED_BUCKET, CreateBucketConfiguration={"LocationConstraint": region})
    objects = repository_objects(catalog, on, endpoint_url)
    for key in sorted(objects, key=lambda k: k == MIRROR_LIST_KEY):  # the mirror list last: readers see a whole repo
        s3.put_object(Bucket=FEED_BUCKET, Key=key, Body=objects[key], ACL="public-read")
    return Published(on, posted, len(objects), feed_url(endpoint_url))
