"""SSM patch baselines on the stand-in as the real API keeps them: full contents, tags, patch groups.

moto 5.2 stores a baseline's identity only (no ``GetPatchBaseline``, no ``UpdatePatchBaseline``),
rejects tags on patch baselines (``InvalidResourceId``, after storing the baseline), ignores the
``OWNER`` filter, pre-seeds every patch group with each OS's default baseline (so a second OS or a
replacement cannot be registered) and assigns instead of removing on deregistration. This module
owns every patch-baseline action, per the API reference (botocore ``ssm/2014-11-06``), keyed by
account and Region; ``POST /moto-api/reset`` forgets it.

Emulated:

- ``CreatePatchBaseline``: ``Name`` (3-128, ``[a-zA-Z0-9_.-]``), ``OperatingSystem`` (default
  ``WINDOWS``), ``Description`` (1-1024), ``ApprovalRules`` (0-10 rules; 0-4 filters per rule with
  keys valid for the OS per ``DescribePatchProperties``, unique, 1-20 values of 1-64 characters;
  ``ComplianceLevel``; exactly one of ``ApproveAfterDays`` 0-360 or ``ApproveUntilDate`` YYYY-MM-DD,
  neither on Ubuntu/Debian; ``EnableNonSecurity``), ``GlobalFilters``, ``ApprovedPatches`` /
  ``RejectedPatches`` (0-50 of 1-100 characters), ``ApprovedPatchesComplianceLevel``,
  ``ApprovedPatchesEnableNonSecurity``, ``RejectedPatchesAction``,
  ``AvailableSecurityUpdatesComplianceStatus``, ``Tags`` (at most 50, keys not ``aws:``) and
  ``ClientToken`` idempotency (same token, other request: ``IdempotentParameterMismatch``).
- ``GetPatchBaseline`` (contents, ``PatchGroups``, ``CreatedDate``/``ModifiedDate``),
  ``UpdatePatchBaseline`` (unspecified fields unchanged; ``Replace`` resets them to defaults),
  ``DeletePatchBaseline`` (``ResourceInUseException`` while a patch group is registered).
- ``DescribePatchBaselines``: filters ``NAME_PREFIX``, ``OWNER`` (``Self`` | ``AWS`` | ``All``),
  ``OPERATING_SYSTEM``; ``MaxResults`` 1-100 (default 100) and a ``NextToken`` bound to its query.
  Without an ``OWNER`` filter the AWS-managed default baselines are listed too, with the ARN ids
  moto ships per Region and ``DefaultBaseline`` true.
- Patch groups: ``RegisterPatchBaselineForPatchGroup`` (one baseline per group and OS:
  ``AlreadyExistsException`` when another holds the slot; registering the holder again succeeds),
  ``DeregisterPatchBaselineForPatchGroup`` (``InvalidResourceId`` unless that baseline holds the
  group's slot), ``GetPatchBaselineForPatchGroup`` (``OperatingSystem`` defaults to ``WINDOWS``; an
  unregistered group gets the OS's AWS default baseline).
- Tags with ``ResourceType`` ``PatchBaseline`` in ``AddTagsToResource`` / ``ListTagsForResource`` /
  ``RemoveTagsFromResource`` (other resource types stay moto's); deleting a baseline drops its tags.

Refused with ``ValidationException`` because not emulated: ``Sources`` (custom repositories), the
contents of AWS-managed baselines (``GetPatchBaseline`` of an ARN), registering, updating or
deleting an AWS-managed baseline, and any request member the API does not define.
``RegisterDefaultPatchBaseline`` / ``GetDefaultPatchBaseline`` stay unimplemented (moto answers them
with an error), so the account's defaults are always the AWS-managed ones. Not checked: account
quotas (baselines per Region, groups per baseline) and filter values against
``DescribePatchProperties``.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sim.moto_ext import api

OPERATING_SYSTEMS = (
    "WINDOWS", "AMAZON_LINUX", "AMAZON_LINUX_2", "AMAZON_LINUX_2022", "UBUNTU", "REDHAT_ENTERPRISE_LINUX", "SUSE",
    "CENTOS", "ORACLE_LINUX", "DEBIAN", "MACOS", "RASPBIAN", "ROCKY_LINUX", "ALMA_LINUX", "AMAZON_LINUX_2023",
)
_RPM = frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY"})
_DEB = frozenset({"PRODUCT", "PRIORITY", "SECTION"})
FILTER_KEYS = {  # DescribePatchProperties' valid properties per OS (PATCH_SET and SECTION from PatchFilter)
    "WINDOWS": frozenset({"PATCH_SET", "PRODUCT", "PRODUCT_FAMILY", "CLASSIFICATION", "MSRC_SEVERITY"}),
    "UBUNTU": _DEB, "DEBIAN": _DEB, "RASPBIAN": _DEB,
    "MACOS": frozenset({"PRODUCT", "CLASSIFICATION"}),
}
NO_APPROVAL_DELAY = frozenset({"UBUNTU", "DEBIAN"})  # neither ApproveAfterDays nor ApproveUntilDate
PREDEFINED_NAMES = {
    "WINDOWS": "AWS-DefaultPatchBaseline", "AMAZON_LINUX": "AWS-AmazonLinuxDefaultPatchBaseline",
    "AMAZON_LINUX_2": "AWS-AmazonLinux2DefaultPatchBaseline",
    "AMAZON_LINUX_2022": "AWS-AmazonLinux2022DefaultPatchBaseline",
    "AMAZON_LINUX_2023": "AWS-AmazonLinux2023DefaultPatchBaseline", "UBUNTU": "AWS-UbuntuDefaultPatchBaseline",
    "REDHAT_ENTERPRISE_LINUX": "AWS-RedHatDefaultPatchBaseline", "SUSE": "AWS-SuseDefaultPatchBaseline",
    "CENTOS": "AWS-CentOSDefaultPatchBaseline", "ORACLE_LINUX": "AWS-OracleLinuxDefaultPatchBaseline",
    "DEBIAN": "AWS-DebianDefaultPatchBaseline", "MACOS": "AWS-MacOSDefaultPatchBaseline",
    "RASPBIAN": "AWS-RaspbianDefaultPatchBaseline", "ROCKY_LINUX": "AWS-RockyLinuxDefaultPatchBaseline",
    "ALMA_LINUX": "AWS-AlmaLinuxDefaultPatchBaseline",
}
COMPLIANCE_LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED")
BASELINE_ID = r"^[a-zA-Z0-9_\-:/]{20,128}$"
NAME = r"^[a-zA-Z0-9_\-.]{3,128}$"
PATCH_GROUP = r"^([\w\s_.:/=+\-@]*)$"
TAG_TEXT = r"^([\w\s_.:/=+\-@]*)$"
MAX_TAGS = 50
RESOURCE_TYPE = "PatchBaseline"

CONTENT_DEFAULTS: dict[str, Any] = {  # what GetPatchBaseline shows for a member never set
    "GlobalFilters": {"PatchFilters": []},
    "ApprovalRules": {"PatchRules": []},
    "ApprovedPatches": [],
    "ApprovedPatchesComplianceLevel": "UNSPECIFIED",
    "ApprovedPatchesEnableNonSecurity": False,
    "RejectedPatches": [],
    "RejectedPatchesAction": "ALLOW_AS_DEPENDENCY",
    "Sources": [],
}
OPTIONAL_CONTENT = ("Description", "AvailableSecurityUpdatesComplianceStatus")
CONTENT_MEMBERS = ("Name", *CONTENT_DEFAULTS, *OPTIONAL_CONTENT)


@dataclass
class Baseline:
    baseline_id: str
    operating_system: str
    content: dict[str, Any]  # CONTENT_MEMBERS, in GetPatchBaseline's shape
    created: datetime
    modified: datetime
    tags: dict[str, str] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        identity = {"BaselineId": self.baseline_id, "BaselineName": self.content["Name"],
                    "OperatingSystem": self.operating_system, "DefaultBaseline": False}
        if "Description" in self.content:
            identity["BaselineDescription"] = self.content["Description"]
        return identity

    def describe(self) -> dict[str, Any]:
        return {"BaselineId": self.baseline_id, "OperatingSystem": self.operating_system, **self.content,
                "CreatedDate": self.created, "ModifiedDate": self.modified}


@dataclass
class RegionState:
    """One account's baselines and patch-group registrations in one Region."""

    baselines: dict[str, Baseline] = field(default_factory=dict)
    groups: dict[tuple[str, str], str] = field(default_factory=dict)  # (patch group, OS) -> baseline id
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # ClientToken -> (request digest, id)

    def groups_of(self, baseline_id: str) -> list[str]:
        return sorted(group for (group, _), bound in self.groups.items() if bound == baseline_id)


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.regions: dict[tuple[str, str], RegionState] = {}

    def of(self, response: Any) -> RegionState:
        return self.regions.setdefault((response.current_account, response.region), RegionState())

    def forget(self) -> None:
        with self.lock:
            self.regions.clear()


