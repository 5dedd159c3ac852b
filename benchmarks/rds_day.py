"""Generate an RDS-shaped day of JSON Lines for benchmarks: N instances x M compliance items.

Shaped like a real sync prefix (five types per node, every value a string), the nodes spread
round-robin over ``accounts`` x ``regions``. Deterministic from the seed (and independent of how
many processes write it). ``python benchmarks/rds_day.py OUT_DIR --instances 800 --items 300``.

A single day draws every item's state at random. A day of a month (``month_day``) follows each item's
life instead, as a fleet does: most items stay installed all month; one in five is exposed once (it
goes missing on a day between ten days before the month and its end, sometimes failing to install,
for 1-25 days, sometimes through a pending reboot, then installed), so remediations and open items
carry over from day to day as the report's history queries expect.
"""

from __future__ import annotations

import argparse
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from patch_compliance import rds

STATES = [("Installed", "COMPLIANT")] * 80 + [("InstalledOther", "COMPLIANT")] * 8 + [
    ("Missing", "NON_COMPLIANT")] * 6 + [("Failed", "NON_COMPLIANT"), ("NotApplicable", ""),
    ("InstalledPendingReboot", "NON_COMPLIANT")]
ACCOUNTS = ["111111111111", "222222222222", "333333333333"]
REGIONS = ["eu-west-1"]
CAPTURE = datetime(2026, 11, 2, 3, 10, tzinfo=UTC)


def scale_accounts(count: int) -> list[str]:
    """``count`` distinct account ids (a fleet at scale spans many accounts)."""
    return [f"{n:012d}" for n in range(100000000001, 100000000001 + count)]


def write_day(out: Path, instances: int, items: int, seed: int = 7, capture: datetime = CAPTURE,
              accounts: list[str] | None = None, regions: list[str] | None = None, processes: int = 1,
              month_day: int | None = None) -> int:
    """Write one day's objects (overwriting, as RDS does).

    Without ``month_day`` each seed gives other random states and severities; with it (0 for the
    month's first day) every item follows its own life through the month.
    """
    if processes > 1:
        chunks = [range(start, instances, processes) for start in range(processes)]
        with ProcessPoolExecutor(processes) as pool:
            return sum(pool.map(_write_nodes, [out] * processes, chunks, [items] * processes, [seed] * processes,
                                [capture] * processes, [accounts or ACCOUNTS] * processes,
                                [regions or REGIONS] * processes, [month_day] * processes))
    return _write_nodes(out, range(instances), items, seed, capture, accounts or ACCOUNTS, regions or REGIONS,
                        month_day)


def _lifecycle_state(rng: random.Random, month_day: int) -> tuple[str, str]:
    """An item's state on ``month_day`` of its life: drawn from ``rng`` the same way every day."""
    draw, start, length, failing, reboot = rng.random(), rng.randint(-10, 30), rng.randint(1, 25), \
        rng.random() < 0.1, rng.random() < 0.3
    if draw < 0.02:
        return "NotApplicable", ""
    if draw >= 0.22:
        return ("InstalledOther", "COMPLIANT") if draw < 0.3 else ("Installed", "COMPLIANT")
    if start <= month_day < start + length:
        return ("Failed", "NON_COMPLIANT") if failing else ("Missing", "NON_COMPLIANT")
    if reboot and month_day == start + length:
        return "InstalledPendingReboot", "NON_COMPLIANT"
    return "Installed", "COMPLIANT"


