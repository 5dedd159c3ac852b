"""The fleet's behaviour on a simulated date: which scan a node's data shows, and its patch items.

Closed form, so any date can be evaluated without replaying the days before it:

- An update is installed at the first maintenance window (of the node's ``Environment`` tag) at or
  after its approval under the *install* baseline (DESIGN defaults: installs that already happened do
  not change when SSM's baseline is edited later); a deterministic share of installs fails once and
  succeeds at the next window; a share of windows leaves the node pending a reboot until the next one.
  Nodes with ``fails_installs`` never succeed (Failed), nodes with ``defers_reboot`` never reboot,
  nodes with ``misses_windows`` are never patched by the windows that target them.
  Updates released before the node's ``base_date`` came with its image.
- A scan reports each installed package / KB and each update approved by the *scan* baseline (SSM's,
  when registered) but not installed, per reference §2.
- RDS keeps the last scan of nodes that stop reporting (stopped, terminated, ConnectionLost, faults).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from sim.baselines import (
    DEFAULT_WINDOWS,
    Baseline,
    BaselineResolver,
    Window,
    default_baseline,
    environment_kind,
    widened,
)
from sim.catalog import Catalog, Update
from sim.fleet import Node, unit

SCAN_HOUR, SCAN_MINUTE = 3, 10
JITTER_SECONDS = 1200
COMPLIANT_STATES = ("Installed", "InstalledOther")
NON_COMPLIANT_STATES = ("InstalledPendingReboot", "InstalledRejected", "Missing", "Failed")
_SEVERITY_RANK = {"Critical": 0, "Important": 1, "Medium": 2, "Moderate": 2, "Low": 3}
_CLASS_RANK = {"Security": 0, "SecurityUpdates": 0, "CriticalUpdates": 0}


@dataclass(frozen=True)
class Faults:
    """Fault switches. Shares pick nodes deterministically (by key) among managed nodes."""

    sync_delay_seconds: float = 0.0  # agent: wait this long after seeing a command before writing
    late_share: float = 0.0  # these nodes' output of the day arrives after the snapshot (shows the day before)
    late_delay_seconds: float = 600.0  # agent: how much later the late nodes' fresh output lands
    silent_share: float = 0.0  # these nodes never report (no RDS data at all)
    malformed_share: float = 0.0  # this share of compliance-item lines is written truncated
    drop_team_share: float = 0.0  # these hosts lose their Team tag (EC2 and AWS:Tag)

    @classmethod
    def from_dict(cls, raw: dict[str, float]) -> Faults:
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault switches {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        for key, value in raw.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (
                    key.endswith("_share") and value > 1):
                raise ValueError(f"fault {key} must be a number (a share in [0, 1]), got {value!r}")
        return cls(**{k: float(v) for k, v in raw.items()})

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Item(NamedTuple):
    """One reported patch item (Status and PatchState per reference §2). A tuple: hashed in hot loops."""

    patch_id: str
    title: str
    status: str
    severity: str
    classification: str
    patch_severity: str
    state: str
    installed_time: str
    cve_ids: str  # comma-separated, only on Missing/Failed
    release_date: date | None  # of the update named by the Title


@dataclass(frozen=True)
class Scan:
    """What a node's RDS objects show: the scan of ``day`` (None items: inventory only)."""

    node: Node
    day: date
    capture_time: str
    items: tuple[Item, ...] | None
    baseline_id: str
    instance_status: str
    info_capture_time: str  # AWS:InstanceInformation's captureTime (rewritten when the status changes)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass
