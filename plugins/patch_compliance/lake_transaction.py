"""The lake's Iceberg transaction: pyiceberg's, computing its table metadata once per state.

pyiceberg 0.12's ``Transaction.table_metadata`` replays the staged updates onto the table's
metadata and deep-copies the result on every read (``update_table_metadata`` ends in
``model_copy(deep=True)``), and one commit reads it dozens of times: 50 reads for a day's delete
and ``add_files``, about 90 for the two commits of one validation. A copy costs in proportion to
the snapshots the table lists, so every commit slows as a table's history grows toward
``storage.retention_days`` (measured: ≈1.7 s of CPU per commit with 800 snapshots). This
subclass keeps the last result while neither the table's metadata nor the staged updates
changed; pyiceberg replaces both on every change and never mutates them, so their identity is
the key. It is the change proposed upstream (apache/iceberg-python#3302, approved, then closed
when it went stale, and #3784); delete this module when a pinned pyiceberg has it. The metadata a
commit writes is unaffected: the catalog recomputes it from the staged updates.
"""

from __future__ import annotations

from pyiceberg.table import Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import TableUpdate, update_table_metadata


class LakeTransaction(Transaction):
    """A pyiceberg ``Transaction`` whose ``table_metadata`` is computed once per (table, staged updates)."""

    def __init__(self, table: Table, autocommit: bool = False) -> None:
        super().__init__(table, autocommit)
        # (the table's metadata, the staged updates, the metadata computed from them)
        self._computed: tuple[TableMetadata, tuple[TableUpdate, ...], TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates = self._table.metadata, self._updates
        computed = self._computed
        if computed is None or computed[0] is not base or computed[1] is not updates:
            computed = self._computed = (base, updates, update_table_metadata(base, updates))
        return computed[2]
