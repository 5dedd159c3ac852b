"""SSM ``DescribeAvailablePatches`` on the stand-in, answered from the catalog the simulator posts.

The simulator posts its catalog (in the API's ``Patch`` shape, every product it simulates) to the
simulator route ``/moto-api/sim/patch-catalog``; a new post replaces the old one, and
``POST /moto-api/reset`` forgets it. ``GET`` on the route returns how many patches are held and the
log of ``DescribeAvailablePatches`` requests since the last reset (tests count lookups with it).

What is emulated, per the API reference (botocore ``ssm/2014-11-06`` documentation):

- **Coverage**: "DescribeAvailablePatches supports only the Amazon Linux 1, Amazon Linux 2, and
  Windows Server operating systems." Patches of other products (Amazon Linux 2023, Ubuntu, ...)
  are held but never answered: a ``PRODUCT`` filter naming one matches nothing.
- **Filters** (at most 5; values ORed within a filter, filters ANDed; exact, case-sensitive
  matches, no wildcards). Every documented key is emulated: Windows ``PATCH_SET`` (``OS`` for
  ProductFamily Windows, else ``APPLICATION``), ``PRODUCT``, ``PRODUCT_FAMILY``, ``MSRC_SEVERITY``,
  ``CLASSIFICATION``, ``PATCH_ID`` (the KB number); Linux ``PRODUCT``, ``NAME``, ``SEVERITY``,
  ``EPOCH``, ``VERSION``, ``RELEASE``, ``ARCH``, ``REPOSITORY``, ``ADVISORY_ID``, ``CVE_ID``,
  ``BUGZILLA_ID``. Without a ``PRODUCT`` filter only Windows patches are listed, and a Linux key
  then fails as the reference says ("you must specify a key-pair for PRODUCT"). Refused with
  ``ValidationException`` instead of ignored: an unknown key, a key not documented for the OS of
  the named products, an empty value list, a key or value outside the documented lengths.
- **Paging**: ``MaxResults`` 1-100 (default 50, our choice: the reference gives none), an opaque
  ``NextToken`` bound to the query that issued it; a foreign or malformed token is a
  ``ValidationException``. Results are in a stable order (product, KB or name, arch, version).
- **Fields**: whatever the simulator posted in the ``Patch`` shape; ``ReleaseDate`` is epoch
  seconds on the wire, as in the real JSON protocol.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from sim.moto_ext import api

WINDOWS_KEYS = frozenset({"PATCH_SET", "PRODUCT", "PRODUCT_FAMILY", "MSRC_SEVERITY", "CLASSIFICATION", "PATCH_ID"})
LINUX_KEYS = frozenset({"PRODUCT", "NAME", "SEVERITY", "EPOCH", "VERSION", "RELEASE", "ARCH", "REPOSITORY",
                        "ADVISORY_ID", "CVE_ID", "BUGZILLA_ID"})
# Amazon Linux 1 (2017.09, 2018.03, ...) and Amazon Linux 2; not 2022/2023.
COVERED_LINUX = re.compile(r"AmazonLinux(2|2\.0|20\d\d\.\d\d)")
MAX_FILTERS = 5
DEFAULT_MAX_RESULTS = 50
ROUTE = "patch-catalog"

_FIELDS = {  # filter key -> the Patch field(s) it matches
    "PRODUCT": "Product", "PRODUCT_FAMILY": "ProductFamily", "MSRC_SEVERITY": "MsrcSeverity",
    "CLASSIFICATION": "Classification", "PATCH_ID": "KbNumber", "NAME": "Name", "SEVERITY": "Severity",
    "EPOCH": "Epoch", "VERSION": "Version", "RELEASE": "Release", "ARCH": "Arch", "REPOSITORY": "Repository",
    "ADVISORY_ID": "AdvisoryIds", "CVE_ID": "CVEIds", "BUGZILLA_ID": "BugzillaIds",
}


class CatalogStore:
    """The posted patches and the request log; shared by the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.patches: tuple[dict[str, Any], ...] = ()
        self.requests: list[dict[str, Any]] = []

    def replace(self, patches: list[dict[str, Any]]) -> int:
        checked = tuple(sorted((_checked_patch(p, n) for n, p in enumerate(patches)), key=_order))
        with self._lock:
            self.patches = checked
        return len(checked)

    def log(self, request: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        with self._lock:
            self.requests.append(request)
            return self.patches

    def forget(self) -> None:
        with self._lock:
            self.patches, self.requests = (), []

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"patches": len(self.patches), "requests": list(self.requests)}


STORE = CatalogStore()


def _is_windows(patch: dict[str, Any]) -> bool:
    return bool(patch.get("KbNumber"))


def _covered(patch: dict[str, Any]) -> bool:
    return _is_windows(patch) or bool(COVERED_LINUX.fullmatch(patch["Product"]))


def _order(patch: dict[str, Any]) -> tuple[str, ...]:
    return (patch["Product"], patch.get("KbNumber") or patch.get("Name", ""), patch.get("Arch", ""),
            f"{patch.get('Epoch', 0):010d}", patch.get("Version", ""), patch.get("Release", ""))


