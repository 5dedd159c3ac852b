"""The simulator's state file (seed, fleet size, simulated date, faults, moto ids) and its world.

One small JSON file, by default ``out/sim/state.json`` under the project (override with
``SIM_STATE=/path/state.json`` or ``--state``). ``python -m sim set-date 2026-10-22`` and
``python -m sim advance`` edit ``sim_date``; the agent re-reads the file before every command it
handles, so a running agent follows the clock.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from patch_compliance.config import Settings, load_settings, project_home
from patch_compliance.inputs import InputError, validate_instance_id
from sim.baselines import DEFAULT_WINDOWS, BaselineResolver, Window, default_baseline, environment_kind
from sim.catalog import Catalog, build_catalog
from sim.fleet import DEFAULT_ANCHOR, Fleet, FleetSpec, build_fleet, unit
from sim.model import Faults, Model


def default_state_path() -> Path:
    return Path(os.environ.get("SIM_STATE") or project_home() / "out" / "sim" / "state.json")


@dataclass
class SimState:
    """Everything needed to rebuild the same world in another process."""

    seed: int = 42
    size: int = 800
    anchor: date = DEFAULT_ANCHOR
    sim_date: date = date(2026, 11, 26)
    faults: dict[str, float] = field(default_factory=dict)
    fleet: dict[str, float] = field(default_factory=dict)  # FleetSpec overrides, e.g. sim.fleet.CLEAN_FLEET
    id_map: dict[str, str] = field(default_factory=dict)  # node key -> moto instance id (after seed)
    endpoint_url: str | None = None
    path: Path | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> SimState:
        target = Path(path) if path else default_state_path()
        try:
            raw = json.loads(target.read_text())
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"no simulator state at {target}; run `python -m sim seed` or "
                                    f"`python -m sim set-date YYYY-MM-DD` first") from exc
        Faults.from_dict(raw.get("faults", {}))  # validate early
        for key, instance_id in raw.get("id_map", {}).items():
            try:
                validate_instance_id(instance_id)
            except InputError as exc:
                raise InputError(f"state file {target}: id_map[{key!r}]: {exc}") from exc
        return cls(seed=int(raw["seed"]), size=int(raw["size"]), anchor=date.fromisoformat(raw["anchor"]),
                   sim_date=date.fromisoformat(raw["sim_date"]), faults=dict(raw.get("faults", {})),
                   fleet=dict(raw.get("fleet", {})),
                   id_map=dict(raw.get("id_map", {})), endpoint_url=raw.get("endpoint_url"), path=target)

    @classmethod
    def load_or_new(cls, path: str | os.PathLike[str] | None = None) -> SimState:
        try:
            return cls.load(path)
        except FileNotFoundError:
            return cls(path=Path(path) if path else default_state_path())

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        target = Path(path) if path else (self.path or default_state_path())
        target.parent.mkdir(parents=True, exist_ok=True)
        body = {"seed": self.seed, "size": self.size, "anchor": self.anchor.isoformat(),
                "sim_date": self.sim_date.isoformat(), "faults": self.faults, "fleet": self.fleet,
                "id_map": self.id_map,
                "endpoint_url": self.endpoint_url}
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True))
        os.replace(tmp, target)
        self.path = target
        return target

    def spec(self) -> FleetSpec:
        base = FleetSpec(seed=self.seed, anchor=self.anchor)
        return (base if self.size == base.size else base.scaled(self.size)).with_overrides(self.fleet)


@dataclass
class World:
    """Catalog, fleet (ids and tag faults applied) and model for one state."""

    state: SimState
    settings: Settings
    catalog: Catalog
    fleet: Fleet
    model: Model

    @property
    def faults(self) -> Faults:
        return self.model.faults


def apply_tag_faults(fleet: Fleet, faults: Faults, seed: int) -> Fleet:
    """Drop the Team tag on ``drop_team_share`` of hosts (chosen by key, so stable across runs)."""
    if faults.drop_team_share <= 0:
        return fleet
    nodes = [replace(n, tags=tuple((k, v) for k, v in n.tags if k != "Team"))
             if unit(seed, "drop-team", n.key) < faults.drop_team_share else n for n in fleet.nodes]
    return Fleet(fleet.spec, nodes)


def pick_drifted(fleet: Fleet, scan_targets: tuple[str, ...], count: int, seed: int) -> frozenset[tuple[str, str]]:
    """``count`` (account, baseline) pairs to drift, among the baselines the simulator gives scanned nodes:
    prod ones first (an edit there shows: their soak and filters are what widening changes), then by seed."""
    used = {(n.account_id, default_baseline(environment_kind(n.patch_group), n.family).baseline_id,
             environment_kind(n.patch_group)) for n in fleet.nodes
            if n.has_agent and n.patch_group is not None and n.patch_group in scan_targets}
    ranked = sorted(used, key=lambda u: (u[2] != "prod", unit(seed, "drift", u[0], u[1])))
    return frozenset((account, baseline) for account, baseline, _ in ranked[:count])


def build_world(state: SimState, settings: Settings | None = None,
                resolvers: dict[str, BaselineResolver] | None = None,
                windows: tuple[Window, ...] | None = None) -> World:
    """Assemble the world; ``resolvers``/``windows`` come from SSM (agent) or default to DESIGN's."""
    settings = settings or load_settings()
    faults = Faults.from_dict(state.faults)
    catalog = build_catalog(state.seed)
    fleet = apply_tag_faults(build_fleet(state.spec(), catalog, settings), faults, state.seed)
    if state.id_map:
        fleet = fleet.with_ids(state.id_map)
    targets = settings.scan.target_tag_values
    model = Model(catalog, state.seed, targets, windows=windows or DEFAULT_WINDOWS, faults=faults,
                  resolvers=dict(resolvers or {}),
                  drifted=pick_drifted(fleet, targets, fleet.spec.drifted_baselines, state.seed))
    return World(state, settings, catalog, fleet, model)


def describe(world: World) -> dict[str, Any]:
    """A one-screen summary of the fleet's shape (for the CLI and docs)."""
    nodes = world.fleet.nodes
    on = world.state.sim_date
    return {
        "seed": world.state.seed, "sim_date": on.isoformat(), "nodes": len(nodes),
        "ec2": sum(not n.is_hybrid for n in nodes), "hybrid": sum(n.is_hybrid for n in nodes),
        "without_agent": sum(not n.has_agent for n in nodes),
        "missing_team": sum(n.tag("Team") is None for n in nodes),
        "missing_environment": sum(n.tag("Environment") is None for n in nodes),
        "missing_patch_group": sum(n.patch_group is None for n in nodes),
        "unknown_patch_group": sum(n.patch_group is not None and n.patch_group not in world.model.scan_targets
                                   for n in nodes),
        "failed_installs": sum(n.fails_installs for n in nodes),
        "deferred_reboots": sum(n.defers_reboot for n in nodes),
        "missed_windows": sum(n.misses_windows for n in nodes),
        "drifted_baselines": sorted(f"{account}/{baseline}" for account, baseline in world.model.drifted),
        "stopped": sum(n.ec2_state(on) == "stopped" for n in nodes),
        "terminated": sum(n.ec2_state(on) == "terminated" for n in nodes),
        "connection_lost": sum(bool(n.lost_date and n.lost_date <= on) for n in nodes),
        "faults": world.faults.as_dict(),
    }
