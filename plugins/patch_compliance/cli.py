"""Command line: ``python -m patch_compliance <command>`` (the same code the DAGs run).

Each command validates its arguments, prints progress on stderr and a summary on stdout, and exits
0 on success, 1 when the data fails a check, 2 on bad input on the command line, 3 on an
environment failure (storage or AWS unreachable, an output path that cannot be written, Slack
refusing an alert, another run publishing the same day first). Every non-zero exit prints one
actionable line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from patch_compliance.inputs import InputError, parse_date, parse_timestamp

if TYPE_CHECKING:
    from patch_compliance.aws import Aws, StorageAccess
    from patch_compliance.config import Settings


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


EXIT_OK, EXIT_DATA, EXIT_INPUT, EXIT_ENVIRONMENT = 0, 1, 2, 3


def _aws(args: argparse.Namespace, settings: Settings) -> Aws:
    """The command line's identity: boto3's credential chain, ``--endpoint-url``, the config's Region."""
    from patch_compliance.aws import Aws

    return Aws.from_session(endpoint_url=args.endpoint_url, region=settings.aws.region)


def _storage(args: argparse.Namespace, settings: Settings, *uris: str | None) -> StorageAccess | None:
    """How to reach the command's s3:// locations; None when every one is local (no credential lookup)."""
    if not any(uri and uri.startswith("s3://") for uri in uris):
        return None
    return _aws(args, settings).storage()


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", help="AWS endpoint URL for every service (S3, Glue, SSM, STS); default: "
                                               "AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL")
    parser.add_argument("--config", help="fleet config (default: config/fleet.yaml or PATCH_COMPLIANCE_CONFIG)")
    parser.add_argument("--debug", action="store_true", help="print the traceback of a failure")


def _cmd_ingest(args: argparse.Namespace) -> int:
    from patch_compliance.config import load_settings
    from patch_compliance.ingest import ingest_snapshot

    snapshot_date = parse_date(args.date, "--date")
    reference_time = parse_timestamp(args.reference_time, "--reference-time") if args.reference_time else None
    started = time.perf_counter()
    settings = load_settings(args.config)
    manifest: dict[str, Any] = ingest_snapshot(args.source, args.lake, snapshot_date, reference_time, settings,
                                               _storage(args, settings, args.source, args.lake), _progress)
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
    parser = sub.add_parser("ingest", help="snapshot Resource Data Sync JSON into the Iceberg lake")
    parser.add_argument("--source", required=True, help="RDS sync prefix: s3://bucket/prefix or a local directory")
    parser.add_argument("--lake", required=True, help="lake root: s3://bucket/prefix or a local directory")
    parser.add_argument("--date", required=True, help="snapshot date, YYYY-MM-DD")
    parser.add_argument("--reference-time", help="freshness reference (ISO-8601); default: newest captureTime")
    _add_common(parser)
    parser.set_defaults(func=_cmd_ingest)


def _cmd_validate(args: argparse.Namespace) -> int:
    from patch_compliance.config import load_settings
    from patch_compliance.messages import quality_alert_blocks, quality_alert_text
    from patch_compliance.quality import validate_snapshot

    snapshot_date = parse_date(args.date, "--date")
    reference_time = parse_timestamp(args.reference_time, "--reference-time") if args.reference_time else None
    settings = load_settings(args.config)
    result = validate_snapshot(args.lake, snapshot_date, reference_time, settings, args.data_docs_dir,
                               _storage(args, settings, args.lake))
    print(result.format_table())
    for name, reason in result.skipped.items():
        print(f"skipped {name}: {reason}")
    for offender in result.offenders[:10]:
        print(f"offender {offender['instance_id']} team={offender['team'] or '-'} "
              f"({offender['team_source']}): {'; '.join(offender['problems'])}")
    verdict = "PASSED" if result.success else "FAILED"
    print(f"{verdict}: {len(result.critical_failures)} critical, {len(result.warnings)} warning failure(s) "
          f"of {len(result.checks)} checks in {result.seconds:.2f} s")
    print(f"results: {result.results_path}\nsummary: {result.summary_path}")
    if result.data_docs_index:
        print(f"data docs: {result.data_docs_index}")
    verdict_code = EXIT_OK if result.success else EXIT_DATA
    if args.slack_conn_id and (result.critical_failures or result.warnings):
        from patch_compliance.notify import send_slack

        try:
            send_slack(quality_alert_text(result), quality_alert_blocks(result), args.slack_conn_id)
        except Exception as exc:  # the verdict above stands; the failed delivery is reported on its own
            print(f"error: the data-quality alert was not delivered through {args.slack_conn_id}: "
                  f"{_one_line(exc)}; the verdict above stands (exit {verdict_code})", file=sys.stderr)
    return verdict_code