def _checked_patch(patch: Any, n: int) -> dict[str, Any]:
    """A posted patch in the API's shape: the fields filters and paging rely on must be there."""
    if not isinstance(patch, dict):
        raise ValueError(f"patches[{n}] is not an object")
    needed = ["Product", "Title", "ReleaseDate"] + (["KbNumber"] if patch.get("KbNumber") else
                                                     ["Name", "Arch", "Epoch", "Version", "Release"])
    missing = [k for k in needed if patch.get(k) in (None, "")]
    if missing:
        raise ValueError(f"patches[{n}] lacks {missing}")
    if not isinstance(patch["ReleaseDate"], int | float) or not isinstance(patch.get("Epoch", 0), int):
        raise ValueError(f"patches[{n}]: ReleaseDate (epoch seconds) and Epoch must be numbers")
    return patch


def _values(patch: dict[str, Any], key: str) -> list[str]:
    if key == "PATCH_SET":
        return ["OS" if patch.get("ProductFamily") == "Windows" else "APPLICATION"] if _is_windows(patch) else []
    value = patch.get(_FIELDS[key])
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _filters(body: dict[str, Any]) -> list[tuple[str, frozenset[str]]]:
    from moto.ssm.exceptions import ValidationException

    raw = body.get("Filters") or []
    if not isinstance(raw, list) or len(raw) > MAX_FILTERS:
        raise ValidationException(f"Filters: at most {MAX_FILTERS} filters are allowed")
    filters = []
    for item in raw:
        key, values = (item or {}).get("Key"), (item or {}).get("Values")
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise ValidationException("Filters: every filter needs a Key of 1 to 128 characters")
        if key not in WINDOWS_KEYS | LINUX_KEYS:
            raise ValidationException(f"Filter key {key} is not supported by DescribeAvailablePatches; supported: "
                                      f"{', '.join(sorted(WINDOWS_KEYS | LINUX_KEYS))}")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and 1 <= len(v) <= 256
                                                                 for v in values):
            raise ValidationException(f"Filter {key}: Values must be a non-empty list of 1 to 256 characters each")
        filters.append((key, frozenset(values)))
    return filters


def _check_keys(filters: list[tuple[str, frozenset[str]]], patches: tuple[dict[str, Any], ...]) -> bool:
    """Whether the named products are Windows ones; every key must be documented for their OS."""
    from moto.ssm.exceptions import ValidationException

    products = frozenset().union(*(values for key, values in filters if key == "PRODUCT"))
    keys = {key for key, _ in filters}
    if not products:
        linux_only = sorted(keys - WINDOWS_KEYS)
        if linux_only:
            raise ValidationException(f"When specifying filters for Linux patches ({', '.join(linux_only)}), you "
                                      "must specify a key-pair for PRODUCT")
        return True
    windows_products = {p["Product"] for p in patches if _is_windows(p)}
    for product in sorted(products):
        allowed = WINDOWS_KEYS if product in windows_products or product.startswith("Windows") else LINUX_KEYS
        wrong = sorted(keys - allowed)
        if wrong:
            raise ValidationException(f"Filter keys {', '.join(wrong)} are not supported for product {product}")
    return False


def describe_available_patches(self: Any) -> str:
    """``SimpleSystemManagerResponse.describe_available_patches``: the real API's answer, as JSON text."""
    from moto.ssm.exceptions import ValidationException

    body = json.loads(self.body or "{}")
    patches = STORE.log(body)
    filters = _filters(body)
    max_results = body.get("MaxResults", DEFAULT_MAX_RESULTS)
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= 100:
        raise ValidationException("MaxResults must be between 1 and 100")
    windows_only = _check_keys(filters, patches)
    query = {"Filters": sorted([k, sorted(v)] for k, v in filters), "MaxResults": max_results}
    start = api.offset(body.get("NextToken"), query)
    matches = [p for p in patches if _covered(p) and (_is_windows(p) or not windows_only)
               and all(values.intersection(_values(p, key)) for key, values in filters)]
    page = matches[start:start + max_results]
    answer: dict[str, Any] = {"Patches": page}
    if start + max_results < len(matches):
        answer["NextToken"] = api.token(query, start + max_results)
    return json.dumps(answer)


def catalog_route(method: str, body: Any) -> tuple[int, Any]:
    """POST {"patches": [Patch, ...]} replaces the catalog; GET reports it and the request log."""
    if method == "POST":
        if not isinstance(body, dict) or not isinstance(body.get("patches"), list):
            raise ValueError('POST a JSON object {"patches": [...]} in DescribeAvailablePatches\' Patch shape')
        return 200, {"patches": STORE.replace(body["patches"])}
    if method == "GET":
        return 200, STORE.status()
    return 405, {"error": "GET or POST"}


def install(registry: Any) -> None:
    from moto.ssm.responses import SimpleSystemManagerResponse

    registry.operation(SimpleSystemManagerResponse, "describe_available_patches", describe_available_patches)
    registry.route(ROUTE, catalog_route)
    registry.on_reset(STORE.forget)
