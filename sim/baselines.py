"""Patch baselines and maintenance windows: approval evaluation (reference §3) and install schedules.

Baselines come from the stand-in's SSM, as an agent would see them: the baseline registered for the
node's patch group and OS (``GetPatchBaselineForPatchGroup``) and its rules (``GetPatchBaseline``).
A group without a registered custom baseline falls back to the OS's AWS-managed default, whose rules
the simulator takes from DESIGN.md: prod = security Critical/Important after a 7-day soak; non-prod =
everything, no soak. Maintenance windows likewise: SSM windows with an ``AWS-RunPatchBaseline`` task
and ``tag:Environment`` targets when present, else prod Saturday 02:00 UTC, non-prod Tuesday 12:00 UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sim.catalog import OPERATING_SYSTEMS, Update

PROD_ENVIRONMENTS = ("prod",)
NON_PROD_ENVIRONMENTS = ("dev", "staging")

_COMPLIANCE_LEVEL = {"Critical": "CRITICAL", "Important": "HIGH", "Medium": "MEDIUM", "Moderate": "MEDIUM",
                     "Low": "LOW"}


def compliance_level(update: Update) -> str:
    """The Severity reported on an item when the rule does not fix one: derived from the vendor rating."""
    return _COMPLIANCE_LEVEL.get(update.severity, "UNSPECIFIED")


@dataclass(frozen=True)
class Rule:
    """One approval rule: filters ANDed (values ORed); ``None`` means the key is not filtered."""

    classifications: frozenset[str] | None
    severities: frozenset[str] | None
    approve_after_days: int | None = 0
    approve_until: date | None = None
    compliance_level: str = "UNSPECIFIED"

    def matches(self, update: Update) -> bool:
        return ((self.classifications is None or update.classification in self.classifications)
                and (self.severities is None or update.severity in self.severities))

    def approval_date(self, update: Update, family: str) -> date | None:
        """The first date on which the rule approves the update (None: never)."""
        if not self.matches(update):
            return None
        if family == "Ubuntu":  # Ubuntu rules support neither ApproveAfterDays nor ApproveUntilDate
            return update.release_date
        if self.approve_until is not None:
            return update.release_date if update.release_date <= self.approve_until else None
        return update.release_date + timedelta(days=self.approve_after_days or 0)


@dataclass(frozen=True)
class Baseline:
    baseline_id: str
    name: str
    rules: tuple[Rule, ...]
    approved_patches: frozenset[str] = frozenset()
    rejected_patches: frozenset[str] = frozenset()
    rejected_action: str = "ALLOW_AS_DEPENDENCY"
    source: str = "default"  # "default" (DESIGN.md) or "ssm"

    def approval(self, update: Update, family: str) -> tuple[date | None, str]:
        """(first approval date or None, compliance level) of an update under this baseline."""
        if update.patch_id in self.rejected_patches:
            return None, "UNSPECIFIED"
        if update.patch_id in self.approved_patches:
            return update.release_date, compliance_level(update)
        best: date | None = None
        level = "UNSPECIFIED"
        for rule in self.rules:
            approved = rule.approval_date(update, family)
            if approved is not None and (best is None or approved < best):
                best = approved
                level = rule.compliance_level if rule.compliance_level != "UNSPECIFIED" else compliance_level(update)
        return best, level

    def is_approved(self, update: Update, family: str, on: date) -> bool:
        approved, _ = self.approval(update, family)
        return approved is not None and approved <= on


def _default_id(name: str) -> str:
    import hashlib

    return "pb-" + hashlib.sha256(name.encode()).hexdigest()[:17]


def default_baseline(environment_kind: str, family: str) -> Baseline:
    """DESIGN.md's baselines; ``environment_kind`` is ``prod`` or ``nonprod``."""
    windows = family.startswith("Windows")
    name = f"{environment_kind}-{'windows' if windows else 'linux'}-{OPERATING_SYSTEMS[family].lower()}"
    if environment_kind == "prod":
        classes = ("SecurityUpdates", "CriticalUpdates") if windows else ("Security",)
        rule = Rule(frozenset(classes), frozenset(("Critical", "Important")), 7, None, "UNSPECIFIED")
    else:
        rule = Rule(None, None, 0, None, "UNSPECIFIED")
    return Baseline(_default_id(name), name, (rule,))


def widened(baseline: Baseline) -> Baseline:
    """The baseline as someone edited it in the console: same id, every update approved at release."""
    return Baseline(baseline.baseline_id, baseline.name, (Rule(None, None, 0),), baseline.approved_patches,
                    baseline.rejected_patches, baseline.rejected_action, "drifted")


def environment_kind(patch_group: str) -> str:
    return "prod" if patch_group.lower().startswith("prod") else "nonprod"