class Model:
    """Evaluates nodes on simulated dates. ``resolver_for(account_id)`` gives scan baselines."""

    catalog: Catalog
    seed: int
    scan_targets: tuple[str, ...]
    windows: tuple[Window, ...] = DEFAULT_WINDOWS  # used for accounts without their own (SSM) windows
    account_windows: dict[str, tuple[Window, ...]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    resolvers: dict[str, BaselineResolver] = field(default_factory=dict)
    fail_rate: float = 0.02
    reboot_rate: float = 0.03
    # (account id, baseline id) whose baseline in force was edited outside the policy; only baselines the
    # simulator supplies itself (DESIGN's defaults): a baseline registered in the stand-in's SSM is SSM's.
    drifted: frozenset[tuple[str, str]] = frozenset()
    _plans: dict[str, dict[str, tuple]] = field(default_factory=dict, repr=False)
    _approval: dict[tuple[tuple, str, int], tuple[date | None, str]] = field(default_factory=dict, repr=False)
    _reboots: dict[tuple[str, datetime], bool] = field(default_factory=dict, repr=False)

    # --- what the node's data shows on a date ---------------------------------------------------

    def capture(self, node: Node, day: date) -> datetime:
        seconds = int(unit(self.seed, "jitter", node.key) * JITTER_SECONDS)
        return datetime(day.year, day.month, day.day, SCAN_HOUR, SCAN_MINUTE, tzinfo=UTC) + timedelta(seconds=seconds)

    def is_silent(self, node: Node) -> bool:
        return self.faults.silent_share > 0 and unit(self.seed, "silent", node.key) < self.faults.silent_share

    def is_late(self, node: Node) -> bool:
        return self.faults.late_share > 0 and unit(self.seed, "late", node.key) < self.faults.late_share

    def scans_on(self, node: Node, on: date) -> bool:
        """Whether the node's agent runs a scan on ``on`` (its output may still arrive late)."""
        return (node.has_agent and not self.is_silent(node) and node.launch_time.date() <= on
                and not any(e is not None and e <= on for e in (node.terminate_date, node.stop_date, node.lost_date)))

    def report_day(self, node: Node, on: date) -> date | None:
        """The day of the scan whose output the node's RDS objects hold on ``on`` (None: no data)."""
        if not node.has_agent or self.is_silent(node):
            return None
        last = on - timedelta(days=1) if self.is_late(node) else on
        for event in (node.terminate_date, node.stop_date, node.lost_date):
            if event is not None and event <= on:
                last = min(last, event - timedelta(days=1))
        return last if last >= node.launch_time.date() else None

    def status_change(self, node: Node, on: date) -> tuple[str, date | None]:
        """SSM's InstanceStatus on ``on`` and the day it became so (None: Active since it reported)."""
        for status, since in (("Terminated", node.terminate_date), ("Stopped", node.stop_date),
                              ("ConnectionLost", node.lost_date)):
            if since is not None and since <= on:
                return status, since
        return "Active", None

    def instance_status(self, node: Node, on: date) -> str:
        return self.status_change(node, on)[0]

    def is_scanned(self, node: Node) -> bool:
        return node.patch_group in self.scan_targets

    def scan_baseline(self, node: Node) -> Baseline:
        group = node.patch_group or f"{node.account_id}-default"
        resolver = self.resolvers.get(node.account_id)
        if resolver is None:
            resolver = self.resolvers[node.account_id] = BaselineResolver()
        baseline = resolver.for_group(group, node.family)
        if baseline.source == "default" and (node.account_id, baseline.baseline_id) in self.drifted:
            return widened(baseline)
        return baseline

    def view(self, node: Node, on: date) -> Scan | None:
        """The node's RDS content on ``on`` (None if it never reported)."""
        day = self.report_day(node, on)
        return None if day is None else self.scan_of(node, day, on)

    def scan_of(self, node: Node, day: date, on: date) -> Scan:
        """The output of the node's scan on ``day``, as the prefix holds it on ``on``."""
        baseline = self.scan_baseline(node)
        items = tuple(self.items(node, day, baseline)) if self.is_scanned(node) else None
        status, since = self.status_change(node, on)
        capture = iso(self.capture(node, day))
        # The service rewrites the instance information when the status changes; patch data stays.
        info_capture = iso(self.capture(node, since)) if since is not None and since > day else capture
        return Scan(node, day, capture, items, baseline.baseline_id, status, info_capture)

    # --- installs -----------------------------------------------------------------------------

    def node_windows(self, node: Node) -> tuple[Window, ...]:
        environment = node.tag("Environment")
        windows = self.account_windows.get(node.account_id) or self.windows
        return tuple(w for w in windows if environment in w.environments)

    def set_account_windows(self, account_id: str, windows: tuple[Window, ...] | None,
                            nodes: list[Node]) -> None:
        """Use an account's own (SSM) install windows; install plans of its nodes are recomputed."""
        if (self.account_windows.get(account_id) or None) == (windows or None):
            return
        if windows:
            self.account_windows[account_id] = windows
        else:
            self.account_windows.pop(account_id, None)
        for node in nodes:
            self._plans.pop(node.key, None)

    def _next_window(self, windows: tuple[Window, ...], moment: datetime) -> datetime | None:
        return min((w.first_at_or_after(moment) for w in windows), default=None)

    def _install_baseline(self, node: Node) -> Baseline:
        group = node.patch_group or node.tag("Environment") or "nonprod"
        return default_baseline(environment_kind(group), node.family)

    def _plan(self, node: Node) -> dict[str, tuple]:
        """Per patch id: (base index, base install time, [(update, attempt, failed, installed_at)]).

        Install times are kept with their ISO text, as (datetime, str) pairs, to keep strftime out of scans.
        """
        plan = self._plans.get(node.key)
        if plan is not None:
            return plan
        plan = {}
        windows = () if node.misses_windows else self.node_windows(node)
        install = self._install_baseline(node)
        base_moment = _midnight(node.base_date) + timedelta(hours=9, minutes=int(unit(self.seed, "b", node.key) * 300))
        base_time = (base_moment, iso(base_moment))
        chains = self.catalog.updates[node.family]
        patch_ids = node.packages if not node.is_windows else tuple(chains)
        for patch_id in patch_ids:
            chain = chains[patch_id]
            base_index = -1
            later = []
            for update in chain:
                if update.release_date < node.base_date:
                    base_index = update.version if not node.is_windows else 0
                    continue
                approved, _ = install.approval(update, node.family)
                attempt = installed_at = None
                failed = False
                if approved is not None and windows:
                    attempt = self._next_window(windows, max(_midnight(approved), base_moment))
                    failed = node.fails_installs or unit(
                        self.seed, "fail", node.key, patch_id, update.version, attempt) < self.fail_rate
                    moment = (None if node.fails_installs else
                              self._next_window(windows, attempt + timedelta(minutes=1)) if failed else attempt)
                    installed_at = (moment, iso(moment)) if moment else None
                later.append((update, attempt, failed, installed_at))
            plan[patch_id] = (base_index, base_time, later)
        self._plans[node.key] = plan
        return plan

    def _pending_reboot(self, node: Node, installed_at: datetime, scan_time: datetime) -> bool:
        if node.defers_reboot:
            return True
        key = (node.key, installed_at)
        needs = self._reboots.get(key)
        if needs is None:
            needs = self._reboots[key] = unit(self.seed, "reboot", node.key, installed_at) < self.reboot_rate
        if not needs:
            return False
        following = self._next_window(self.node_windows(node), installed_at + timedelta(minutes=1))
        return following is None or scan_time < following

    def _approval_of(self, rules_key: tuple, baseline: Baseline, update: Update,
                     family: str) -> tuple[date | None, str]:
        """Cached approval; ``rules_key`` covers the baseline's whole content, not just its id, so an
        edited baseline (same id, new soak) is evaluated afresh."""
        key = (rules_key, update.patch_id, update.version)
        found = self._approval.get(key)
        if found is None:
            found = self._approval[key] = baseline.approval(update, family)
        return found

    # --- a scan -------------------------------------------------------------------------------

    def items(self, node: Node, day: date, baseline: Baseline) -> list[Item]:
        """The patch items a scan on ``day`` reports for the node, against ``baseline``."""
        scan_time = self.capture(node, day)
        chains = self.catalog.updates[node.family]
        windows_node = node.is_windows
        rules_key = (baseline.baseline_id, hash(baseline), node.family)
        items: list[Item] = []
        for patch_id, (base_index, base_time, later) in self._plan(node).items():
            chain = chains[patch_id]
            index, installed_time = base_index, base_time
            for update, _attempt, _failed, installed_at in later:
                if update.release_date > day:
                    break
                if installed_at is not None and installed_at[0] <= scan_time and update.version > index:
                    index, installed_time = update.version, installed_at
            pending = []
            failed_now = False
            for update, attempt, failed, installed_at in later:
                if update.release_date > day:
                    break
                if update.version <= index:
                    continue
                approved, level = self._approval_of(rules_key, baseline, update, node.family)
                if approved is not None and approved <= day:
                    pending.append((update, level))
                    if failed and attempt is not None and attempt <= scan_time and (
                            installed_at is None or scan_time < installed_at[0]):
                        failed_now = True
            if windows_node and index < 0 and not pending:
                continue  # a KB neither installed nor approved is not reported
            if pending:
                latest = pending[-1][0]
                worst, level = min(pending, key=lambda p: (_CLASS_RANK.get(p[0].classification, 1),
                                                           _SEVERITY_RANK.get(p[0].severity, 9)))
                cves = ",".join(dict.fromkeys(c for u, _ in pending for c in u.cve_ids))
                state = "Failed" if failed_now else "Missing"
                items.append(Item(patch_id, latest.title, "NON_COMPLIANT", level, worst.classification,
                                  worst.severity, state, "", cves, latest.release_date))
                continue
            installed = chain[0] if windows_node else chain[index]
            approved, level = self._approval_of(rules_key, baseline, installed, node.family)
            when = installed_time[1]
            if installed.patch_id in baseline.rejected_patches:
                block = baseline.rejected_action == "BLOCK"
                items.append(Item(patch_id, installed.title, "NON_COMPLIANT" if block else "COMPLIANT", "", "",
                                  installed.severity, "InstalledRejected" if block else "InstalledOther", when,
                                  "", installed.release_date))
            elif approved is None or approved > day:
                items.append(Item(patch_id, installed.title, "COMPLIANT", "", "", installed.severity,
                                  "InstalledOther", when, "", installed.release_date))
            elif installed_time is not base_time and self._pending_reboot(node, installed_time[0], scan_time):
                items.append(Item(patch_id, installed.title, "NON_COMPLIANT", level, installed.classification,
                                  installed.severity, "InstalledPendingReboot", when, "", installed.release_date))
            else:
                items.append(Item(patch_id, installed.title, "COMPLIANT", level, installed.classification,
                                  installed.severity, "Installed", when, "", installed.release_date))
        if windows_node:
            for update in self.catalog.not_applicable[node.family]:
                items.append(Item(update.patch_id, update.title, "", "", "", "", "NotApplicable", "", "", None))
        return items
