"""Glue ``UpdateTable`` with the optimistic locking of the real API (moto 5.2 ignores ``VersionId``).

Per the API reference, ``UpdateTable`` takes an optional ``VersionId``, "the version ID at which to
update the table contents"; when the table's current version is another one, Glue refuses the update
with ``ConcurrentModificationException``. Iceberg's Glue catalog (pyiceberg, Athena, Spark) relies on
exactly that for its commit: it reads the table, writes new metadata and swaps the pointer with the
version it read, so two writers that read the same version cannot both win. moto applies every update,
so two concurrent lake writers on the stand-in both "committed" and the second silently dropped the
first's snapshot. The check and the update run under one lock, as Glue's are one atomic operation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sim.moto_ext import Registry

LOCK = threading.Lock()


def _error(message: str) -> Exception:
    from moto.glue.exceptions import GlueClientError

    return GlueClientError("ConcurrentModificationException", message)


def _locked_update(moto_update: Callable[..., Any]) -> Callable[..., Any]:
    def update_table(self: Any) -> Any:
        version = self.parameters.get("VersionId")
        if version is None:
            return moto_update(self)
        database = self.parameters.get("DatabaseName")
        name = (self.parameters.get("TableInput") or {}).get("Name")
        with LOCK:
            current = str(self.glue_backend.get_table(database, name)._current_version)
            if str(version) != current:
                raise _error(f"Update table failed due to concurrent modifications: table {database}.{name} is "
                             f"at version {current}, not {version}")
            return moto_update(self)

    return update_table


def install(registry: Registry) -> None:
    from moto.glue.responses import GlueResponse

    registry.replace(GlueResponse, "update_table", _locked_update,
                     "UpdateTable ignores VersionId, so concurrent Iceberg commits all succeed")
