"""``python -m bench``: benchmark feedgen against the naive baseline; see ``--help``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import BENCH_DIR, calibrate, full, idle
from bench.freshness import FreshnessOptions, report, run_freshness
from bench.report import rows_json, table, targets_json, targets_table
from bench.run import Busy, Options, Unreachable, exclusive, run
from bench.verdict import freshness_targets, naive_note, sections, targets
from feedgen.build.parallel import process_count

QUICK_USERS = 200
QUICK_BUDGET = 60.0
# --full without --postgres: the local server the tests use.
LOCAL_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Full:
    """``--full``: the timed measures (``opts``, on SQLite), then the other parts on ``postgres``
    too."""

    opts: Options
    postgres: str
    edits: int


def parse(argv: list[str]) -> tuple[Options | FreshnessOptions | Full, Path | None, list[int]]:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark feedgen's builds and cycles against a naive baseline. The CRM is "
        "seeded once per size into --dir and reused.",
    )
    parser.add_argument("--users", type=int, help="users in the CRM (default 10,000 x --scale)")
    parser.add_argument("--scale", type=float, default=1.0, help="10,000 users times this")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_USERS} users, 1 run each")
    parser.add_argument("--repeat", type=int, help="runs of each measure (default 3; quick 1)")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--postgres", metavar="URL", help="use PostgreSQL (an admin URL)")
    parser.add_argument("--dir", type=Path, default=BENCH_DIR, help="data folder (var/bench)")
    parser.add_argument("--reseed", action="store_true", help="seed the CRM again")
    parser.add_argument(
        "--naive-sample", type=int, help="feeds the naive baseline builds (0: all; default 500)"
    )
    parser.add_argument(
        "--budget", type=float, help="seconds after which measures stop repeating (900; quick 60)"
    )
    parser.add_argument(
        "--processes",
        type=_processes,
        default="auto",
        help="feedgen's worker.processes: a number or auto (default: auto, every core)",
    )
    parser.add_argument(
        "--rss-users",
        type=int,
        default=0,
        metavar="N",
        help="also measure peak RSS and an idle cycle at larger CRMs, up to N users (100000: "
        "seeds 10,000,000 activities once, about 11 minutes and 5 GB, then about an hour a run), "
        "after the timed measures",
    )
    parser.add_argument(
        "--freshness",
        action="store_true",
        help="measure only freshness: commit -> stored feed with a real worker, at the default "
        "interval and (PostgreSQL) with NOTIFY",
    )
    parser.add_argument(
        "--freshness-edits", type=int, default=40, help="edits per worker setting (default 40)"
    )
    parser.add_argument(
        "--idle-users",
        type=idle.sizes,
        default=[],
        metavar="N,N,...",
        help="also time idle cycles at these CRM sizes, e.g. 1000,10000,100000 (see "
        "python -m bench.idle; above 10,000 users 10 activities each)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="every target in one run, about 90 minutes: the timed measures on SQLite with the "
        "100,000-user rebuild, idle cycles at 1,000/10,000/100,000 users on SQLite and "
        "PostgreSQL, two force builds at once and freshness at 10,000 and 100,000 users on "
        f"PostgreSQL (--postgres, default {LOCAL_POSTGRES})",
    )
    args = parser.parse_args(argv)
    if args.full and (args.quick or args.freshness or args.idle_users):
        parser.error("--full runs every part: not with --quick, --freshness or --idle-users")
    users = args.users or (QUICK_USERS if args.quick else round(10_000 * args.scale))
    if users < 10:
        parser.error("--users: at least 10")
    default_sample = 0 if args.quick else 500
    opts = Options(
        users=users,
        repeat=max(1, args.repeat or (1 if args.quick else 3)),
        quick=args.quick,
        postgres=args.postgres,
        folder=args.dir,
        reseed=args.reseed,
        naive_sample=default_sample if args.naive_sample is None else args.naive_sample,
        budget=args.budget or (QUICK_BUDGET if args.quick else 900.0),
        render_users=50 if args.quick else 200,
        processes=args.processes,
        rss_users=max(0, args.rss_users),
    )
    if args.freshness:
        fresh = FreshnessOptions(
            users=users,
            postgres=args.postgres,
            folder=args.dir,
            reseed=args.reseed,
            edits=max(2, args.freshness_edits),
        )
        return fresh, args.json, []
    if args.full:
        postgres = args.postgres or LOCAL_POSTGRES
        # The timed measures run on SQLite: their header and JSON say so.
        timed = replace(opts, postgres=None)
        return Full(timed, postgres, max(2, args.freshness_edits)), args.json, []
    return opts, args.json, args.idle_users


def _processes(value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise argparse.ArgumentTypeError(f"a number from 1 to 64 or auto, got {value!r}")
    return int(value)


def meta(out: dict[str, Any], opts: Options) -> dict[str, Any]:
    crm = out["site"].crm
    return {
        "users": crm.users,
        "crm": crm.counts,
        "feeds": out["site"].issued,
        "database": "postgresql" if opts.postgres else "sqlite",
        "clock": crm.now.isoformat(),
        "seed_seconds": crm.seed_seconds,
        "crm_reused": crm.seed_seconds is None,
        "repeat": opts.repeat,
        "processes": opts.processes,
        "processes_used": process_count(out["site"].config),
        "quick": opts.quick,
        "budget_seconds": opts.budget,
        "elapsed_seconds": out["elapsed"],
        "naive": {
            **out["naive_sample"],
            "sampled": out["naive_sample"]["feeds"] < out["naive_sample"]["of"],
            "note": naive_note(out),
        },
        "python": platform.python_version(),
        "cpus": len(os.sched_getaffinity(0)),
    }


def main(argv: list[str]) -> int:
    opts, json_path, idle_users = parse(argv)
    # The demo CRM holds broken rows on purpose: feedgen's warnings about them are expected.
    logging.basicConfig(level=logging.ERROR)
    if isinstance(opts, FreshnessOptions):
        return freshness(opts, json_path)
    if isinstance(opts, Full):
        return full_run(opts, json_path)
    try:
        with exclusive(opts.folder, opts.postgres):
            out = run(opts)
            out["idle_sizes"] = [
                idle.measure(n, opts.postgres, opts.folder, activities=idle.activities_for(n))
                for n in idle_users
            ]
    except (Busy, Unreachable) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print_timed(out, opts)
    print_idle(out)
    finish(out, opts, json_path)
    return 0


def full_run(job: Full, json_path: Path | None) -> int:
    def part_done(name: str, out: dict[str, Any]) -> None:
        # Each table as its part ends: a run cut short still shows what it measured.
        if name == "timed":
            print_timed(out, job.opts)
        elif name == "idle":
            print_idle(out)
        elif name == "large":
            size = max(out["sizes"])
            rebuild = out["sizes"][size]["rebuild"]
            print(
                f"Full rebuild at {size:,} users, {out['sizes'][size]['feeds']:,} feeds: "
                f"{rebuild['wall']:.0f}s, {rebuild['events'] / rebuild['wall']:,.0f} events/s, "
                f"peak RSS {rebuild['peak_rss_mb']:.0f} MB\n"
            )
        elif name == "freshness":
            fresh = out["freshness"][-1]
            print(report(fresh, freshness_targets(fresh)))
            print()
        print(f"{calibrate.verdict(out['calibration'])}\n")
        sys.stdout.flush()

    try:
        with exclusive(job.opts.folder, job.postgres):
            out = full.run_full(job.opts, job.postgres, job.edits, part_done)
    except (Busy, Unreachable) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    finish(out, job.opts, json_path)
    return 0


def print_timed(out: dict[str, Any], opts: Options) -> None:
    parts = sections(out)
    info = meta(out, opts)
    crm = info["crm"]
    print(
        f"\nfeedgen benchmark: {crm['users']:,} users, {crm['activities']:,} activities, "
        f"{crm['participants']:,} participants on {info['database']}; "
        f"{sum(info['feeds'].values()):,} feeds; feedgen on {opts.processes} process(es) "
        f"({info['processes_used']} here); "
        f"up to {opts.repeat} run(s) each, "
        f"n shows how many ran; {info['elapsed_seconds']:.0f}s in all\n"
    )
    print(table(parts))
    print(f"\n* {naive_note(out)}.")
    print("  Cycle ratios compare with the naive full rebuild: it has no change detection.")
    if info["processes_used"] > 1:
        print(
            "  With several processes, SQL statements are the coordinating process's only; peak "
            "RSS is the largest of the coordinating and the building processes."
        )
    if 100_000 not in out["sizes"]:
        print("  The 100,000-user rebuild runs only with --rss-users 100000 (or --full).")
    print()


def print_idle(out: dict[str, Any]) -> None:
    if out.get("idle_sizes"):
        print("Idle cycles by CRM size (python -m bench.idle):\n")
        print(idle.table(out["idle_sizes"]))
        print()


def finish(out: dict[str, Any], opts: Options, json_path: Path | None) -> None:
    """Every target's verdict in one table, and the JSON document."""
    verdicts = targets(out) + idle.targets(out.get("idle_sizes", []))
    for fresh in out.get("freshness", []):
        verdicts += freshness_targets(fresh)
    print(targets_table(verdicts))
    if out.get("calibration"):
        print(f"\n{calibrate.verdict(out['calibration'])}")
    if json_path is not None:
        raw = {k: v for k, v in out.items() if k not in ("site", "elapsed")}
        document = {
            "meta": meta(out, opts),
            "sections": rows_json(sections(out)),
            "targets": targets_json(verdicts),
            "raw": raw,
        }
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(document, indent=2, default=str))
        print(f"\nfigures written to {json_path}")


def freshness(opts: FreshnessOptions, json_path: Path | None) -> int:
    try:
        with exclusive(opts.folder, opts.postgres):
            out = run_freshness(opts)
    except (Busy, Unreachable) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    verdicts = freshness_targets(out)
    print()
    print(report(out, verdicts))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        document = {"freshness": out, "targets": targets_json(verdicts)}
        json_path.write_text(json.dumps(document, indent=2, default=str))
        print(f"\nfigures written to {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
