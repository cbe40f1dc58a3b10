"""Bad input: a model too big for the phone, a budget or target nothing meets (the plan says so and keeps the
closest), knobs that cannot be pinned, and the CLI's errors (never a traceback)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import pytest

from android.emulator.phone import VirtualPhone
from android.probe import probe_device
from android.virtual import VirtualDevice
from governor.errors import GovernorError
from governor.goals import GoalSpec
from governor.measure import VirtualMeasurer
from governor.phases import llm_buckets
from governor.pinning import check_pinnable
from governor.planner import run_search
from governor.requests import load_requests
from governor.space import ConfigSpace
from tests.governor.conftest import HEXA6, TINYLLAMA


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def fusegov(*args: str) -> Ran:
    """The `fusegov` entry point, in process (what the console script calls), with its output captured."""
    from governor.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Ran(code, out.getvalue(), err.getvalue())


def test_a_model_that_does_not_fit_fails_before_any_run(tmp_path):
    out = fusegov(
        "plan", "--virtual", "pixel4", "--model", "llama2-7b-q4", "--no-cache", "-o", str(tmp_path / "p.json")
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "fusegov plan: error: llama2-7b-q4 needs" in out.stderr and "smaller --model" in out.stderr
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(
    ("goal", "limit", "closest"),
    [("latency", "0.0001", "energy_per_token_j"), ("energy", "0.001,0.001", "latency_s")],
)
def test_unmeetable_goals_keep_the_closest_and_say_so(short_requests, goal, limit, closest):
    measurer = VirtualMeasurer(HEXA6, TINYLLAMA)
    buckets = [b for b in llm_buckets(load_requests(str(short_requests))) if b.kind == "decode"]
    run = run_search(measurer, buckets, GoalSpec(goal, limit), "fusegov", TINYLLAMA)
    phase = run.plan.phase("decode")
    assert not phase.met and not run.plan.met
    assert any("no setting measured meets the goal" in note for note in run.plan.notes)
    measured = [getattr(o, closest) for o in run.lab.observations("decode")]
    assert getattr(phase.expected, closest) == pytest.approx(min(measured))


def test_knobs_that_cannot_be_pinned_are_refused_by_name():
    phone = VirtualPhone(HEXA6)
    info = probe_device(VirtualDevice(phone))
    space = ConfigSpace.from_device(info)
    with pytest.raises(GovernorError, match="needs root"):
        check_pinnable(VirtualDevice(phone, root=False), info, space)
    check_pinnable(VirtualDevice(phone), info, space)  # rooted: pins and puts back
    assert VirtualDevice(phone).read(f"{info.gpu.control.directory}/{info.gpu.control.max_file}").strip()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--goal", "latency", "--budget", "-3"], "bad --budget"),
        (["--goal", "energy", "--target", "5"], "bad --target"),
        (["--search", "magic"], "unknown --search"),
        (["--requests", "sharegpt:0"], "N must be a positive"),
        (["--model", "gpt-9"], "unknown LLM model"),
        (["--cpu", "42"], "no CPU 42"),
    ],
)
def test_cli_errors_name_the_option(tmp_path, args, message):
    base = {"--model": TINYLLAMA}
    argv = ["plan", "--virtual", HEXA6, "--no-cache", "-o", str(tmp_path / "p.json")]
    for key, value in base.items():
        if key not in args:
            argv += [key, value]
    out = fusegov(*argv, *args)
    assert out.returncode == 1, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [("requests.txt", "--per-request writes .parquet or .csv"), ("gone/requests.csv", "no such directory")],
)
def test_a_per_request_file_that_cannot_be_written_is_refused_before_the_replays(tmp_path, name, message):
    argv = ["bench", "governor", "--virtual", HEXA6, "--model", TINYLLAMA, "--no-cache", "--policies", "stock"]
    out = fusegov(*argv, "--per-request", str(tmp_path / name))
    assert out.returncode == 1, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr and "replaying" not in out.stderr
