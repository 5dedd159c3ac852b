"""The patch catalog: packages, KBs, release cadence, classifications, severities and CVEs.

Deterministic from a seed. Linux patch ids are package names (``openssl-libs.x86_64``) whose
updates arrive weekly, each with a versioned Title; Windows patch ids are KB numbers released
monthly on the second Tuesday. Classifications and severities follow reference §3.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

CATALOG_START = date(2026, 1, 1)
CATALOG_END = date(2027, 12, 31)

LINUX_FAMILIES = ("AmazonLinux2023", "AmazonLinux2", "Ubuntu")
WINDOWS_FAMILIES = ("WindowsServer2019", "WindowsServer2022")

# SSM OperatingSystem values, used to look baselines up by patch group.
OPERATING_SYSTEMS = {
    "AmazonLinux2023": "AMAZON_LINUX_2023",
    "AmazonLinux2": "AMAZON_LINUX_2",
    "Ubuntu": "UBUNTU",
    "WindowsServer2019": "WINDOWS",
    "WindowsServer2022": "WINDOWS",
}

_BASE_PACKAGES = (
    "openssl-libs", "openssl", "kernel", "kernel-headers", "kernel-tools", "glibc", "glibc-common",
    "glibc-minimal-langpack", "curl", "libcurl", "openssh", "openssh-server", "openssh-clients", "sudo",
    "bash", "systemd", "systemd-libs", "systemd-pam", "python3", "python3-libs", "python3-pip",
    "python3-setuptools", "python3-urllib3", "python3-requests", "krb5-libs", "libxml2", "libxslt",
    "expat", "zlib", "xz-libs", "bzip2-libs", "libgcc", "libstdc++", "nss", "nss-util", "nss-softokn",
    "ca-certificates", "tzdata", "vim-minimal", "vim-enhanced", "vim-common", "git", "perl", "perl-libs",
    "rsync", "tar", "gzip", "unzip", "wget", "dnf", "rpm", "rpm-libs", "libsolv", "sqlite-libs",
    "libssh", "gnutls", "libgcrypt", "libtasn1", "p11-kit", "cyrus-sasl-lib", "openldap", "libtiff",
    "libpng", "libjpeg-turbo", "freetype", "fontconfig", "cups-libs", "avahi-libs", "dbus", "dbus-libs",
    "polkit", "pam", "shadow-utils", "util-linux", "coreutils", "findutils", "grep", "sed", "gawk",
    "less", "procps-ng", "iproute", "iptables-libs", "nftables", "firewalld", "chrony", "rsyslog",
    "logrotate", "cronie", "at", "audit", "audit-libs", "selinux-policy", "libselinux", "libsemanage",
    "amazon-ssm-agent", "ec2-utils", "cloud-init", "awscli-2", "docker", "containerd", "runc",
    "nginx", "httpd", "httpd-tools", "mod_ssl", "php-cli", "php-common", "nodejs", "java-17-amazon-corretto",
    "postgresql15", "mariadb105", "redis6", "bind-libs", "bind-utils", "dhcp-client", "NetworkManager",
    "libnghttp2", "c-ares", "libarchive", "elfutils-libs", "binutils", "gcc", "make", "cpio", "file-libs",
    "libuv", "pcre2", "ncurses-libs", "readline", "gdbm-libs", "libffi", "libyaml", "json-c", "jansson",
    "libevent", "libmaxminddb", "oniguruma", "protobuf-c", "lz4-libs", "zstd", "libzstd", "e2fsprogs",
    "xfsprogs", "lvm2", "device-mapper", "cryptsetup-libs", "kmod", "kpartx", "grub2-common", "grub2-tools",
    "dracut", "microcode_ctl", "linux-firmware", "ethtool", "tcpdump", "traceroute", "net-tools",
    "strace", "lsof", "sysstat", "htop", "jq", "tmux", "screen", "man-db", "groff-base", "info",
)
_UBUNTU_RENAMES = {"openssl-libs": "libssl3", "glibc": "libc6", "glibc-common": "libc-bin", "krb5-libs":
                   "libkrb5-3", "libxml2": "libxml2", "curl": "curl", "libcurl": "libcurl4", "rpm": "apt",
                   "rpm-libs": "libapt-pkg6.0", "dnf": "apt-utils", "kernel": "linux-image-aws",
                   "kernel-headers": "linux-headers-aws", "openssh-server": "openssh-server"}
_LINUX_SUFFIX = {"AmazonLinux2023": "amzn2023", "AmazonLinux2": "amzn2"}
_PACKAGES_PER_FAMILY = {"AmazonLinux2023": 170, "AmazonLinux2": 180, "Ubuntu": 160}
_WEEKLY_DAY = {"AmazonLinux2023": 3, "AmazonLinux2": 2, "Ubuntu": 1}  # weekday of the weekly release

LINUX_CLASSIFICATIONS = (("Security", 46), ("Bugfix", 38), ("Enhancement", 10), ("Recommended", 6))
LINUX_SEVERITIES = (("Critical", 12), ("Important", 40), ("Medium", 34), ("Low", 14))
WINDOWS_KINDS = (  # (classification, MSRC severity): one KB each per monthly release
    ("SecurityUpdates", "Critical"), ("SecurityUpdates", "Important"), ("SecurityUpdates", "Important"),
    ("CriticalUpdates", "Critical"), ("Updates", "Unspecified"), ("SecurityUpdates", "Moderate"),
    ("UpdateRollups", "Unspecified"),
)


@dataclass(frozen=True)
class Update:
    """One released patch. Linux: a new version of a package; Windows: one KB."""

    patch_id: str
    title: str
    family: str
    classification: str
    severity: str  # vendor severity (PatchSeverity)
    release_date: date
    cve_ids: tuple[str, ...]
    version: int  # 0 = the version every image starts from (never released in the catalog window)

    @property
    def is_security(self) -> bool:
        return self.classification in ("Security", "SecurityUpdates", "CriticalUpdates")


@dataclass
class Catalog:
    """Updates per family and patch id (ascending release), and not-applicable KBs for Windows."""

    seed: int
    updates: dict[str, dict[str, list[Update]]] = field(default_factory=dict)
    packages: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_applicable: dict[str, tuple[Update, ...]] = field(default_factory=dict)

    def all_updates(self) -> list[Update]:
        return [u for family in self.updates.values() for chain in family.values() for u in chain
                if u.version > 0]


def second_tuesday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(1 - first.weekday()) % 7 + 7)


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


class _CveMint:
    """Unique CVE ids per year, in a plausible number range."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def take(self, year: int, count: int) -> tuple[str, ...]:
        ids = []
        while len(ids) < count:
            cve = f"CVE-{year}-{self.rng.randint(1000, 49999)}"
            if cve not in self.used:
                self.used.add(cve)
                ids.append(cve)
        return tuple(ids)


