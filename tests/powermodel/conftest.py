"""Shared fixtures of the power-model tests: the real ARMPM data (skipped when absent) and synthetic traces."""

from __future__ import annotations

from pathlib import Path

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