STORE = Store()


def predefined(region: str) -> dict[str, str]:
    """OS -> the ARN id of its AWS-managed default baseline in ``region`` (moto's resource file)."""
    from moto.utilities.utils import load_resource

    return load_resource("ssm/resources/default_baselines.json").get(region, {})


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return "pb-" + "".join(random.choice("0123456789abcdef") for _ in range(17))


# --- request checking --------------------------------------------------------------------------


def _filters(raw: Any, where: str, operating_system: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("PatchFilters"), list):
        raise api.invalid(f"{where}: expected a structure with a PatchFilters list")
    filters = raw["PatchFilters"]
    if len(filters) > 4:
        raise api.invalid(f"{where}.PatchFilters: at most 4 filters, got {len(filters)}")
    allowed = FILTER_KEYS.get(operating_system, _RPM)
    checked, seen = [], set()
    for n, item in enumerate(filters):
        here = f"{where}.PatchFilters[{n}]"
        if not isinstance(item, dict):
            raise api.invalid(f"{here}: expected a structure")
        api.refuse_unknown(item, here, ("Key", "Values"))
        key = item.get("Key")
        if key not in allowed:
            raise api.invalid(f"{here}: key {key!r} is not valid for {operating_system}; valid keys: "
                              f"{', '.join(sorted(allowed))}")
        if key in seen:
            raise api.invalid(f"{here}: filter key {key} appears twice in one filter group")
        seen.add(key)
        values = api.strings(item, "Values", low=1, high=20, item_high=64)
        if values is None:
            raise api.invalid(f"{here}.Values: must not be null")
        checked.append({"Key": key, "Values": values})
    return {"PatchFilters": checked}


