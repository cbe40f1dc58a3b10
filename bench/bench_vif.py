"""All VIFs from the inverse correlation matrix vs statsmodels' one-regression-per-column loop.

    python bench/bench_vif.py                      # 20,000 samples x 200 counters, full statsmodels loop
    python bench/bench_vif.py --standardize        # statsmodels >= 0.15 default (standardises, checks cond)
    python bench/bench_vif.py --sm-columns 20      # time statsmodels on 20 columns, extrapolate to all

Counters are drawn from a latent-factor model with counter-like scales (1..1e9) and offsets, so the VIFs
span a realistic range (mostly 2..100). statsmodels is called the documented way for VIFs with a constant:
`variance_inflation_factor(add_constant(X), j)` for every counter column j.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from powermodel.vif import vif_all  # noqa: E402


def counters(n: int, p: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 16))
    loadings = rng.standard_normal((16, p)) * (rng.random((16, p)) < 0.4)
    X = latent @ loadings + rng.standard_normal((n, p))
    return X * rng.uniform(1.0, 1e9, p) + rng.uniform(0, 1e3, p)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--counters", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5, help="runs of the fast path (best time is reported)")
    parser.add_argument(
        "--standardize",
        action="store_true",
        help="call statsmodels with standardize=True (its 0.15 default; ~10x slower per column)",
    )
    parser.add_argument(
        "--sm-columns",
        type=int,
        default=None,
        help="run statsmodels on the first N columns only and extrapolate its time",
    )
    args = parser.parse_args()

    import statsmodels
    import statsmodels.api as sm
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    X = counters(args.samples, args.counters, args.seed)
    print(
        f"data: {args.samples} samples x {args.counters} counters (seed {args.seed}); "
        f"numpy {np.__version__}, statsmodels {statsmodels.__version__}"
    )

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        fast = vif_all(X)
        times.append(time.perf_counter() - start)
    fast_s = min(times)
    print(
        f"inverse correlation matrix: {fast_s * 1e3:.1f} ms (best of {args.repeat}); "
        f"VIF range {fast.min():.2f} .. {fast.max():.2f}, median {np.median(fast):.2f}"
    )

    cols = args.counters if args.sm_columns is None else min(args.sm_columns, args.counters)
    exog = sm.add_constant(X)
    reference = np.empty(cols)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns about the raw data's condition number
        for j in range(cols):
            reference[j] = variance_inflation_factor(exog, j + 1, standardize=args.standardize)
    sm_s = time.perf_counter() - start
    sm_total = sm_s * args.counters / cols
    how = "measured" if cols == args.counters else f"extrapolated from {cols} columns ({sm_s:.1f} s)"
    print(f"statsmodels variance_inflation_factor loop (standardize={args.standardize}): {sm_total:.1f} s ({how})")

    rel = np.abs(fast[:cols] - reference) / np.abs(reference)
    ok = bool(rel.max() <= 1e-6)
    print(
        f"agreement on {cols} columns: max relative difference {rel.max():.2e} ({'within' if ok else 'OUTSIDE'} 1e-6)"
    )
    print(f"speed ratio: {sm_total / fast_s:,.0f}x faster than the statsmodels loop")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
