"""The oracle's sweep: wall time with 1 worker process, with 2, and through a local Dask cluster (2 workers).

The same sweep each time, no run cache: every (setting, bucket) of the CPU x GPU x memory grid (memory also
stock) of a phone, on a short bucket set (one prefill bucket from ShareGPT prompts of at most 64 tokens, and
decode), so the whole bench takes minutes. Prints runs per second and the speed-up over 1 worker measured in
the same invocation. On a shared machine the figures move with the other load: read them as ratios.

    python bench/bench_oracle.py [--profile tests/governor/data/hexa6.json] [--model tinyllama-1.1b-q4]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def sweep_once(measurer, buckets, executor, workers) -> tuple[float, int]:
    from governor.executor import sweep
    from governor.searches.oracle import oracle_settings

    settings = oracle_settings(measurer.space)
    tasks = [(s, b) for s in settings for b in buckets]
    start = time.perf_counter()
    done = sum(1 for _ in sweep(measurer.recipe(), tasks, executor=executor, workers=workers))
    return time.perf_counter() - start, done


def main() -> None:
    from governor.measure import VirtualMeasurer
    from governor.phases import llm_buckets
    from governor.requests import Requests, load_requests

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=str(REPO / "tests" / "governor" / "data" / "hexa6.json"))
    parser.add_argument("--model", default="tinyllama-1.1b-q4")
    parser.add_argument("--max-prompt", type=int, default=64)
    args = parser.parse_args()

    pairs = [(p, o) for p, o in load_requests("sharegpt").pairs() if p <= args.max_prompt]
    requests = Requests("short", tuple(p for p, _ in pairs), tuple(o for _, o in pairs))
    buckets = llm_buckets(requests, count=1)
    measurer = VirtualMeasurer(args.profile, args.model)
    print(
        f"oracle sweep: {Path(args.profile).stem}, {args.model}, buckets {[b.name for b in buckets]}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    rows = []
    base, runs = sweep_once(measurer, buckets, None, 1)
    rows.append(("1 worker (in process)", base, runs))
    wall, runs = sweep_once(measurer, buckets, None, 2)
    rows.append(("2 local worker processes", wall, runs))
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        wall, runs = sweep_once(measurer, buckets, f"dask://{address}", 1)
        rows.append(("local Dask cluster, 2 workers", wall, runs))
    print(f"{'executor':<32} {'runs':>6} {'wall s':>8} {'runs/s':>8} {'speed-up':>9}")
    for name, wall, runs in rows:
        print(f"{name:<32} {runs:>6} {wall:>8.1f} {runs / wall:>8.1f} {base / wall:>8.2f}x")


if __name__ == "__main__":
    main()
