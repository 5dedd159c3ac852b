"""The published monthly reports as the UI reads them: months, the fleet page, team pages, their files.

A request names a month, a team folder and a file; each is looked up among the names that exist at
the reports location (``storage.reports_uri``), and only the listed name, never the request's text,
becomes part of a path. Hidden names (a local write's ``.tmp-*`` sibling) are never listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyarrow import fs as pafs

from patch_compliance.aws import StorageAccess
from patch_compliance.inputs import InputError, Location, parse_month
from patch_compliance.storage import list_files, list_names, open_location, read_bytes

FLEET_PAGE = "report.html"
TEAMS = "teams"
# What the view serves, by suffix: the pages, the CSV files and the manifest.
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8", "json": "application/json"}


class NotFound(LookupError):
    """No such month, team folder or file at the reports location."""


def media_type(name: str) -> str | None:
    """The content type the view serves a file name with; None: not served."""
    head, dot, suffix = name.rpartition(".")
    return MEDIA_TYPES.get(suffix) if head and dot else None


@dataclass(frozen=True)
class ReportFiles:
    """The reports location: ``<month>/report.html`` and ``<month>/teams/<team>/report.html``, with their files."""

    location: Location
    fs: pafs.FileSystem

    @classmethod
    def open(cls, uri: str, access: StorageAccess | None = None) -> ReportFiles:
        location, fs = open_location(uri, access, "reports location")
        return cls(location, fs)

    def months(self) -> list[str]:
        """The ``YYYY-MM`` folders, newest first."""
        folders = list_names(self.fs, self.location.fs_path, pafs.FileType.Directory)
        return sorted((name for name in folders if _is_month(name)), reverse=True)

    def latest(self) -> str | None:
        """The newest month whose folder holds the fleet page."""
        return next((m for m in self.months() if FLEET_PAGE in self._served(self.location.join(m))), None)

    def month(self, value: str) -> str:
        """The listed month equal to ``value``."""
        if not _is_month(value):
            raise NotFound(f"no month {value!r}")
        return _listed(value, self.months(), "month")

    def teams(self, month: str) -> list[str]:
        """The month's team folders holding a page, sorted (none before team pages are published)."""
        return self._teams(self.location.join(self.month(month), TEAMS))

    def files(self, month: str, team: str | None = None) -> list[str]:
        """The files the view serves from the month's folder (or its team's), sorted."""
        return self._served(self._folder(month, team))

    def read(self, month: str, name: str, team: str | None = None) -> bytes:
        folder = self._folder(month, team)
        listed = _listed(name, self._served(folder), "file")
        try:
            return read_bytes(self.fs, f"{folder}/{listed}")
        except FileNotFoundError as exc:  # removed since it was listed
            raise NotFound(f"no file {name!r}") from exc

    def _folder(self, month: str, team: str | None) -> str:
        listed = self.month(month)
        if team is None:
            return self.location.join(listed)
        teams = self.location.join(listed, TEAMS)
        return self.location.join(listed, TEAMS, _listed(team, self._teams(teams), f"team page in {listed}"))

    def _teams(self, base: str) -> list[str]:
        """Folders directly below ``base`` that hold ``report.html`` (one recursive listing)."""
        found = (info.path.removeprefix(f"{base}/").split("/") for info in list_files(self.fs, base))
        return sorted(parts[0] for parts in found if parts[1:] == [FLEET_PAGE] and _visible(parts[0]))

    def _served(self, folder: str) -> list[str]:
        return [name for name in list_names(self.fs, folder) if _visible(name) and media_type(name)]


def _listed(value: str, names: list[str], what: str) -> str:
    """The element of ``names`` equal to ``value``: the one a path may be built from."""
    for name in names:
        if name == value:
            return name
    raise NotFound(f"no {what} {value!r}")


def _visible(name: str) -> bool:
    return bool(name) and not name.startswith(".")


def _is_month(name: str) -> bool:
    try:
        parse_month(name)
    except InputError:
        return False
    return True
