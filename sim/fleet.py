"""The seeded fleet: EC2 instances and hybrid ``mi-`` nodes with tags, agents and a lifecycle.

Everything is a function of ``FleetSpec`` (seed, sizes, anchor date), so two builds with the same
spec are identical. Behaviour hashes use each node's stable ``key`` (``n0042``), never its id, so
the fleet behaves the same whether ids are the simulator's own (history) or moto's (``seed_moto``).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from patch_compliance.config import Settings, load_settings
from sim.catalog import LINUX_FAMILIES, Catalog

DEFAULT_ANCHOR = date(2026, 10, 20)
TEAMS = ("payments", "identity", "search", "data-platform", "checkout", "mobile-api", "billing", "observability")
ROLES = ("api", "web", "worker", "batch", "db", "cache", "queue", "etl")
FAMILY_MIX = (("AmazonLinux2023", 35), ("AmazonLinux2", 25), ("Ubuntu", 12), ("WindowsServer2019", 12),
              ("WindowsServer2022", 16))
ENVIRONMENT_MIX = (("dev", 35), ("staging", 25), ("prod", 40))
PLATFORM = {  # family -> (PlatformName, PlatformType, PlatformVersion)
    "AmazonLinux2023": ("Amazon Linux", "Linux", "2023"),
    "AmazonLinux2": ("Amazon Linux", "Linux", "2"),
    "Ubuntu": ("Ubuntu", "Linux", "22.04"),
    "WindowsServer2019": ("Microsoft Windows Server 2019 Datacenter", "Windows", "10.0.17763"),
    "WindowsServer2022": ("Microsoft Windows Server 2022 Datacenter", "Windows", "10.0.20348"),
}


def unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its inputs (stable across processes, unlike hash())."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class FleetSpec:
    """What to build. Shares are of ``size`` (EC2 instances); counts are absolute."""

    seed: int = 42
    size: int = 800
    hybrid: int = 6
    unmanaged: int = 100
    anchor: date = DEFAULT_ANCHOR  # lifecycle events (stops, terminations, lost agents) fall around it
    missing_team_share: float = 0.03
    missing_environment_share: float = 0.01
    wrong_case: int = 5
    missing_patch_group: int = 4
    stopped: int = 10
    terminated: int = 10
    connection_lost: int = 14
    summary_only: int = 4
    # The three moving parts of patching, broken on purpose (the report's causes), drawn after the
    # defects above so those stay the nodes they were:
    unknown_patch_group: int = 4  # a PatchGroup tag value the policy does not declare (never scanned)
    failed_installs: int = 4  # every install attempt fails: items stay Failed
    deferred_reboots: int = 4  # Windows nodes that never reboot after an install: InstalledPendingReboot
    missed_windows: int = 4  # nodes their windows target but never patch (the window's task does not run there)
    drifted_baselines: int = 1  # (account, baseline) pairs whose scan baseline was edited outside the policy

    def with_overrides(self, overrides: dict[str, float]) -> FleetSpec:
        """The spec with some fields replaced (validated: known fields, non-negative numbers)."""
        known = set(self.__dataclass_fields__) - {"seed", "size", "anchor"}  # those are state fields
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown fleet settings {sorted(unknown)}; known: {sorted(known)}")
        values = {}
        for key, value in overrides.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"fleet setting {key} must be a non-negative number, got {value!r}")
            values[key] = float(value) if key.endswith("_share") else int(value)
        return replace(self, **values)

    def scaled(self, size: int) -> FleetSpec:
        """The same shape at another size (counts scaled, at least one of each defect)."""
        factor = size / self.size
        def count(n: int) -> int:
            return max(1, round(n * factor))
        def rare(n: int) -> int:  # later defects: none on a small fleet, so older fleets keep their shape
            return round(n * factor)
        return replace(self, size=size, hybrid=count(self.hybrid), unmanaged=count(self.unmanaged),
                       wrong_case=count(self.wrong_case), missing_patch_group=count(self.missing_patch_group),
                       stopped=count(self.stopped), terminated=count(self.terminated),
                       connection_lost=count(self.connection_lost), summary_only=count(self.summary_only),
                       unknown_patch_group=rare(self.unknown_patch_group), failed_installs=rare(self.failed_installs),
                       deferred_reboots=rare(self.deferred_reboots), missed_windows=rare(self.missed_windows),
                       drifted_baselines=rare(self.drifted_baselines))


# Overrides for a fleet whose data passes every data-quality gate: no tag defects, no stale agents
# (unmanaged, terminated and hybrid nodes stay). ``SimState(fleet=CLEAN_FLEET)`` or ``seed --clean``.
CLEAN_FLEET: dict[str, float] = {"missing_team_share": 0, "missing_environment_share": 0, "wrong_case": 0,
                                 "missing_patch_group": 0, "stopped": 0, "connection_lost": 0,
                                 "unknown_patch_group": 0, "failed_installs": 0, "deferred_reboots": 0,
                                 "missed_windows": 0, "drifted_baselines": 0}


@dataclass(frozen=True)
class Node:
    """One EC2 instance or hybrid node, as the simulator models it."""

    key: str
    node_id: str
    account_id: str
    account_name: str
    region: str
    family: str
    tags: tuple[tuple[str, str], ...]
    has_agent: bool
    launch_time: datetime
    base_date: date  # every update released before it is installed (image / last full patch)
    packages: tuple[str, ...]  # Linux: installed package ids (Windows: all KBs of the family apply)
    stop_date: date | None = None
    terminate_date: date | None = None
    lost_date: date | None = None  # agent ConnectionLost from this date on
    private_ip: str = ""
    summary_only: bool = False  # its AWS:ComplianceItem object never reaches the sync (the summary does)
    fails_installs: bool = False  # every install attempt fails (the item stays Failed)
    defers_reboot: bool = False  # never reboots after an install (installed items stay InstalledPendingReboot)
    misses_windows: bool = False  # its windows target it, but no install ever runs on it

    @property
    def is_hybrid(self) -> bool:
        return self.node_id.startswith("mi-")

    @property
    def is_windows(self) -> bool:
        return self.family.startswith("Windows")

    def tag(self, key: str) -> str | None:
        for k, v in self.tags:
            if k == key:
                return v
        return None

    @property
    def name(self) -> str:
        return self.tag("Name") or ""

    @property
    def patch_group(self) -> str | None:
        return self.tag("PatchGroup")

    @property
    def computer_name(self) -> str:
        if self.is_windows:
            return "EC2AMAZ-" + hashlib.sha256(self.key.encode()).hexdigest()[:7].upper()
        return f"ip-{self.private_ip.replace('.', '-')}.{self.region}.compute.internal"

    def ec2_state(self, on: date) -> str:
        """EC2 state on a simulated date (hybrid nodes have none)."""
        if self.terminate_date and on >= self.terminate_date:
            return "terminated"
        if self.stop_date and on >= self.stop_date:
            return "stopped"
        return "running"


@dataclass
class Fleet:
    spec: FleetSpec
    nodes: list[Node] = field(default_factory=list)

    def by_id(self) -> dict[str, Node]:
        return {n.node_id: n for n in self.nodes}

    def with_ids(self, id_map: dict[str, str]) -> Fleet:
        """The same fleet with node ids replaced (``key -> id``), e.g. by the ids moto assigned."""
        return Fleet(self.spec, [replace(n, node_id=id_map.get(n.key, n.node_id)) for n in self.nodes])

    def in_account(self, account_id: str) -> list[Node]:
        return [n for n in self.nodes if n.account_id == account_id]


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def build_fleet(spec: FleetSpec, catalog: Catalog, settings: Settings | None = None) -> Fleet:
    """The fleet for ``spec``: accounts and Region from settings, environments from account names."""
    settings = settings or load_settings()
    accounts = {a.name: a for a in settings.accounts}
    if not accounts:
        raise ValueError("settings list no accounts; the fleet needs accounts named dev, staging and prod")
    rng = random.Random(f"fleet:{spec.seed}")
    env_mix = tuple((e, w) for e, w in ENVIRONMENT_MIX if e in accounts) or ((next(iter(accounts)), 1),)
    total = spec.size + spec.hybrid
    nodes: list[Node] = []
    for n in range(total):
        key = f"n{n:04d}"
        hybrid = n >= spec.size
        environment = _weighted(rng, env_mix)
        account = accounts[environment]
        family = _weighted(rng, FAMILY_MIX)
        if hybrid and family == "WindowsServer2022":
            family = "WindowsServer2019"
        team = rng.choice(TEAMS)
        name = f"{team}-{rng.choice(ROLES)}-{environment}-{n:03d}"
        patch_group = f"{environment}-{'windows' if family.startswith('Windows') else 'linux'}"
        digest = hashlib.sha256(f"{spec.seed}:{key}".encode()).hexdigest()
        node_id = f"mi-0{digest[:16]}" if hybrid else f"i-0{digest[:16]}"
        base_date = spec.anchor - timedelta(days=rng.randint(20, 150))
        launch = datetime.combine(base_date - timedelta(days=rng.randint(0, 200)), datetime.min.time(), UTC)
        linux = family in LINUX_FAMILIES
        packages = tuple(p for p in catalog.packages[family] if rng.random() < 0.85) if linux else ()
        tags = [("Name", name), ("Team", team), ("Environment", environment), ("PatchGroup", patch_group)]
        ip = f"10.{1 + n // 62500}.{(n // 250) % 250}.{10 + n % 240}"
        nodes.append(Node(key, node_id, account.id, account.name, account.regions[0], family, tuple(tags), True, launch,
                          base_date, packages, private_ip=ip))
    ec2 = list(range(spec.size))
    rng.shuffle(ec2)
    picks = iter(ec2)

    def take(count: int) -> list[int]:
        return [next(picks) for _ in range(min(count, len(ec2)))]

    unmanaged = take(spec.unmanaged)
    stopped, terminated, lost = take(spec.stopped), take(spec.terminated), take(spec.connection_lost)
    no_group = take(spec.missing_patch_group)
    for i in unmanaged:
        nodes[i] = replace(nodes[i], has_agent=False)
    for i in stopped:
        nodes[i] = replace(nodes[i], stop_date=spec.anchor + timedelta(days=rng.randint(-20, 40)))
    for i in terminated:
        nodes[i] = replace(nodes[i], terminate_date=spec.anchor + timedelta(days=rng.randint(-10, 45)))
    for i in lost:
        nodes[i] = replace(nodes[i], lost_date=spec.anchor + timedelta(days=rng.randint(-25, 40)))
    for i in no_group:
        nodes[i] = _without_tag(nodes[i], "PatchGroup")
    for i in take(spec.summary_only):  # drawn after the others, so the picks above stay those of earlier versions
        nodes[i] = replace(nodes[i], summary_only=True)
    for i in take(spec.unknown_patch_group):
        nodes[i] = replace(nodes[i], tags=tuple((k, f"{v}-legacy" if k == "PatchGroup" else v)
                                                for k, v in nodes[i].tags))
    for i in take(spec.failed_installs):
        nodes[i] = replace(nodes[i], fails_installs=True)
    for i in take(spec.missed_windows):
        nodes[i] = replace(nodes[i], misses_windows=True)
    for i in [i for i in picks if nodes[i].is_windows][:spec.deferred_reboots]:
        nodes[i] = replace(nodes[i], defers_reboot=True)
    # Tag defects are drawn over every EC2 instance, independently of the lifecycle picks.
    for i in rng.sample(range(spec.size), round(spec.size * spec.missing_team_share)):
        nodes[i] = _without_tag(nodes[i], "Team")
    for i in rng.sample(range(spec.size), round(spec.size * spec.missing_environment_share)):
        nodes[i] = _without_tag(nodes[i], "Environment")
    for k, i in enumerate(rng.sample(range(spec.size), min(spec.wrong_case, spec.size))):
        tag_key = "Team" if k % 2 == 0 else "Environment"
        value = nodes[i].tag(tag_key)
        if value:
            wrong = value.capitalize() if tag_key == "Team" else value.upper()
            nodes[i] = replace(nodes[i], tags=tuple((k2, wrong if k2 == tag_key else v) for k2, v in nodes[i].tags))
    return Fleet(spec, nodes)


def _without_tag(node: Node, key: str) -> Node:
    return replace(node, tags=tuple((k, v) for k, v in node.tags if k != key))


# --- moto ---------------------------------------------------------------------------------------

ROLE_NAME = "PatchComplianceScanner"
# AMIs from moto's bundled catalog, so describe_instances reports Platform "windows" for Windows nodes.
LINUX_AMI = "ami-760aaa0f"
WINDOWS_AMI = "ami-03cf127a"


def account_session(endpoint_url: str, account_id: str, region: str, role_arn: str = "") -> Any:
    """A boto3 session in ``account_id`` via STS AssumeRole (each moto account has its own backend)."""
    import boto3

    sts = boto3.client("sts", endpoint_url=endpoint_url, region_name=region)
    role = role_arn or f"arn:aws:iam::{account_id}:role/{ROLE_NAME}"
    creds = sts.assume_role(RoleArn=role, RoleSessionName="fleet-simulator")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=region)


def _bucket(uri: str) -> str:
    return uri[len("s3://"):].split("/", 1)[0]


def create_buckets(endpoint_url: str, settings: Settings) -> list[str]:
    """The sync, lake and reports buckets (s3:// URIs in settings.storage), in the central account."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=settings.aws.region)
    made = []
    for uri in (settings.storage.sync_uri, settings.storage.lake_uri, settings.storage.reports_uri):
        if not uri.startswith("s3://"):
            continue
        bucket = _bucket(uri)
        if bucket not in made:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": settings.aws.region})
            made.append(bucket)
    return made


def seed_moto(fleet: Fleet, endpoint_url: str, on: date, settings: Settings | None = None) -> dict[str, str]:
    """Create the fleet's EC2 instances (tags, stopped/terminated as of ``on``) in moto.

    Returns ``{node key: moto instance id}`` for every EC2 node; hybrid nodes keep their ``mi-`` ids
    (moto has no managed-instance registry). Instances launched in one batch per account, then tagged.
    """
    settings = settings or load_settings()
    roles = {a.id: a.role_arn for a in settings.accounts}
    id_map: dict[str, str] = {}
    groups: dict[tuple[str, str], list[Node]] = {}
    for node in fleet.nodes:
        if not node.is_hybrid:
            groups.setdefault((node.account_id, node.region), []).append(node)
    for (account_id, region), nodes in groups.items():
        ec2 = account_session(endpoint_url, account_id, region, roles.get(account_id, "")).client(
            "ec2", endpoint_url=endpoint_url)
        nodes.sort(key=lambda n: n.is_windows)
        launched: list[str] = []
        for windows in (False, True):
            group = [n for n in nodes if n.is_windows == windows]
            for start in range(0, len(group), 250):
                batch = len(group[start:start + 250])
                response = ec2.run_instances(ImageId=WINDOWS_AMI if windows else LINUX_AMI, MinCount=batch,
                                             MaxCount=batch, InstanceType="t3.medium")
                launched += [i["InstanceId"] for i in response["Instances"]]
        pairs = list(zip(nodes, launched, strict=True))
        id_map.update({node.key: instance_id for node, instance_id in pairs})

        def tag(pair: tuple[Node, str], client: Any = ec2) -> None:
            node, instance_id = pair
            client.create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in node.tags])

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(tag, pairs))
        _apply_states(ec2, [(n.ec2_state(on), id_map[n.key]) for n in nodes])
    return id_map


def _apply_states(ec2: Any, states: Iterable[tuple[str, str]]) -> None:
    stopped = [i for s, i in states if s == "stopped"]
    terminated = [i for s, i in states if s == "terminated"]
    if stopped:
        ec2.stop_instances(InstanceIds=stopped)
    if terminated:
        ec2.terminate_instances(InstanceIds=terminated)
