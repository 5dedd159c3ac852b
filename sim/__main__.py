"""``python -m sim``: seed the fleet into moto, drive the simulated clock, run agents, build history.

    python -m sim seed --endpoint-url http://127.0.0.1:5055 --date 2026-10-22
    python -m sim set-date 2026-10-23 | advance [--days 1] | show
    python -m sim faults late_share=0.05 malformed_share=0.002 | faults --clear
    python -m sim agent [--interval 1] [--once]
    python -m sim sync [--date D]            # write the whole RDS view of a date without a command
    python -m sim catalog [--date D]         # publish the catalog SSM and the AL2023 repository know on D
    python -m sim history --days 35 --end 2026-11-26 --lake DIR --work DIR
    python -m sim truth --date 2026-11-26 [--since 2026-10-23] [--catalog] --out truth.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from patch_compliance.inputs import InputError, parse_date
from sim.state import SimState, build_world, describe


def _endpoint(args: argparse.Namespace, state: SimState) -> str:
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or state.endpoint_url
    if not endpoint:
        raise InputError("no moto endpoint: pass --endpoint-url or set AWS_ENDPOINT_URL")
    return endpoint


def cmd_seed(args: argparse.Namespace) -> int:
    from sim.catalog_service import publish_catalog
    from sim.fleet import create_buckets, seed_moto

    state = SimState.load_or_new(args.state)
    state.seed, state.size = args.seed, args.size
    if args.clean:
        from sim.fleet import CLEAN_FLEET

        state.fleet = dict(CLEAN_FLEET)
    if args.date:
        state.sim_date = parse_date(args.date, "--date")
    state.endpoint_url = _endpoint(args, state)
    state.id_map = {}
    world = build_world(state)
    started = time.perf_counter()
    buckets = create_buckets(state.endpoint_url, world.settings)
    state.id_map = seed_moto(world.fleet, state.endpoint_url, state.sim_date, world.settings)
    path = state.save()
    published = publish_catalog(state.endpoint_url, world.catalog, state.sim_date, world.settings.aws.region)
    print(f"seeded {len(state.id_map)} EC2 instances and buckets {buckets} into {state.endpoint_url} "
          f"in {time.perf_counter() - started:.1f} s; state {path}")
    print(f"catalog as of {published.on}: {published.ssm_patches} patches for DescribeAvailablePatches, "
          f"AL2023 repository at {published.feed_url}")
    print(json.dumps(describe(build_world(state)), indent=2))
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from sim.catalog_service import publish_catalog

    state = SimState.load_or_new(args.state)
    on = parse_date(args.date, "--date") if args.date else state.sim_date
    world = build_world(state)
    published = publish_catalog(_endpoint(args, state), world.catalog, on, world.settings.aws.region)
    print(f"catalog as of {on}: {published.ssm_patches} patches for DescribeAvailablePatches, "
          f"AL2023 repository ({published.feed_objects} objects) at {published.feed_url}")
    return 0


def cmd_set_date(args: argparse.Namespace) -> int:
    state = SimState.load_or_new(args.state)
    state.sim_date = parse_date(args.date, "date")
    print(f"simulated date {state.sim_date} (state {state.save()})")
    return 0


def cmd_advance(args: argparse.Namespace) -> int:
    state = SimState.load(args.state)
    state.sim_date += timedelta(days=args.days)
    print(f"simulated date {state.sim_date} (state {state.save()})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    print(json.dumps(describe(build_world(SimState.load_or_new(args.state))), indent=2))
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    from sim.model import Faults

    state = SimState.load_or_new(args.state)
    faults = {} if args.clear else dict(state.faults)
    for assignment in args.set:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise InputError(f"fault switches are KEY=NUMBER, got {assignment!r}")
        try:
            faults[key] = float(value)
        except ValueError as exc:
            raise InputError(f"fault {key} needs a number, got {value!r}") from exc
    Faults.from_dict(faults)
    state.faults = faults
    state.save()
    print(json.dumps(Faults.from_dict(faults).as_dict(), indent=2))
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from sim.agent import Agent

    state = SimState.load(args.state)
    agent = Agent(_endpoint(args, state), state.path, sync_uri=args.sync_uri)
    print(f"agent polling {agent.endpoint_url} every {args.interval} s, writing to {agent.sync_uri}", flush=True)
    while True:
        for report in agent.poll_once():
            print(f"{report.command_id} [{report.comment}] {report.account_id} at {report.sim_date}: "
                  f"{report.fresh} fresh, {report.kept} kept, {report.objects} objects", flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)


def cmd_sync(args: argparse.Namespace) -> int:
    from sim.history import DayWriter
    from sim.rds_writer import Renderer, sink_for
    from sim.truth import views_on

    state = SimState.load(args.state)
    on = parse_date(args.date, "--date") if args.date else state.sim_date
    world = build_world(state)
    uri = args.sync_uri or world.settings.storage.sync_uri
    sink = sink_for(uri, _endpoint(args, state) if uri.startswith("s3://") else None)
    count = DayWriter(world, sink, Renderer(state.seed, world.faults.malformed_share)).write(on, views_on(world, on))
    print(f"wrote {count} objects for {on} to {uri}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from sim.history import build_history
    from sim.truth import write_truth

    state = SimState(seed=args.seed, size=args.size, faults=SimState.load_or_new(args.state).faults
                     if args.with_faults else {})
    end = parse_date(args.end, "--end")
    state.sim_date = end
    world = build_world(state)
    result = build_history(world, args.days, end, args.lake, args.work, ingest=not args.no_ingest,
                           endpoint_url=args.endpoint_url,
                           progress=(lambda m: print(m, flush=True)))
    truth_path = write_truth(result.pop("truth"), args.truth or Path(args.work) / "truth.json")
    print(json.dumps(result, indent=2))
    print(f"ground truth for {end}: {truth_path}")
    return 0


def cmd_truth(args: argparse.Namespace) -> int:
    from sim.truth import ground_truth, write_truth

    state = SimState.load_or_new(args.state)
    on = parse_date(args.date, "--date") if args.date else state.sim_date
    since = parse_date(args.since, "--since") if args.since else on
    if since > on:
        raise InputError(f"--since {since} is after --date {on}")
    dates = [since + timedelta(days=n) for n in range((on - since).days + 1)]
    from sim.catalog_service import CATALOGUED_FAMILIES

    families = CATALOGUED_FAMILIES if args.catalog else frozenset()
    truth = ground_truth(build_world(state), on, dates, catalog_families=families)
    if args.out:
        print(f"ground truth for {on} ({len(dates)} snapshot dates): {write_truth(truth, args.out)}")
        print(json.dumps(truth["status_counts"]))
    else:
        json.dump(truth, sys.stdout, indent=1, default=str)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", help="state file (default: $SIM_STATE or out/sim/state.json)")
    sub = parser.add_subparsers(dest="command", required=True)

    seed = sub.add_parser("seed", help="create buckets and the fleet's EC2 instances in moto")
    seed.add_argument("--endpoint-url")
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--size", type=int, default=800, help="EC2 instances (defects scale with it)")
    seed.add_argument("--date", help="simulated date YYYY-MM-DD (EC2 states as of it)")
    seed.add_argument("--clean", action="store_true", help="no tag defects or stale agents (sim.fleet.CLEAN_FLEET)")
    seed.set_defaults(func=cmd_seed)

    catalog = sub.add_parser("catalog", help="publish the patch catalog as of a date to the stand-in "
                                             "(DescribeAvailablePatches and the AL2023 repository)")
    catalog.add_argument("--date", help="default: the simulated date")
    catalog.add_argument("--endpoint-url")
    catalog.set_defaults(func=cmd_catalog)

    set_date = sub.add_parser("set-date", help="set the simulated date")
    set_date.add_argument("date")
    set_date.set_defaults(func=cmd_set_date)
    advance = sub.add_parser("advance", help="move the simulated date forward")
    advance.add_argument("--days", type=int, default=1)
    advance.set_defaults(func=cmd_advance)
    sub.add_parser("show", help="print the state and the fleet's shape").set_defaults(func=cmd_show)

    faults = sub.add_parser("faults", help="set fault switches KEY=NUMBER (see docs/simulator.md)")
    faults.add_argument("set", nargs="*")
    faults.add_argument("--clear", action="store_true")
    faults.set_defaults(func=cmd_faults)

    agent = sub.add_parser("agent", help="turn Scan commands seen in moto into RDS output")
    agent.add_argument("--endpoint-url")
    agent.add_argument("--sync-uri", help="default: storage.sync_uri of config/fleet.yaml")
    agent.add_argument("--interval", type=float, default=1.0)
    agent.add_argument("--once", action="store_true", help="poll once and exit")
    agent.set_defaults(func=cmd_agent)

    sync = sub.add_parser("sync", help="write the whole RDS view of a date (no command needed)")
    sync.add_argument("--date")
    sync.add_argument("--endpoint-url")
    sync.add_argument("--sync-uri", help="s3://... or a local directory (default: storage.sync_uri)")
    sync.set_defaults(func=cmd_sync)

    history = sub.add_parser("history", help="simulate N days into a lake via local RDS trees")
    history.add_argument("--days", type=int, default=35)
    history.add_argument("--end", required=True)
    history.add_argument("--lake", required=True, help="lake URI (local path or s3://)")
    history.add_argument("--work", required=True, help="work directory (the RDS tree, truth.json)")
    history.add_argument("--seed", type=int, default=42)
    history.add_argument("--size", type=int, default=800)
    history.add_argument("--no-ingest", action="store_true", help="write trees and inventory only")
    history.add_argument("--with-faults", action="store_true", help="apply the state file's fault switches")
    history.add_argument("--endpoint-url", help="for an s3:// lake on moto")
    history.add_argument("--truth", help="where to write the end date's ground truth (default WORK/truth.json)")
    history.set_defaults(func=cmd_history)

    truth = sub.add_parser("truth", help="export ground truth JSON for a simulated date")
    truth.add_argument("--date", help="default: the simulated date")
    truth.add_argument("--since", help="first snapshot date ingested (default: --date only)")
    truth.add_argument("--catalog", action="store_true", help="release-date ages where the catalog task dates them")
    truth.add_argument("--out")
    truth.set_defaults(func=cmd_truth)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
