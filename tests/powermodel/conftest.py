"""Shared fixtures of the power-model tests: the real ARMPM data (skipped when absent) and synthetic traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collectors.trace import write_trace
from powermodel.synthetic import synthetic_trace
from tests.conftest import SHARED

ARMPM_DIR = SHARED / "data" / "armpm-xu3"


@pytest.fixture(scope="session")
def armpm_paths() -> tuple[Path, Path]:
    tsv, split = ARMPM_DIR / "xu3_a15_cbench.tsv", ARMPM_DIR / "cbench_split.tsv"
    if not (tsv.exists() and split.exists()):
        pytest.skip(f"real ARMPM data not found at {ARMPM_DIR} (the shared data directory beside the repo)")
    return tsv, split


@pytest.fixture(scope="session")
def synthetic_frame():
    """A small fusegov-schema trace: 6000 samples, 40 counters, 16 workloads, 5 GPU levels."""
    return synthetic_trace(n_samples=6000, n_counters=40, n_workloads=16, seed=3)


@pytest.fixture(scope="session")
def synthetic_parquet(tmp_path_factory, synthetic_frame) -> Path:
    frame, meta = synthetic_frame
    path = tmp_path_factory.mktemp("synthetic") / "trace.parquet"
    write_trace(frame, path, meta)
    return path


# A desktop-GPU-like sweep: 117 application clocks, 510..1380 MHz in 7.5 MHz steps (under 1.5% apart).
SWEEP_MHZ = tuple(np.arange(510.0, 1380.1, 7.5))


def plain_csv_frame(frame: pd.DataFrame, period_s: float, volt: bool = False) -> pd.DataFrame:
    """A fusegov-schema trace as a new user's plain CSV: a row index, seconds, a kernel name, the clock in MHz,
    busy percent, power in W, an energy column (power x period, in mJ) and counters named c000..."""
    plain = pd.DataFrame(
        {
            "index": np.arange(len(frame)),
            "time_s": frame["t_s"],
            "kernel": frame["workload"],
            "clock_mhz": frame["freq.gpu_hz"] / 1e6,
            "busy_pct": frame["util.gpu_pct"],
            "gpu_w": frame["power.gpu_w"],
            "energy_mj": frame["power.gpu_w"] * period_s * 1e3,
        }
    )
    if volt:
        plain["vdd"] = frame["volt.gpu_v"]
    for col in [c for c in frame.columns if c.startswith("pmc.")]:
        plain[col.rsplit(".", 1)[1].lower()] = frame[col]
    return plain


@pytest.fixture(scope="session")
def sweep_frame():
    """A trace over 117 closely spaced clocks: 6000 samples, 40 counters, 16 workloads."""
    return synthetic_trace(n_samples=6000, n_counters=40, n_workloads=16, levels_mhz=SWEEP_MHZ, seed=5)
