"""Command line: ``python -m patch_compliance <command>`` (the same code the DAGs run).

Each command validates its arguments, prints progress on stderr and a summary on stdout, and
exits 0 on success, 1 when the data fails a check, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from patch_compliance.inputs import InputError, parse_date, parse_timestamp


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", help="S3/AWS endpoint (the local stand-in); default: AWS_ENDPOINT_URL")
    parser.add_argument("--config", help="fleet config (default: config/fleet.yaml or PATCH_COMPLIANCE_CONFIG)")


def _cmd_ingest(args: argparse.Namespace) -> int:
    from patch_compliance.config import load_settings
    from patch_compliance.ingest import ingest_snapshot

    snapshot_date = parse_date(args.date, "--date")
    reference_time = parse_timestamp(args.reference_time, "--reference-time") if args.reference_time else None
    started = time.perf_counter()
    manifest = ingest_snapshot(args.source, args.lake, snapshot_date, reference_time,
                               load_settings(args.config), args.endpoint_url, _progress)
    tables = manifest["tables"]
    counts = manifest["status_counts"]
    print(f"snapshot {manifest['snapshot_date']} (run {manifest['run_id']}) committed to {args.lake}")
    print(f"  source objects     {manifest['source']['objects']:>10,}   ({manifest['source']['bytes'] / 1e6:,.1f} MB)")
    print(f"  instances          {manifest['instances']:>10,}   (population {manifest['population']:,}, "
          f"terminated {manifest['terminated']:,})")
    print(f"  patch items        {tables['patch_compliance']['rows']:>10,}")
    for status, count in counts.items():
        print(f"    {status:<16} {count:>10,}")
    print(f"  quarantined lines  {manifest['quarantined_lines']:>10,}   of {manifest['lines']:,}")
    print(f"  reference time     {manifest['reference_time']}")
    print(f"  took               {time.perf_counter() - started:>10.2f} s")
    return 0


def _add_ingest_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ingest", help="snapshot Resource Data Sync JSON into the Parquet lake")
    parser.add_argument("--source", required=True, help="RDS sync prefix: s3://bucket/prefix or a local directory")
    parser.add_argument("--lake", required=True, help="lake root: s3://bucket/prefix or a local directory")
    parser.add_argument("--date", required=True, help="snapshot date, YYYY-MM-DD")
    parser.add_argument("--reference-time", help="freshness reference (ISO-8601); default: newest captureTime")
    _add_common(parser)
    parser.set_defaults(func=_cmd_ingest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m patch_compliance", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_ingest_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