def _rule(raw: Any, where: str, operating_system: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise api.invalid(f"{where}: expected a structure")
    api.refuse_unknown(raw, where, ("PatchFilterGroup", "ComplianceLevel", "ApproveAfterDays", "ApproveUntilDate",
                                    "EnableNonSecurity"))
    rule: dict[str, Any] = {
        "PatchFilterGroup": _filters(raw.get("PatchFilterGroup"), f"{where}.PatchFilterGroup", operating_system),
        "ComplianceLevel": api.one_of(raw, "ComplianceLevel", COMPLIANCE_LEVELS, "UNSPECIFIED"),
    }
    days = api.number(raw, "ApproveAfterDays", low=0, high=360)
    until = api.text(raw, "ApproveUntilDate", high=10, pattern=r"^\d{4}-\d{2}-\d{2}$")
    if operating_system in NO_APPROVAL_DELAY:
        if days is not None or until is not None:
            raise api.invalid(f"{where}: ApproveAfterDays and ApproveUntilDate are not supported for "
                              f"{operating_system}")
    elif (days is None) == (until is None):
        raise api.invalid(f"{where}: specify exactly one of ApproveAfterDays or ApproveUntilDate")
    if days is not None:
        rule["ApproveAfterDays"] = days
    if until is not None:
        try:
            date.fromisoformat(until)
        except ValueError as exc:
            raise api.invalid(f"{where}.ApproveUntilDate: expected YYYY-MM-DD, got {until!r}") from exc
        rule["ApproveUntilDate"] = until
    rule["EnableNonSecurity"] = bool(api.flag(raw, "EnableNonSecurity"))
    return rule


def _content(request: dict[str, Any], operating_system: str) -> dict[str, Any]:
    """The content members present in a Create/Update request, checked and normalised."""
    content: dict[str, Any] = {}
    if "Name" in request:
        content["Name"] = api.text(request, "Name", low=3, high=128, pattern=NAME)
    if "Description" in request:
        content["Description"] = api.text(request, "Description", high=1024)
    if "GlobalFilters" in request:
        content["GlobalFilters"] = _filters(request["GlobalFilters"], "GlobalFilters", operating_system)
    if "ApprovalRules" in request:
        rules = api.mapping(request, "ApprovalRules", required=("PatchRules",)) or {}
        api.refuse_unknown(rules, "ApprovalRules", ("PatchRules",))
        raw_rules = rules["PatchRules"]
        if not isinstance(raw_rules, list) or len(raw_rules) > 10:
            raise api.invalid("ApprovalRules.PatchRules: expected a list of at most 10 rules")
        content["ApprovalRules"] = {"PatchRules": [_rule(r, f"ApprovalRules.PatchRules[{n}]", operating_system)
                                                   for n, r in enumerate(raw_rules)]}
    for key in ("ApprovedPatches", "RejectedPatches"):
        if key in request:
            content[key] = api.strings(request, key, high=50, item_high=100)
    if "ApprovedPatchesComplianceLevel" in request:
        content["ApprovedPatchesComplianceLevel"] = api.one_of(request, "ApprovedPatchesComplianceLevel",
                                                               COMPLIANCE_LEVELS)
    if "ApprovedPatchesEnableNonSecurity" in request:
        content["ApprovedPatchesEnableNonSecurity"] = api.flag(request, "ApprovedPatchesEnableNonSecurity")
    if "RejectedPatchesAction" in request:
        content["RejectedPatchesAction"] = api.one_of(request, "RejectedPatchesAction",
                                                      ("ALLOW_AS_DEPENDENCY", "BLOCK"))
    if "AvailableSecurityUpdatesComplianceStatus" in request:
        content["AvailableSecurityUpdatesComplianceStatus"] = api.one_of(
            request, "AvailableSecurityUpdatesComplianceStatus", ("COMPLIANT", "NON_COMPLIANT"))
    if request.get("Sources"):
        raise api.invalid(f"Sources (custom patch repositories) {api.NOT_EMULATED}")
    return {k: v for k, v in content.items() if v is not None}


def _tags(raw: Any, where: str = "Tags") -> dict[str, str]:
    if not isinstance(raw, list):
        raise api.invalid(f"{where}: expected a list of {{Key, Value}}")
    tags: dict[str, str] = {}
    for n, tag in enumerate(raw):
        if not isinstance(tag, dict) or not isinstance(tag.get("Key"), str) or not isinstance(tag.get("Value"), str):
            raise api.invalid(f"{where}[{n}]: every tag needs a string Key and Value")
        key = api.checked_text(f"{where}[{n}].Key", tag["Key"], 1, 128, TAG_TEXT)
        if key.lower().startswith("aws:"):
            raise api.invalid(f"{where}[{n}].Key: the aws: prefix is reserved for AWS use")
        tags[key] = api.checked_text(f"{where}[{n}].Value", tag["Value"], 0, 256, TAG_TEXT)
    return tags


def _baseline_id(request: dict[str, Any]) -> str:
    return api.text(request, "BaselineId", low=20, high=128, pattern=BASELINE_ID, required=True) or ""


def _custom(state: RegionState, baseline_id: str, action: str) -> Baseline:
    """A baseline of the account; AWS-managed ones are refused, unknown ones do not exist."""
    if baseline_id.startswith("arn:"):
        raise api.invalid(f"{action} of the AWS-managed baseline {baseline_id} {api.NOT_EMULATED}")
    baseline = state.baselines.get(baseline_id)
    if baseline is None:
        raise api.error("DoesNotExistException", f"Patch Baseline {baseline_id} does not exist.")
    return baseline


def _digest(request: dict[str, Any]) -> str:
    rest = {k: v for k, v in request.items() if k != "ClientToken"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


# --- actions -------------------------------------------------------------------------------------

CREATE_MEMBERS = ("OperatingSystem", "ClientToken", "Tags", *CONTENT_MEMBERS)
UPDATE_MEMBERS = ("BaselineId", "Replace", *CONTENT_MEMBERS)


def create_patch_baseline(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "CreatePatchBaseline", CREATE_MEMBERS)
    operating_system = api.one_of(request, "OperatingSystem", OPERATING_SYSTEMS, "WINDOWS") or "WINDOWS"
    if "Name" not in request:
        api.text(request, "Name", high=128, required=True)
    content = {**CONTENT_DEFAULTS, **_content(request, operating_system)}
    tags = _tags(request.get("Tags") or [])
    if len(tags) > MAX_TAGS:
        raise api.invalid(f"Tags: a patch baseline takes at most {MAX_TAGS} tags")
    token = api.text(request, "ClientToken", high=64)
    with STORE.lock:
        state = STORE.of(self)
        if token and token in state.tokens:
            digest, baseline_id = state.tokens[token]
            if digest != _digest(request):
                raise api.error("IdempotentParameterMismatch",
                                "The ClientToken was used before with different parameters")
            return ActionResult({"BaselineId": baseline_id})
        now = _now()
        baseline = Baseline(_new_id(), operating_system, content, now, now, tags)
        state.baselines[baseline.baseline_id] = baseline
        if token:
            state.tokens[token] = (_digest(request), baseline.baseline_id)
    return ActionResult({"BaselineId": baseline.baseline_id})


def get_patch_baseline(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "GetPatchBaseline", ("BaselineId",))
    baseline_id = _baseline_id(request)
    with STORE.lock:
        state = STORE.of(self)
        baseline = _custom(state, baseline_id, "GetPatchBaseline")
        return ActionResult({**baseline.describe(), "PatchGroups": state.groups_of(baseline_id)})


def update_patch_baseline(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "UpdatePatchBaseline", UPDATE_MEMBERS)
    baseline_id = _baseline_id(request)
    replace = bool(api.flag(request, "Replace"))
    if replace and "Name" not in request:
        api.text(request, "Name", high=128, required=True)
    with STORE.lock:
        baseline = _custom(STORE.of(self), baseline_id, "UpdatePatchBaseline")
        changes = _content(request, baseline.operating_system)
        if replace:
            baseline.content = {**CONTENT_DEFAULTS, **changes}
        else:
            baseline.content.update(changes)
        baseline.modified = _now()
        return ActionResult(baseline.describe())


def delete_patch_baseline(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "DeletePatchBaseline", ("BaselineId",))
    baseline_id = _baseline_id(request)
    if baseline_id.startswith("arn:"):
        raise api.invalid(f"DeletePatchBaseline of the AWS-managed baseline {baseline_id} {api.NOT_EMULATED}")
    with STORE.lock:
        state = STORE.of(self)
        groups = state.groups_of(baseline_id)
        if groups:
            raise api.error("ResourceInUseException", f"Patch baseline {baseline_id} is registered with patch "
                                                      f"groups {groups}; deregister them first")
        state.baselines.pop(baseline_id, None)
    return ActionResult({"BaselineId": baseline_id})


def _owner_filter(values: list[str]) -> set[str]:
    owners = set()
    for value in values:
        if value not in {"Self", "AWS", "All"}:
            raise api.invalid(f"Filter OWNER: value {value!r} is not valid; use Self, AWS or All")
        owners |= {"Self", "AWS"} if value == "All" else {value}
    return owners


def describe_patch_baselines(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "DescribePatchBaselines", ("Filters", "MaxResults", "NextToken"))
    filters = request.get("Filters") or []
    if not isinstance(filters, list) or len(filters) > 5:
        raise api.invalid("Filters: at most 5 filters")
    owners, prefixes, systems = {"Self", "AWS"}, None, None
    for n, item in enumerate(filters):
        key, values = (item or {}).get("Key"), (item or {}).get("Values")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise api.invalid(f"Filters[{n}].Values: expected a non-empty list of strings")
        if key == "OWNER":
            owners &= _owner_filter(values)
        elif key == "NAME_PREFIX":
            prefixes = values
        elif key == "OPERATING_SYSTEM":
            systems = set(values)
        else:
            raise api.invalid(f"Filters[{n}].Key: {key!r} is not supported; use NAME_PREFIX, OWNER or "
                              "OPERATING_SYSTEM")
    identities: list[dict[str, Any]] = []
    if "AWS" in owners:
        identities += [{"BaselineId": arn, "BaselineName": PREDEFINED_NAMES[system], "OperatingSystem": system,
                        "DefaultBaseline": True} for system, arn in sorted(predefined(self.region).items())]
    with STORE.lock:
        if "Self" in owners:
            identities += [b.identity() for b in STORE.of(self).baselines.values()]
    identities = [i for i in identities
                  if (prefixes is None or i["BaselineName"].startswith(tuple(prefixes)))
                  and (systems is None or i["OperatingSystem"] in systems)]
    query = {"Filters": filters, "MaxResults": request.get("MaxResults")}
    return ActionResult(api.page(identities, request, query, key="BaselineIdentities", default=100, high=100))


def _patch_group(request: dict[str, Any]) -> str:
    return api.text(request, "PatchGroup", high=256, pattern=PATCH_GROUP, required=True) or ""


def register_patch_baseline_for_patch_group(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "RegisterPatchBaselineForPatchGroup", ("BaselineId", "PatchGroup"))
    baseline_id, group = _baseline_id(request), _patch_group(request)
    with STORE.lock:
        state = STORE.of(self)
        baseline = _custom(state, baseline_id, "RegisterPatchBaselineForPatchGroup")
        slot = (group, baseline.operating_system)
        holder = state.groups.get(slot)
        if holder not in (None, baseline_id):
            raise api.error("AlreadyExistsException", f"Patch group {group} is already registered with baseline "
                                                      f"{holder} for {baseline.operating_system}")
        state.groups[slot] = baseline_id
    return ActionResult({"BaselineId": baseline_id, "PatchGroup": group})


def deregister_patch_baseline_for_patch_group(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "DeregisterPatchBaselineForPatchGroup", ("BaselineId", "PatchGroup"))
    baseline_id, group = _baseline_id(request), _patch_group(request)
    with STORE.lock:
        state = STORE.of(self)
        baseline = state.baselines.get(baseline_id)
        slot = (group, baseline.operating_system) if baseline else None
        if slot is None or state.groups.get(slot) != baseline_id:
            raise api.error("InvalidResourceId", f"Patch group {group} is not registered with baseline {baseline_id}")
        del state.groups[slot]
    return ActionResult({"BaselineId": baseline_id, "PatchGroup": group})


def get_patch_baseline_for_patch_group(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "GetPatchBaselineForPatchGroup", ("PatchGroup", "OperatingSystem"))
    group = _patch_group(request)
    operating_system = api.one_of(request, "OperatingSystem", OPERATING_SYSTEMS, "WINDOWS") or "WINDOWS"
    with STORE.lock:
        baseline_id = STORE.of(self).groups.get((group, operating_system))
    if baseline_id is None:
        defaults = predefined(self.region)
        if operating_system not in defaults:
            raise api.invalid(f"the AWS default baseline for {operating_system} in {self.region} {api.NOT_EMULATED}")
        baseline_id = defaults[operating_system]
    return ActionResult({"BaselineId": baseline_id, "PatchGroup": group, "OperatingSystem": operating_system})


# --- tags (ResourceType PatchBaseline; every other type stays moto's) -----------------------------


def _tagged(self: Any, request: dict[str, Any]) -> Baseline:
    resource_id = request.get("ResourceId")
    baseline = STORE.of(self).baselines.get(resource_id) if isinstance(resource_id, str) else None
    if baseline is None:
        raise api.error("InvalidResourceId", "Invalid Resource Id")
    return baseline


def _tag_actions(registry: Any, response_class: type) -> None:
    from moto.core.responses import ActionResult, EmptyResult

    def wrap(name: str, handle: Any) -> None:
        def for_patch_baselines(moto_action: Any) -> Any:
            def action(self: Any) -> Any:
                request = api.body(self)
                if request.get("ResourceType") != RESOURCE_TYPE:
                    return moto_action(self)
                with STORE.lock:
                    return handle(_tagged(self, request), request)

            return action

        registry.replace(response_class, name, for_patch_baselines,
                         "tags on patch baselines are refused (InvalidResourceId)")

    def add(baseline: Baseline, request: dict[str, Any]) -> Any:
        tags = _tags(request.get("Tags") or [])
        if len({**baseline.tags, **tags}) > MAX_TAGS:
            raise api.error("TooManyTagsError", f"A patch baseline takes at most {MAX_TAGS} tags")
        baseline.tags.update(tags)
        return EmptyResult()

    def listed(baseline: Baseline, request: dict[str, Any]) -> Any:
        return ActionResult({"TagList": [{"Key": k, "Value": v} for k, v in baseline.tags.items()]})

    def remove(baseline: Baseline, request: dict[str, Any]) -> Any:
        keys = request.get("TagKeys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise api.invalid("TagKeys: expected a list of tag keys")
        for key in keys:
            baseline.tags.pop(key, None)
        return EmptyResult()

    wrap("add_tags_to_resource", add)
    wrap("list_tags_for_resource", listed)
    wrap("remove_tags_from_resource", remove)


def install(registry: Any) -> None:
    from moto.ssm.responses import SimpleSystemManagerResponse as Ssm

    for name, method in (("get_patch_baseline", get_patch_baseline),
                         ("update_patch_baseline", update_patch_baseline)):
        registry.operation(Ssm, name, method)
    moto_gets_wrong = {
        "create_patch_baseline": (create_patch_baseline, "stores identities only, then fails on Tags"),
        "describe_patch_baselines": (describe_patch_baselines, "ignores OWNER; NAME_PREFIX matches whole names"),
        "delete_patch_baseline": (delete_patch_baseline, "deletes baselines still registered with groups"),
        "register_patch_baseline_for_patch_group": (register_patch_baseline_for_patch_group,
                                                    "groups come pre-seeded with every OS's default"),
        "deregister_patch_baseline_for_patch_group": (deregister_patch_baseline_for_patch_group,
                                                      "assigns the baseline instead of removing it"),
        "get_patch_baseline_for_patch_group": (get_patch_baseline_for_patch_group,
                                               "fails without OperatingSystem"),
    }
    for name, (method, why) in moto_gets_wrong.items():
        registry.replace(Ssm, name, lambda _moto, method=method: method, why)
    _tag_actions(registry, Ssm)
    registry.on_reset(STORE.forget)
