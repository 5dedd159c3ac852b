"""`make bench-scale`: the embedded engine at fleet scale, measured, to place the switch to Athena.

Not part of `make test` or `make bench` (it writes ≈11 GB and takes ≈40 minutes on 2 cores). Every
figure is a whole process (interpreter start and imports included), run once:

1. one day's ingest from local disk at 10,000 and 50,000 instances (300 items each, spread over
   10 accounts x 2 Regions): wall time, peak RSS, and the largest account/Region group's JSON
   (ingest holds one group and reads the next ahead, so memory follows the group, not the day);
2. the monthly report over 31 snapshots of 10,000 instances (the first day ingested as above, the
   other 30 written through the lake's own day writer with the first day's rows), against a bare
   DuckDB process aggregating the same Parquet files;
3. ingest of the 10,000-instance day from the local stand-in's S3 (moto), with the GET concurrency
   the code uses, the request count the stand-in served, and what the GETs would cost at a real S3
   request latency (modelled, not measured: no AWS account here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / ".data"
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from rds_day import scale_accounts, write_day  # noqa: E402
from run import DUCKDB_MONTH_AGGREGATE, run_process  # noqa: E402

ACCOUNTS = scale_accounts(10)
REGIONS = ["eu-west-1", "us-east-1"]
FIRST_DAY = date(2026, 10, 1)
S3_BUCKET = "scale-sync"
S3_LATENCIES_MS = (20, 50)  # first-byte latency of a small in-Region GET: the usual range, not measured here


def ensure_fleet(instances: int, items: int) -> Path:
    day = DATA / f"scale-{instances}x{items}"
    if not (day / ".complete").exists():
        shutil.rmtree(day, ignore_errors=True)
        started = time.perf_counter()
        print(f"generating {instances:,} instances x {items} items over {len(ACCOUNTS)} accounts x "
              f"{len(REGIONS)} Regions -> {day}", flush=True)
        files = write_day(day, instances, items, capture=_capture(FIRST_DAY), accounts=ACCOUNTS, regions=REGIONS,
                          processes=os.cpu_count() or 1)
        (day / ".complete").write_text(str(files))
        print(f"  {files:,} objects in {time.perf_counter() - started:.0f} s", flush=True)
    return day


def _capture(day: date):
    from datetime import UTC, datetime

    return datetime(day.year, day.month, day.day, 3, 10, tzinfo=UTC)


def _json_bytes(root: Path) -> tuple[int, int, int]:
    """(objects, total bytes, bytes of the largest account/Region group)."""
    groups: dict[tuple[str, str], int] = {}
    objects = 0
    for path in root.rglob("*.json"):
        parts = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in path.parts if "=" in p}
        key = (parts["accountid"], parts["region"])
        groups[key] = groups.get(key, 0) + path.stat().st_size
        objects += 1
    return objects, sum(groups.values()), max(groups.values())


def _ingest_argv(source: str, lake: Path, day: date) -> list[str]:
    return [sys.executable, "-m", "patch_compliance", "ingest", "--source", source, "--lake", str(lake),
            "--date", day.isoformat(), "--reference-time", f"{day.isoformat()}T04:00:00Z"]


def bench_ingest(instances: int, items: int, table: list[tuple[str, ...]]) -> Path:
    source = ensure_fleet(instances, items)
    objects, total, largest = _json_bytes(source)
    lake = DATA / f"scale-lake-{instances}"
    shutil.rmtree(lake, ignore_errors=True)
    print(f"ingest {instances:,} instances: {objects:,} objects, {total / 1e9:.2f} GB, largest group "
          f"{largest / 1e6:.0f} MB", flush=True)
    seconds, peak = run_process(_ingest_argv(str(source), lake, FIRST_DAY))
    table.append((f"ingest, {instances:,} instances (local disk)", f"{seconds:.1f} s", f"{peak:,.0f} MB",
                  f"{total / 1e9:.2f} GB JSON, largest group {largest / 1e6:.0f} MB "
                  f"(peak RSS {peak / (largest / 1e6):.1f}x it)"))
    return lake


def extend_month(lake: Path, days: int) -> None:
    """Days 2..``days``: the first day's rows under later dates, through the lake's day writer."""
    from patch_compliance.lake import GROUPS, Lake

    store = Lake(str(lake))
    first = store.record(FIRST_DAY)
    assert first is not None, f"no snapshot {FIRST_DAY} in {lake}"
    tables = {name: store.read(name, [FIRST_DAY]) for name in GROUPS["ingest"] if store.record(FIRST_DAY, name)}
    for offset in range(1, days):
        day = FIRST_DAY + timedelta(days=offset)
        writer = store.day_writer(day)
        for name, rows in tables.items():
            for (account, region) in {(a, r) for a, r in zip(rows["account_id"].to_pylist(),
                                                              rows["region"].to_pylist(), strict=True)}:
                import pyarrow.compute as pc

                part = rows.filter(pc.and_(pc.equal(rows["account_id"], account), pc.equal(rows["region"], region)))
                writer.write(name, part.drop_columns(["snapshot_date", "account_id", "region"]),
                             account_id=account, region=region)
        writer.commit({**first.details, "copied_from": FIRST_DAY.isoformat()})
        print(f"  month lake: {day}", end="\r", flush=True)
    print()


def bench_report(lake: Path, instances: int, days: int, table: list[tuple[str, ...]]) -> None:
    extend_month(lake, days)
    month = FIRST_DAY.strftime("%Y-%m")
    out = DATA / "scale-report"
    shutil.rmtree(out, ignore_errors=True)
    seconds, peak = run_process([sys.executable, "-m", "patch_compliance", "report", "--lake", str(lake),
                                 "--month", month, "--out", str(out)])
    base_s, base_peak = run_process([sys.executable, "-c", DUCKDB_MONTH_AGGREGATE, str(lake)])
    table.append((f"monthly report, {days} snapshots x {instances:,} instances", f"{seconds:.1f} s",
                  f"{peak:,.0f} MB", f"{seconds / base_s:.2f}x a bare DuckDB month aggregate "
                  f"({base_s:.1f} s, {base_peak:,.0f} MB)"))


def bench_s3(instances: int, items: int, table: list[tuple[str, ...]]) -> None:
    import boto3

    from patch_compliance.config import load_settings
    from sim.moto_server import MotoServer

    source = ensure_fleet(instances, items)
    threads = load_settings().ingest.read_threads
    recording = DATA / "scale-s3-requests.jsonl"
    recording.unlink(missing_ok=True)
    os.environ["MOTO_RECORDER_FILEPATH"] = str(recording)  # moto's own request recorder counts what ingest asks
    with MotoServer() as server:
        env = server.env()
        os.environ.update(env)
        s3 = boto3.client("s3", endpoint_url=server.endpoint_url)
        s3.create_bucket(Bucket=S3_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        paths = [p for p in source.rglob("*.json")]
        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda p: s3.put_object(Bucket=S3_BUCKET, Key=f"sync/{p.relative_to(source)}",
                                                  Body=p.read_bytes()), paths))
        print(f"  uploaded {len(paths):,} objects to the stand-in in {time.perf_counter() - started:.0f} s",
              flush=True)
        lake = DATA / "scale-lake-s3"
        shutil.rmtree(lake, ignore_errors=True)
        _recorder(server, "start")
        seconds, peak = run_process(_ingest_argv(f"s3://{S3_BUCKET}/sync", lake, FIRST_DAY))
        _recorder(server, "stop")
    methods: dict[str, int] = {}
    for line in recording.read_text().splitlines():
        method = json.loads(line)["method"]
        methods[method] = methods.get(method, 0) + 1
    requests = sum(methods.values())
    per_object = requests / len(paths)
    modelled = ", ".join(f"{len(paths) * per_object * ms / 1000 / threads:.0f} s at {ms} ms"
                         for ms in S3_LATENCIES_MS)
    table.append((f"ingest, {instances:,} instances from the stand-in's S3", f"{seconds:.1f} s", f"{peak:,.0f} MB",
                  f"{requests:,} requests ({per_object:.2f} per object: "
                  f"{', '.join(f'{n:,} {m}' for m, n in sorted(methods.items()))}), {threads} concurrent GETs; "
                  f"real S3 GETs alone ≈ {modelled} per request"))


def _recorder(server, action: str) -> None:
    url = f"{server.endpoint_url}/moto-api/recorder/{action}-recording"
    request = urllib.request.Request(url, method="POST")  # noqa: S310 - the local stand-in
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the local stand-in
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000", help="fleet sizes for the local-disk ingest")
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--only", choices=["ingest", "report", "s3"], help="run one part")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    os.environ["PYTHONPATH"] = f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"
    import run

    run.LAUNCH_OVERHEAD = run.launcher_overhead()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    table: list[tuple[str, ...]] = []
    month_lake = None
    for size in sizes:
        if args.only in (None, "ingest", "report"):
            lake = bench_ingest(size, args.items, table)
            month_lake = lake if size == sizes[0] else month_lake
    if args.only in (None, "report") and month_lake:
        bench_report(month_lake, sizes[0], args.days, table)
    if args.only in (None, "s3"):
        bench_s3(sizes[0], args.items, table)
    print("\n| measurement | wall | peak RSS | notes |\n|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