def _add_validate_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("validate", help="run the data-quality suites (expectations/) on a snapshot")
    parser.add_argument("--lake", required=True, help="lake root: s3://bucket/prefix or a local directory")
    parser.add_argument("--date", required=True, help="snapshot date, YYYY-MM-DD")
    parser.add_argument("--reference-time", help="freshness reference (ISO-8601); default: the snapshot's")
    parser.add_argument("--data-docs-dir", help="local directory for the GX Data Docs site "
                                                "(default: <lake>/validation/data_docs)")
    parser.add_argument("--slack-conn-id", help="post an alert through this Airflow Slack webhook connection "
                                                "when a check fails")
    _add_common(parser)
    parser.set_defaults(func=_cmd_validate)


def _cmd_policy(args: argparse.Namespace) -> int:
    from patch_compliance import policy
    from patch_compliance.config import load_settings

    settings = load_settings(args.config)
    factory = policy.client_factory(_aws(args, settings))
    if args.action == "record":
        snapshot_date = parse_date(args.date or "", "--date")
        if not args.lake:
            raise InputError("policy record needs --lake (s3://bucket/prefix or a local directory)")
        manifest: dict[str, Any] = policy.record_baselines(settings, args.lake, snapshot_date, factory,
                                                           access=_storage(args, settings, args.lake))
        print(f"baselines {snapshot_date} committed to {args.lake}: {manifest['tables']['baselines']['rows']} rows, "
              f"drift {manifest['drift_counts']}")
        return 0
    options = {"allow_delete": args.allow_delete, "accounts": args.account}
    if args.action == "plan":
        print(policy.plan(settings, factory, **options).render())
        return 0
    plan, result = policy.apply(settings, factory, **options)
    print(plan.render())
    print(result.render())
    return 0


def _add_policy_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("policy", help="patch policy as code: plan/apply baselines, patch groups, windows, "
                                           "RDS; record baselines in force")
    parser.add_argument("action", choices=["plan", "apply", "record"],
                        help="plan: show the diff; apply: make SSM match; record: baselines + drift to the lake")
    parser.add_argument("--allow-delete", action="store_true",
                        help="delete managed objects no longer declared (otherwise they are held back)")
    parser.add_argument("--account", action="append", help="limit to this account id (repeatable)")
    parser.add_argument("--lake", help="record: lake root (s3://bucket/prefix or a local directory)")
    parser.add_argument("--date", help="record: snapshot date, YYYY-MM-DD")
    _add_common(parser)
    parser.set_defaults(func=_cmd_policy)


def _cmd_report(args: argparse.Namespace) -> int:
    from patch_compliance.config import load_settings
    from patch_compliance.query import engine_options
    from patch_compliance.report import build_report

    settings = load_settings(args.config)
    engine, athena = engine_options(settings, args.engine)
    if not args.month and not args.from_manifest:
        raise InputError("report needs --month YYYY-MM, or --from-manifest FILE to regenerate an earlier report")
    manifest = build_report(args.lake, args.month, args.as_of, args.out, settings=settings, engine=engine,
                            access=_storage(args, settings, args.lake, args.out, args.from_manifest),
                            athena=athena, from_manifest=args.from_manifest)
    print(f"report {manifest['parameters']['month']} on snapshot {manifest['report_snapshot_date']} "
          f"({len(manifest['trend_snapshot_dates'])} snapshot(s) in the month, engine {engine}) written to {args.out}")
    for name, entry in manifest["outputs"].items():
        print(f"  {name:<32} {entry['bytes']:>10,} bytes")
    if not manifest["ec2_inventory_known"]:
        print("  note: no EC2 inventory for the report date; UNMANAGED coverage is unknown (reported as 0)")
    print(f"  took {manifest['timings_seconds']['total']:.2f} s")
    return 0


def _add_report_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="monthly compliance report: CSVs, HTML, manifest")
    parser.add_argument("--lake", required=True, help="lake root: s3://bucket/prefix or a local directory")
    parser.add_argument("--month", help="report month, YYYY-MM")
    parser.add_argument("--from-manifest", help="regenerate exactly the report this manifest.json describes "
                                                "(the same lake snapshots and thresholds)")
    parser.add_argument("--as-of", help="use the latest snapshot of the month on or before this date (YYYY-MM-DD)")
    parser.add_argument("--out", required=True, help="output directory: local path or s3://bucket/prefix")
    parser.add_argument("--engine", choices=("duckdb", "athena"), help="query engine (default: config query.engine)")
    _add_common(parser)
    parser.set_defaults(func=_cmd_report)


