"""Wall time and peak memory of a whole `fusegov fit` on a large trace (default 200,000 samples x 256 counters).

    python bench/bench_fit.py
    python bench/bench_fit.py --samples 50000 --counters 128 --keep /tmp/trace.parquet

The trace is synthetic (powermodel.synthetic: fusegov schema, 40 workloads, 5 GPU levels, correlated,
redundant, constant and near-constant counters) and written to Parquet first. Then, each in a fresh
process so peak RSS belongs to it alone:
  1. the floor: `pandas.read_parquet` of the same file (the least any fitter must do);
  2. `fusegov fit FILE --json` (ingest, rates, screening, VIF, grouped-CV forward selection, models, JSON).
The ratios fit/floor say what the fitting adds on top of merely loading the data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# VmHWM of the child's own address space: getrusage's ru_maxrss would also count the parent's memory
# image the child was forked from (Linux keeps the pre-exec high-water mark), i.e. the generated trace.
_PEAK = (
    "import sys; print('PEAK_KIB', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0],"
    " file=sys.stderr)"
)


def run_child(code: str) -> tuple[float, float, str]:
    """Run Python code in a fresh process; return (wall s, its own peak RSS MiB, stdout)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code + "\n" + _PEAK], capture_output=True, text=True, env=env, cwd=ROOT
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit("benchmark child failed")
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_KIB")][-1]
    return wall, int(peak.split()[1]) / 1024.0, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--counters", type=int, default=256)
    parser.add_argument("--workloads", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="PATH", help="write the trace here and keep it (default: temp dir)")
    args = parser.parse_args()

    from collectors.trace import write_trace
    from powermodel.synthetic import synthetic_trace

    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(args.keep) if args.keep else Path(tmp) / "trace.parquet"
        start = time.perf_counter()
        frame, meta = synthetic_trace(args.samples, args.counters, args.workloads, seed=args.seed)
        write_trace(frame, trace, meta)
        counter_mib = frame.filter(like="pmc.").shape[1] * len(frame) * 8 / 2**20
        del frame
        print(
            f"trace: {args.samples} samples x {args.counters} counters, {args.workloads} workloads, "
            f"{trace.stat().st_size / 2**20:.0f} MiB Parquet, counter matrix {counter_mib:.0f} MiB as float64 "
            f"(generated in {time.perf_counter() - start:.1f} s)"
        )

        load_s, load_mib, _ = run_child(f"import pandas as pd; pd.read_parquet({str(trace)!r})")
        print(f"floor, pandas.read_parquet:  wall {load_s:6.1f} s   peak RSS {load_mib:7.1f} MiB")
        argv = ["fit", str(trace), "-o", str(Path(tmp) / "model.json"), "--no-plots", "--json"]
        fit_s, fit_mib, out = run_child(f"from governor.cli import main; rc = main({argv!r}); assert rc == 0")
        result = json.loads(out)
        print(f"fusegov fit:                 wall {fit_s:6.1f} s   peak RSS {fit_mib:7.1f} MiB")
        print(
            f"ratios fit / floor:          wall {fit_s / load_s:6.1f} x   peak RSS {fit_mib / load_mib:5.2f} x; "
            f"peak RSS / counter matrix {fit_mib / counter_mib:.2f} x"
        )
        print(
            f"fit result: {len(result['selected'])} features from {result['n_counters']} of "
            f"{result['n_available']} counters, held-out MAPE {result['mape_pct']['model']:.2f}% "
            f"(baseline {result['mape_pct']['baseline']:.2f}%)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
