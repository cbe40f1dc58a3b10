"""How closely the virtual Pixel 7 reproduces FUSE's measurements on a real one (issue 9's calibration table).

For every figure: the paper's value, the virtual phone's, the relative error (0 inside a range the paper
gives) and whether it is inside the tolerance; rows that cannot hold together with the others say why
below the table. Stock runs are averaged over three seeds; "stock slower than the best pinned setting at
equal energy" searches the whole pinned grid (a steady-state screen, then the fastest candidates run for
real). Runs go to a process pool (--jobs).

    python bench/bench_fidelity.py [--jobs 2] [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from android.emulator.sim import calibration  # noqa: E402


def _value(value: float | tuple[float, float]) -> str:
    if isinstance(value, tuple):
        return f"{value[0]:g}-{value[1]:g}"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for the runs")
    parser.add_argument("--seeds", type=int, default=3, help="seeds averaged for the stock runs")
    args = parser.parse_args()
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        rows, extra = calibration.measure(
            lambda runs: list(pool.map(calibration.execute, runs)), tuple(range(args.seeds))
        )
    print(f"{'figure (Pixel 7, FUSE arXiv 2507.02135)':<78} {'paper':>12} {'virtual':>9} {'error':>7} {'tol':>6}  in?")
    for row in rows:
        f = row.figure
        tol = f"{f.tolerance:.0%}" if f.relative else f"{f.tolerance:g}{'pt' if f.unit == '%' else ''}"
        verdict = "yes" if row.inside else ("NO*" if f.conflict else "NO")
        print(
            f"{f.label + ' [' + f.unit + ']':<78} {_value(f.paper):>12} {_value(row.value):>9} "
            f"{row.error:>+7.1%} {tol:>6}  {verdict}"
        )
        if row.note:
            print(f"{'':<6}({row.note})")
    inside = sum(r.inside for r in rows)
    print(f"\n{inside} of {len(rows)} figures inside tolerance; * = cannot hold together with the others:")
    for key in sorted({r.figure.conflict for r in rows if r.figure.conflict and not r.inside}):
        print(textwrap.fill(f"- {key}: {calibration.CONFLICTS[key]}", 118, subsequent_indent="  "))
    long = extra["long"]
    print(
        f"\nPrefill 128 + decode 256 (TinyLlama): stock {long['stock_s']:.1f} s vs best pinned at no more energy "
        f"{long['pinned_s']:.1f} s ({long['setting']}); FUSE: 115.15 s vs 42.50 s."
    )
    print(textwrap.fill(calibration.LONG_NOTE, 118))
    print(textwrap.fill("Not measured here: " + calibration.NOT_MEASURED, 118))
    print(f"\n({time.perf_counter() - start:.0f} s, {args.jobs} jobs, {args.seeds} seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