def _cmd_evidence(args: argparse.Namespace) -> int:
    from patch_compliance.config import load_settings
    from patch_compliance.evidence import collect_evidence, write_evidence
    from patch_compliance.query import engine_options

    settings = load_settings(args.config)
    engine, athena = engine_options(settings, args.engine)
    access = _storage(args, settings, args.lake, args.out)
    evidence = collect_evidence(args.lake, args.cve, engine=engine, access=access, athena=athena)
    if args.out:
        print(f"evidence written to {write_evidence(evidence, args.out, access)}", file=sys.stderr)
    else:
        sys.stdout.write(evidence.csv.decode())
    print(evidence.message, file=sys.stderr)
    return 0


def _add_evidence_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("evidence", help="CVE evidence CSV: which instances were affected, and when fixed")
    parser.add_argument("--lake", required=True, help="lake root: s3://bucket/prefix or a local directory")
    parser.add_argument("--cve", required=True, help="CVE id, e.g. CVE-2026-12345")
    parser.add_argument("--out", help="CSV file (local path or s3://bucket/key.csv); default: stdout")
    parser.add_argument("--engine", choices=("duckdb", "athena"), help="query engine (default: config query.engine)")
    _add_common(parser)
    parser.set_defaults(func=_cmd_evidence)


def _cmd_housekeeping(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from patch_compliance.config import load_settings
    from patch_compliance.lake import CatalogConfig, Lake, housekeeping

    settings = load_settings(args.config)
    catalog = CatalogConfig.from_settings(settings)
    if args.retention_days is not None:
        if args.retention_days < 1:
            raise InputError(f"--retention-days must be at least 1, got {args.retention_days}")
        catalog = CatalogConfig(catalog.kind, catalog.uri, catalog.database, catalog.region, args.retention_days)
    if args.orphan_grace_hours < 0:
        raise InputError(f"--orphan-grace-hours must not be negative, got {args.orphan_grace_hours}")
    lake = Lake(args.lake, _storage(args, settings, args.lake), catalog=catalog)
    result = housekeeping(lake, orphan_grace=timedelta(hours=args.orphan_grace_hours), progress=_progress)
    print(f"housekeeping of {lake.uri}: expired {sum(result.expired_snapshots.values())} snapshot(s) older than "
          f"{catalog.retention_days} days, removed {sum(result.orphan_files_removed.values())} orphan file(s)")
    return 0


def _add_housekeeping_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("housekeeping", help="expire old Iceberg snapshots and remove orphan files")
    parser.add_argument("--lake", required=True, help="lake root: s3://bucket/prefix or a local directory")
    parser.add_argument("--retention-days", type=int, help="keep snapshots this long (default: "
                                                           "storage.retention_days, 400)")
    parser.add_argument("--orphan-grace-hours", type=float, default=72.0,
                        help="only remove unreferenced files older than this (default 72: in-flight writers)")
    _add_common(parser)
    parser.set_defaults(func=_cmd_housekeeping)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m patch_compliance", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_ingest_parser(sub)
    _add_validate_parser(sub)
    _add_policy_parser(sub)
    _add_report_parser(sub)
    _add_evidence_parser(sub)
    _add_housekeeping_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    from patch_compliance.inputs import DataCheckError
    from patch_compliance.lake import ConcurrentWriteError

    try:
        return handler(args)
    except InputError as exc:
        return _fail(args, exc, EXIT_INPUT, str(exc))
    except DataCheckError as exc:
        return _fail(args, exc, EXIT_DATA, str(exc))
    except ConcurrentWriteError as exc:
        return _fail(args, exc, EXIT_ENVIRONMENT, str(exc))
    except Exception as exc:  # storage, network, AWS, permissions: not the input, not the data
        return _fail(args, exc, EXIT_ENVIRONMENT,
                     f"{_one_line(exc)} ({type(exc).__name__}; check the storage or endpoint it names, "
                     "credentials and permissions; --debug shows the traceback)")


# A command is one short process holding many long-lived objects (pyiceberg, SQLAlchemy, pydantic, a
# report's rows). With CPython's default thresholds (700, 10, 10) the collector walks all of them
# again and again: 0.2 s of a report or an ingest, measured with gc.callbacks.
COLLECTOR_THRESHOLDS = (50_000, 20, 100)


def run() -> NoReturn:
    """The process entry point (``python -m patch_compliance`` and the console script).

    It collects garbage rarely, and skips the interpreter's final full collection, which costs
    0.3-0.5 s after a report only to free memory the operating system takes back at exit. Every
    output is written and closed by then; atexit handlers and weakref finalizers still run.
    """
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    code = main()
    gc.freeze()
    raise SystemExit(code)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _fail(args: argparse.Namespace, exc: BaseException, code: int, message: str) -> int:
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {message}", file=sys.stderr)
    return code