def _write_nodes(out: Path, nodes: range, items: int, seed: int, capture: datetime, accounts: list[str],
                 regions: list[str], month_day: int | None = None) -> int:
    files = 0
    for n in nodes:
        rng = random.Random(seed * 1_000_003 + n)
        life = random.Random(n)  # the same draws every day: each item's life through the month
        account = accounts[n % len(accounts)]
        region = regions[(n // len(accounts)) % len(regions)]
        node = f"i-{n:017x}"
        when = (capture + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        env = ["dev", "staging", "prod"][n % 3]
        records: dict[str, list[dict[str, object]]] = {
            rds.TAG: [{"Key": "Team", "Value": f"team-{n % 7}"}, {"Key": "Environment", "Value": env},
                      {"Key": "PatchGroup", "Value": f"{env}-linux"}, {"Key": "Name", "Value": f"host-{n}"}],
            rds.INSTANCE_INFORMATION: [{
                "AgentType": "amazon-ssm-agent", "AgentVersion": "3.3.1000.0", "ComputerName": f"host-{n}",
                "InstanceId": node, "IpAddress": f"10.0.{n // 250}.{n % 250}", "PlatformName": "Amazon Linux",
                "PlatformType": "Linux", "PlatformVersion": "2023", "ResourceType": "EC2Instance",
                "AgentStatus": "Active", "InstanceStatus": "Active"}],
            rds.COMPLIANCE_ITEM: [],
        }
        counts: dict[str, int] = {}
        for k in range(items):
            state, status = rng.choice(STATES) if month_day is None else _lifecycle_state(life, month_day)
            counts[state] = counts.get(state, 0) + 1
            records[rds.COMPLIANCE_ITEM].append({
                "ComplianceType": "Patch", "ExecutionId": f"1c2d3e4f-0000-4000-8000-{n:012d}",
                "ExecutionType": "Command", "ExecutionTime": when, "Id": f"pkg-{k}.x86_64",
                "Title": f"pkg-{k}.x86_64:0:1.{k}-1.amzn2023", "Status": status, "Severity": "CRITICAL",
                "DocumentName": "AWS-RunPatchBaseline", "DocumentVersion": "1", "Classification": "Security",
                "PatchBaselineId": "pb-0123456789abcdef0",
                "PatchSeverity": (rng if month_day is None else life).choice(["Critical", "Important", "Medium"]),
                "PatchState": state, "PatchGroup": f"{env}-linux",
                "InstalledTime": when if state.startswith("Installed") else "",
                "CVEIds": f"CVE-2026-{1000 + k},CVE-2026-{5000 + k}" if state in ("Missing", "Failed") else ""})
        records[rds.PATCH_SUMMARY] = [{
            "PatchGroup": f"{env}-linux", "BaselineId": "pb-0123456789abcdef0", "SnapshotId": "",
            "OwnerInformation": "", "InstalledCount": counts.get("Installed", 0),
            "InstalledOtherCount": counts.get("InstalledOther", 0),
            "InstalledPendingRebootCount": counts.get("InstalledPendingReboot", 0), "InstalledRejectedCount": 0,
            "NotApplicableCount": counts.get("NotApplicable", 0), "UnreportedNotApplicableCount": -1,
            "MissingCount": counts.get("Missing", 0), "FailedCount": counts.get("Failed", 0),
            "OperationType": "Scan", "OperationStartTime": when, "OperationEndTime": when,
            "RebootOption": "NoReboot", "InstallOverrideList": "", "LastNoRebootInstallOperationTime": ""}]
        records[rds.COMPLIANCE_SUMMARY] = [{
            "ComplianceType": "Patch", "PatchGroup": f"{env}-linux", "PatchBaselineId": "pb-0123456789abcdef0",
            "Status": "NON_COMPLIANT" if counts.get("Missing") else "COMPLIANT", "OverallSeverity": "CRITICAL",
            "ExecutionId": f"1c2d3e4f-0000-4000-8000-{n:012d}", "ExecutionType": "Command", "ExecutionTime": when}]
        for rds_type, recs in records.items():
            path = out / rds.object_key(rds_type, account, region, node)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rds.format_lines(node, when, recs))
            files += 1
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--instances", type=int, default=800)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    files = write_day(args.out, args.instances, args.items, args.seed)
    print(f"wrote {files} objects for {args.instances} instances under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