def _rule_from_ssm(raw: dict[str, Any]) -> Rule:
    filters = {f["Key"]: frozenset(f["Values"]) for f in raw.get("PatchFilterGroup", {}).get("PatchFilters", [])}
    until = raw.get("ApproveUntilDate")
    return Rule(
        classifications=filters.get("CLASSIFICATION"),
        severities=filters.get("SEVERITY") or filters.get("MSRC_SEVERITY"),
        approve_after_days=raw.get("ApproveAfterDays", 0 if until is None else None),
        approve_until=date.fromisoformat(until) if until else None,
        compliance_level=raw.get("ComplianceLevel") or "UNSPECIFIED",
    )


def baseline_from_ssm(raw: dict[str, Any]) -> Baseline:
    """A baseline from SSM's GetPatchBaseline answer."""
    rules = tuple(_rule_from_ssm(r) for r in (raw.get("ApprovalRules") or {}).get("PatchRules", []))
    return Baseline(raw["BaselineId"], raw.get("Name") or raw.get("BaselineName") or raw["BaselineId"], rules,
                    frozenset(raw.get("ApprovedPatches") or ()), frozenset(raw.get("RejectedPatches") or ()),
                    raw.get("RejectedPatchesAction") or "ALLOW_AS_DEPENDENCY", "ssm")


class BaselineResolver:
    """Baselines per (patch group, family) for one account: SSM-registered, else DESIGN defaults."""

    def __init__(self, ssm_client: Any = None) -> None:
        self.ssm = ssm_client
        self._cache: dict[tuple[str, str], Baseline] = {}

    def for_group(self, patch_group: str, family: str) -> Baseline:
        key = (patch_group, family)
        if key not in self._cache:
            found = None
            if self.ssm is not None:
                baseline_id = self.ssm.get_patch_baseline_for_patch_group(
                    PatchGroup=patch_group, OperatingSystem=OPERATING_SYSTEMS[family])["BaselineId"]
                if not baseline_id.startswith("arn:"):  # AWS-managed defaults have ARN ids
                    found = baseline_from_ssm(self.ssm.get_patch_baseline(BaselineId=baseline_id))
            self._cache[key] = found or default_baseline(environment_kind(patch_group), family)
        return self._cache[key]


# --- maintenance windows ----------------------------------------------------------------------

_DAYS = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4, "SAT": 5, "SUN": 6}
_CRON_RE = re.compile(r"^cron\(\s*(\d{1,2})\s+(\d{1,2})\s+\?\s+\*\s+([A-Z]{3})\s+\*\s*\)$")


@dataclass(frozen=True)
class Window:
    """A weekly install window: weekday (Monday=0), UTC time, the Environment tag values it targets, its length."""

    name: str
    weekday: int
    hour: int
    minute: int
    environments: frozenset[str]
    duration_hours: int = 3

    def last_start_at_or_before(self, moment: datetime) -> datetime:
        start = self.first_at_or_after(moment)
        return start if start == moment else start - timedelta(days=7)

    def first_at_or_after(self, moment: datetime) -> datetime:
        start = datetime(moment.year, moment.month, moment.day, self.hour, self.minute, tzinfo=UTC)
        start += timedelta(days=(self.weekday - start.weekday()) % 7)
        if start < moment:
            start += timedelta(days=7)
        return start


DEFAULT_WINDOWS = (
    Window("prod-install", 5, 2, 0, frozenset(PROD_ENVIRONMENTS), 4),
    Window("nonprod-install", 1, 12, 0, frozenset(NON_PROD_ENVIRONMENTS), 3),
)


def parse_weekly_cron(schedule: str) -> tuple[int, int, int] | None:
    """``cron(M H ? * DAY *)`` to (weekday, hour, minute); other schedules are not weekly windows."""
    match = _CRON_RE.match(schedule.strip())
    if not match or match[3] not in _DAYS:
        return None
    return _DAYS[match[3]], int(match[2]), int(match[1])


def windows_from_ssm(ssm_client: Any) -> tuple[Window, ...] | None:
    """Install windows registered in SSM (tasks running AWS-RunPatchBaseline), or None if none are."""
    windows = []
    for identity in ssm_client.describe_maintenance_windows().get("WindowIdentities", []):
        if not identity.get("Enabled", True) or "scan" in identity.get("Name", "").lower():
            continue
        when = parse_weekly_cron(identity.get("Schedule", ""))
        if when is None:
            continue
        window_id = identity["WindowId"]
        tasks = ssm_client.describe_maintenance_window_tasks(WindowId=window_id).get("Tasks", [])
        if not any(t.get("TaskArn") == "AWS-RunPatchBaseline" for t in tasks):
            continue
        environments: set[str] = set()
        for target in ssm_client.describe_maintenance_window_targets(WindowId=window_id).get("Targets", []):
            for selector in target.get("Targets", []):
                if selector.get("Key") == "tag:Environment":
                    environments.update(selector.get("Values", []))
        if environments:
            windows.append(Window(identity.get("Name", window_id), *when, frozenset(environments),
                                  int(identity.get("Duration") or 3)))
    return tuple(windows) or None