def _package_names(family: str) -> tuple[str, ...]:
    count = _PACKAGES_PER_FAMILY[family]
    names = list(_BASE_PACKAGES[:count])
    if family == "Ubuntu":
        return tuple(_UBUNTU_RENAMES.get(n, n) for n in names)
    return tuple(f"{n}.noarch" if n in ("tzdata", "ca-certificates", "selinux-policy", "linux-firmware")
                 else f"{n}.x86_64" for n in names)


def _linux_title(family: str, package: str, version: int, base: tuple[int, int]) -> str:
    major, minor = base
    if family == "Ubuntu":
        return f"{package}:{major}.{minor}.{version}-0ubuntu0.22.04.{version + 1}"
    name, _, arch = package.rpartition(".")
    return f"{name}.{arch}:0:{major}.{minor}.{version}-1.{_LINUX_SUFFIX[family]}.0.{version + 1}"


def build_catalog(seed: int, start: date = CATALOG_START, end: date = CATALOG_END) -> Catalog:
    """Every family's release stream between ``start`` and ``end``, deterministic from ``seed``."""
    rng = random.Random(f"catalog:{seed}")
    cves = _CveMint(rng)
    catalog = Catalog(seed)
    for family in LINUX_FAMILIES:
        names = _package_names(family)
        catalog.packages[family] = names
        bases = {n: (rng.randint(1, 9), rng.randint(0, 30)) for n in names}
        chains: dict[str, list[Update]] = {
            n: [Update(n, _linux_title(family, n, 0, bases[n]), family, "Bugfix", "", start - timedelta(days=365),
                       (), 0)]
            for n in names}
        day = start + timedelta(days=(_WEEKLY_DAY[family] - start.weekday()) % 7)
        while day <= end:
            for package in rng.sample(names, rng.randint(5, 10)):
                chain = chains[package]
                classification = _weighted(rng, LINUX_CLASSIFICATIONS)
                security = classification == "Security"
                severity = _weighted(rng, LINUX_SEVERITIES) if security else ""
                version = len(chain)
                chain.append(Update(package, _linux_title(family, package, version, bases[package]), family,
                                    classification, severity, day,
                                    cves.take(day.year, rng.choice((1, 1, 2, 3))) if security else (), version))
            day += timedelta(days=7)
        catalog.updates[family] = chains
    kb_numbers = iter(rng.sample(range(5_030_000, 5_090_000), 4000))
    for family in WINDOWS_FAMILIES:
        chains = {}
        month = (start.year, start.month)
        while True:
            release = second_tuesday(*month)
            if release > end:
                break
            for classification, severity in WINDOWS_KINDS:
                kb = f"KB{next(kb_numbers)}"
                product = "Windows Server 2019" if family == "WindowsServer2019" else "Windows Server 2022"
                title = f"{release:%Y-%m} {classification} for {product} for x64-based Systems ({kb})"
                security = classification in ("SecurityUpdates", "CriticalUpdates")
                chains[kb] = [Update(kb, title, family, classification, severity, release,
                                     cves.take(release.year, rng.randint(1, 4)) if security else (), 1)]
            month = (month[0] + month[1] // 12, month[1] % 12 + 1)
        catalog.updates[family] = chains
        catalog.packages[family] = tuple(chains)
        not_applicable = []
        for _ in range(8):
            kb = f"KB{next(kb_numbers)}"
            not_applicable.append(Update(kb, f"Update for Microsoft SQL Server 2019 ({kb})", family,
                                         "Updates", "Unspecified", start, (), 1))
        catalog.not_applicable[family] = tuple(not_applicable)
    return catalog
