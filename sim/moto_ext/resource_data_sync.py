"""SSM Resource Data Sync configurations on the stand-in (moto 5.2 has none of these actions).

The configurations are kept per account and Region (``POST /moto-api/reset`` forgets them); the
stand-in syncs nothing itself, the fleet simulator writes what a sync would (``sim/agent.py``).
Per the API reference:

- ``CreateResourceDataSync``: ``SyncName`` 1-64; ``SyncType`` ``SyncToDestination`` (the default),
  which needs ``S3Destination`` with ``BucketName`` 1-2048, ``SyncFormat`` ``JsonSerDe``, ``Region``
  1-64, optional ``Prefix`` 1-256 and ``AWSKMSKeyARN`` (``arn:...``, 1-512). A name in use:
  ``ResourceDataSyncAlreadyExistsException``; a sixth sync in an account and Region:
  ``ResourceDataSyncCountExceededException``.
- ``ListResourceDataSync``: the ``SyncToDestination`` syncs (the default type), each with
  ``SyncName``, ``SyncType``, ``S3Destination``, ``SyncCreatedTime``, ``SyncLastModifiedTime``;
  ``MaxResults`` 1-50 (default 50), a ``NextToken`` bound to its query (``InvalidNextToken``).
  No sync has run on the stand-in, so ``LastSyncTime``, ``LastSuccessfulSyncTime`` and
  ``LastStatus`` are absent.
- ``DeleteResourceDataSync``: ``ResourceDataSyncNotFoundException`` for an unknown name.

Refused with ``ValidationException`` because not emulated: ``SyncType`` ``SyncFromSource``
(``SyncSource``, Explorer's OpsData syncs) and ``DestinationDataSharing``. Not checked: that the
bucket exists and its policy lets Systems Manager write.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sim.moto_ext import api

SYNC_TO_DESTINATION = "SyncToDestination"
MAX_SYNCS = 5  # per account and Region (reference §1: "at most 5 syncs per account")
DESTINATION_MEMBERS = ("BucketName", "Prefix", "SyncFormat", "Region", "AWSKMSKeyARN")


class SyncStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.syncs: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # (account, Region) -> name -> item

    def of(self, response: Any) -> dict[str, dict[str, Any]]:
        return self.syncs.setdefault((response.current_account, response.region), {})

    def forget(self) -> None:
        with self.lock:
            self.syncs.clear()


STORE = SyncStore()


def _sync_type(request: dict[str, Any]) -> str:
    sync_type = api.text(request, "SyncType", high=64) or SYNC_TO_DESTINATION
    if sync_type != SYNC_TO_DESTINATION:
        raise api.invalid(f"SyncType {sync_type} {api.NOT_EMULATED}; use {SYNC_TO_DESTINATION}")
    return sync_type


def _destination(request: dict[str, Any]) -> dict[str, Any]:
    raw = api.mapping(request, "S3Destination", required=("BucketName", "SyncFormat", "Region"))
    if raw is None:
        raise api.error("ResourceDataSyncInvalidConfigurationException",
                        f"S3Destination is required for SyncType {SYNC_TO_DESTINATION}")
    if "DestinationDataSharing" in raw:
        raise api.invalid(f"S3Destination.DestinationDataSharing {api.NOT_EMULATED}")
    api.refuse_unknown(raw, "S3Destination", DESTINATION_MEMBERS)
    destination = {
        "BucketName": api.text(raw, "BucketName", high=2048, required=True),
        "Prefix": api.text(raw, "Prefix", high=256),
        "SyncFormat": api.one_of(raw, "SyncFormat", ("JsonSerDe",)),
        "Region": api.text(raw, "Region", high=64, required=True),
        "AWSKMSKeyARN": api.text(raw, "AWSKMSKeyARN", high=512, pattern=r"arn:.*"),
    }
    return {k: v for k, v in destination.items() if v is not None}


def create_resource_data_sync(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    request = api.body(self)
    if "SyncSource" in request:
        raise api.invalid(f"SyncSource (SyncFromSource syncs) {api.NOT_EMULATED}")
    api.refuse_unknown(request, "CreateResourceDataSync", ("SyncName", "S3Destination", "SyncType"))
    name = api.text(request, "SyncName", high=64, required=True) or ""
    sync_type = _sync_type(request)
    destination = _destination(request)
    with STORE.lock:
        syncs = STORE.of(self)
        if name in syncs:
            raise api.error("ResourceDataSyncAlreadyExistsException", f"Sync {name} already exists.")
        if len(syncs) >= MAX_SYNCS:
            raise api.error("ResourceDataSyncCountExceededException",
                            f"An account can have at most {MAX_SYNCS} resource data syncs per Region")
        now = datetime.now(UTC)
        syncs[name] = {"SyncName": name, "SyncType": sync_type, "S3Destination": destination,
                       "SyncCreatedTime": now, "SyncLastModifiedTime": now}
    return EmptyResult()


def list_resource_data_sync(self: Any) -> Any:
    from moto.core.responses import ActionResult

    request = api.body(self)
    api.refuse_unknown(request, "ListResourceDataSync", ("SyncType", "NextToken", "MaxResults"))
    sync_type = _sync_type(request)
    with STORE.lock:
        items = [dict(item) for _, item in sorted(STORE.of(self).items())]
    query = {"SyncType": sync_type, "MaxResults": request.get("MaxResults")}
    return ActionResult(api.page(items, request, query, key="ResourceDataSyncItems", default=50, high=50,
                                 invalid_code="InvalidNextToken"))


def delete_resource_data_sync(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    request = api.body(self)
    api.refuse_unknown(request, "DeleteResourceDataSync", ("SyncName", "SyncType"))
    name = api.text(request, "SyncName", high=64, required=True) or ""
    _sync_type(request)
    with STORE.lock:
        if STORE.of(self).pop(name, None) is None:
            raise api.error("ResourceDataSyncNotFoundException", f"Sync {name} does not exist.")
    return EmptyResult()


def install(registry: Any) -> None:
    from moto.ssm.responses import SimpleSystemManagerResponse as Ssm

    for name, method in (("create_resource_data_sync", create_resource_data_sync),
                         ("list_resource_data_sync", list_resource_data_sync),
                         ("delete_resource_data_sync", delete_resource_data_sync)):
        registry.operation(Ssm, name, method)
    registry.on_reset(STORE.forget)
