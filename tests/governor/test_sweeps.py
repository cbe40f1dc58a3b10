"""Sweeps give the same runs whatever runs them (in process, worker processes, a Dask cluster), and a CNN
gets a one-bucket plan."""

from __future__ import annotations

import pytest

from governor.executor import sweep
from governor.goals import GoalSpec
from governor.measure import VirtualMeasurer
from governor.phases import cnn_buckets, llm_buckets
from governor.planner import run_search
from governor.requests import load_requests
from tests.governor.conftest import HEXA6, TINYLLAMA


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_workers_and_dask_give_the_runs_of_one_process(short_requests):
    from distributed import LocalCluster

    measurer = VirtualMeasurer(HEXA6, TINYLLAMA)
    decode = [b for b in llm_buckets(load_requests(str(short_requests))) if b.kind == "decode"]
    gpu = measurer.space.knob("gpu")
    tasks = [(s, decode[0]) for s in measurer.space.grid([gpu])]

    def runs(executor, workers):
        return {
            (s, b): sample for s, b, sample, _ in sweep(measurer.recipe(), tasks, executor=executor, workers=workers)
        }

    alone = runs(None, 1)
    assert len(alone) == len(tasks)
    assert runs(None, 2) == alone
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert runs("dask://" + cluster.scheduler_address.removeprefix("tcp://"), 1) == alone


def test_a_cnn_gets_one_bucket():
    measurer = VirtualMeasurer(HEXA6, "cnn:mobilenetv2")
    run = run_search(measurer, cnn_buckets(runs=3), GoalSpec("energy"), "fusegov", "cnn:mobilenetv2")
    (phase,) = run.plan.phases
    assert phase.phase == "cnn" and phase.met
    assert phase.expected.energy_per_token_j <= phase.stock.energy_per_token_j


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_stopping_a_sweep_stops_its_workers(tmp_path, how):
    """`fusegov plan --search oracle --workers 2` stopped mid-sweep (SIGTERM to it, or Ctrl-C: SIGINT to its
    process group): it says it was interrupted and leaves no worker process behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    command = [sys.executable, "-m", "governor.cli", "plan", "--virtual", HEXA6, "--model", TINYLLAMA]
    command += ["--search", "oracle", "--workers", "2", "--no-cache", "-o", str(tmp_path / "p.json")]
    inherited = signal.getsignal(signal.SIGINT)

    def at_a_terminal():
        # a shell at a terminal starts a command with SIGINT at its default; a test runner's process may have it
        # ignored, and an ignored signal stays ignored across exec (Python then installs no KeyboardInterrupt)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=at_a_terminal
    )
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    workers: list[psutil.Process] = []
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        workers = [c for c in parent.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())]
    assert len(workers) >= 2, "the sweep never started its workers"
    time.sleep(1.0)  # the workers are running their first chunks
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"still running 30 s after {how} (SIGINT in the test's process: {inherited})")
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"workers left running: {[p.pid for p in alive]}"
