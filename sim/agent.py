"""The simulated SSM agents: turn ``AWS-RunPatchBaseline`` Scan commands seen in moto into RDS output.

moto records ``send_command`` (resolving ``tag:`` targets against its EC2 instances) but runs
nothing. ``Agent.poll_once()`` lists each account's commands (STS AssumeRole into the account's
role), and for every new Scan command, after ``sync_delay_seconds``, evaluates the targeted nodes at
the *simulated* date and writes their RDS objects into the sync prefix. Capture times are simulated
(``<sim date>T03:10Z`` + jitter); S3 ``LastModified`` is real time, which is what a DAG's sensor compares
with the scan's start. ``AgentRunner`` polls in a background thread (tests, demo);
``python -m sim agent`` runs it as a process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from patch_compliance import rds
from patch_compliance.config import Settings, load_settings
from sim.baselines import BaselineResolver, windows_from_ssm
from sim.fleet import Node, account_session
from sim.model import Scan
from sim.rds_writer import PROBE_BODY, Renderer, probe_key, sink_for
from sim.state import SimState, World, build_world

log = logging.getLogger(__name__)
DOCUMENT = "AWS-RunPatchBaseline"


@dataclass
class ScanReport:
    """What one handled command produced."""

    command_id: str
    account_id: str
    comment: str
    sim_date: date
    targeted: int
    fresh: int
    kept: int  # nodes whose older output (stale, stopped, terminated) was put in place
    objects: int


@dataclass
class _Pending:
    seen_at: float
    account_id: str
    command: dict[str, Any]


@dataclass
class Agent:
    """Handles Scan commands of every configured account. Not thread-safe; one poller at a time."""

    endpoint_url: str
    state: SimState | str | Path | None = None
    sync_uri: str | None = None  # default: settings.storage.sync_uri
    settings: Settings | None = None
    reports: list[ScanReport] = field(default_factory=list)
    _pending: dict[str, _Pending] = field(default_factory=dict, repr=False)
    _handled: set[str] = field(default_factory=set, repr=False)
    _late: list[tuple[float, dict[str, bytes]]] = field(default_factory=list, repr=False)
    _written: dict[str, tuple[date, str]] = field(default_factory=dict, repr=False)
    _probed: set[str] = field(default_factory=set, repr=False)
    _world: World | None = field(default=None, repr=False)
    _world_key: tuple | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.settings = self.settings or load_settings()
        self.sync_uri = self.sync_uri or self.settings.storage.sync_uri
        self.sink = sink_for(self.sync_uri, self.endpoint_url)
        self._sessions: dict[str, Any] = {}

    # --- state and world ----------------------------------------------------------------------

    def current_state(self) -> SimState:
        """The state object, or the state file re-read (so ``sim set-date`` reaches a running agent)."""
        if isinstance(self.state, SimState):
            return SimState.load(self.state.path) if self.state.path and self.state.path.exists() else self.state
        return SimState.load(self.state)

    def world(self, state: SimState) -> World:
        key = (state.seed, state.size, state.anchor, tuple(sorted(state.faults.items())),
               tuple(sorted(state.fleet.items())), tuple(sorted(state.id_map.items())))
        if self._world is None or key != self._world_key:
            self._world, self._world_key = build_world(state, self.settings), key
        self._world.state = state
        return self._world

    def _session(self, account_id: str) -> Any:
        if account_id not in self._sessions:
            account = next(a for a in self.settings.accounts if a.id == account_id)
            self._sessions[account_id] = account_session(self.endpoint_url, account.id, account.regions[0],
                                                         account.role_arn)
        return self._sessions[account_id]

    def _ssm(self, account_id: str) -> Any:
        return self._session(account_id).client("ssm", endpoint_url=self.endpoint_url)

    # --- polling ------------------------------------------------------------------------------

    def poll_once(self, now: float | None = None) -> list[ScanReport]:
        """Discover new Scan commands, handle those whose delay has passed; returns what was handled."""
        now = time.time() if now is None else now
        state = self.current_state()
        faults = self.world(state).faults
        for account in self.settings.accounts:
            for command in self._ssm(account.id).list_commands().get("Commands", []):
                command_id = command["CommandId"]
                if command_id in self._handled or command_id in self._pending:
                    continue
                if command.get("DocumentName") != DOCUMENT:
                    self._handled.add(command_id)
                    continue
                operation = (command.get("Parameters") or {}).get("Operation", ["Scan"])
                if operation != ["Scan"]:
                    self._handled.add(command_id)
                    continue
                self._pending[command_id] = _Pending(now, account.id, command)
        due = [cid for cid, p in self._pending.items() if now >= p.seen_at + faults.sync_delay_seconds]
        handled = []
        if due:
            world = self.world(state)
            self._refresh_policy(world, {self._pending[c].account_id for c in due})
            for command_id in due:
                pending = self._pending.pop(command_id)
                handled.append(self._handle(world, state.sim_date, pending, now))
                self._handled.add(command_id)
        for entry in [e for e in self._late if now >= e[0]]:
            self._late.remove(entry)
            self.sink.put_many(entry[1])
        self.reports += handled
        return handled

    def _refresh_policy(self, world: World, accounts: set[str]) -> None:
        """Baselines and install windows as registered in SSM now (DESIGN defaults where none are)."""
        for account_id in accounts:
            ssm = self._ssm(account_id)
            world.model.resolvers[account_id] = BaselineResolver(ssm)
            world.model.set_account_windows(account_id, windows_from_ssm(ssm), world.fleet.in_account(account_id))

    def _targets(self, world: World, account_id: str, command: dict[str, Any]) -> list[Node]:
        by_id = world.fleet.by_id()
        nodes = [by_id[i] for i in command.get("InstanceIds", []) if i in by_id]
        groups: set[str] = set()
        for target in command.get("Targets", []):
            if target.get("Key") == "tag:PatchGroup":
                groups.update(target.get("Values", []))
        # moto knows no hybrid nodes: resolve the account's mi- nodes against the same tag values.
        nodes += [n for n in world.fleet.in_account(account_id) if n.is_hybrid and n.patch_group in groups]
        return nodes

    def _handle(self, world: World, on: date, pending: _Pending, now: float) -> ScanReport:
        command = pending.command
        account_id = pending.account_id
        snapshot_id = ((command.get("Parameters") or {}).get("SnapshotId") or [""])[0]
        renderer = Renderer(world.state.seed, world.faults.malformed_share)
        objects: dict[str, bytes] = {}
        if account_id not in self._probed:
            objects[probe_key(account_id)] = PROBE_BODY
            self._probed.add(account_id)
        targeted = self._targets(world, account_id, command)
        fresh = kept = 0
        late: dict[str, bytes] = {}
        for node in targeted:
            scan = world.model.view(node, on)
            if scan is None:
                continue
            if scan.day < on and world.model.is_late(node) and world.model.scans_on(node, on):
                # The fresh output lands later; meanwhile the previous day's is what the prefix holds.
                fresh_scan = world.model.scan_of(node, on, on)
                late.update(renderer.objects(fresh_scan, command["CommandId"], snapshot_id))
            if scan.day == on:
                fresh += 1
                objects.update(self._render(renderer, scan, command["CommandId"], snapshot_id))
            elif self._needs_kept_copy(node, scan):
                kept += 1
                objects.update(self._render(renderer, scan, command["CommandId"], snapshot_id))
        # Managed nodes outside the scan's targets still send inventory (no patch items: NO_DATA).
        for node in world.fleet.in_account(account_id):
            if node.has_agent and not world.model.is_scanned(node):
                scan = world.model.view(node, on)
                if scan is not None and scan.day == on:
                    objects.update(self._render(renderer, scan, command["CommandId"], snapshot_id))
        self.sink.put_many(objects)
        if late:
            self._late.append((now + world.faults.late_delay_seconds, late))
        report = ScanReport(command["CommandId"], account_id, command.get("Comment", ""), on, len(targeted), fresh,
                            kept, len(objects))
        log.info("command %s (%s) in %s: %d targeted, %d fresh, %d kept, %d objects", report.command_id,
                 report.comment, account_id, report.targeted, fresh, kept, len(objects))
        return report

    def _render(self, renderer: Renderer, scan: Scan, exec_id: str, snapshot_id: str) -> dict[str, bytes]:
        self._written[scan.node.node_id] = (scan.day, scan.instance_status)
        return renderer.objects(scan, exec_id, snapshot_id)

    def _needs_kept_copy(self, node: Node, scan: Scan) -> bool:
        """Older output is put in place once (as if RDS had synced it back then), never refreshed."""
        marker = (scan.day, scan.instance_status)
        if node.node_id in self._written:
            return self._written[node.node_id] != marker
        key = rds.object_key(rds.INSTANCE_INFORMATION, node.account_id, node.region, node.node_id)
        if self.sink.exists(key):
            self._written[node.node_id] = marker
            return False
        return True


class AgentRunner:
    """Polls an ``Agent`` every ``interval`` seconds in a daemon thread; use as a context manager."""

    def __init__(self, agent: Agent, interval: float = 1.0) -> None:
        self.agent = agent
        self.interval = interval
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AgentRunner:
        self._thread = threading.Thread(target=self._run, name="sim-agent", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.agent.poll_once()
            except Exception as exc:  # keep polling; the error is kept for the caller to inspect
                log.exception("agent poll failed")
                self.errors.append(exc)
            self._stop.wait(self.interval)

    def wait_for(self, commands: int, timeout: float = 60.0) -> list[ScanReport]:
        """Block until at least ``commands`` commands were handled (or raise TimeoutError)."""
        deadline = time.monotonic() + timeout
        while len(self.agent.reports) < commands:
            if self.errors:
                raise RuntimeError(f"agent failed: {self.errors[-1]!r}") from self.errors[-1]
            if time.monotonic() > deadline:
                raise TimeoutError(f"agent handled {len(self.agent.reports)} of {commands} commands in {timeout} s")
            time.sleep(0.1)
        return list(self.agent.reports)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def __enter__(self) -> AgentRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
