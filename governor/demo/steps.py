"""The demo's five steps. Each calls the components' public functions and returns what it measured as a
JSON-ready dict (paths relative to the output folder), which the command prints and the report shows.

Sizes (`QUICK`, `FULL`) set only how much is traced and replayed; the procedure is the same."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from governor.errors import GovernorError

GOAL = "latency"  # G1: lowest TTFT/TPOT at no more energy per token than the stock governors (FUSE's default)
POLICIES = ("stock", "fuse", "fusegov")
TIMELINE_POLICIES = ("stock", "fusegov")
# APGPM's counter budget, and the leakage term for a GPU held at one OPP (as tests/powermodel does)
FIT_OPTIONS = ("--max-counters", "10%", "--temperature-term")


@dataclass(frozen=True)
class DemoSize:
    """How much the demo traces and replays."""

    name: str
    per_group: int | None  # workloads traced per group of alike work (None: every workload the phone offers)
    gpu_levels: int  # GPU clocks swept, spread over the table
    trace_s: float  # simulated seconds traced per workload, split over the clocks
    period_s: float  # sampling period
    requests: int  # ShareGPT requests replayed per policy


QUICK = DemoSize("quick", per_group=3, gpu_levels=4, trace_s=10.0, period_s=0.05, requests=8)
FULL = DemoSize("full", per_group=None, gpu_levels=5, trace_s=20.0, period_s=0.05, requests=50)


class Progress:
    """A line per step on stderr, and tqdm bars (stderr; off when it is not a terminal)."""

    def __init__(self, steps: int, stream=None):
        self.steps, self.stream = steps, stream or sys.stderr
        self.index = 0

    def step(self, title: str) -> None:
        self.index += 1
        print(f"[{self.index}/{self.steps}] {title}", file=self.stream, flush=True)

    def bar(self, desc: str, unit: str, total: float | None = None):
        from tqdm import tqdm

        return tqdm(total=total, desc=f"  {desc}", unit=unit, file=self.stream, leave=False, disable=None)


def _rel(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix()


# --- 1. collect ------------------------------------------------------------------------------------------
def choose_workloads(profile: str, model: str, per_group: int | None) -> dict[str, list[str]]:
    """The first `per_group` workloads of each group of alike work (collectors.sweep.workload_groups), by
    name, with the LLM the demo plans first among the LLMs when it is a built-in one."""
    from collectors.sweep import workload_groups

    groups = workload_groups(profile)
    planned = f"llm:{model}"
    if planned in groups["llm"]:
        groups["llm"] = [planned] + [name for name in groups["llm"] if name != planned]
    return {group: names[:per_group] for group, names in groups.items()}


def collect(profile: str, model: str, size: DemoSize, seed: int, out: Path, progress: Progress) -> dict:
    """Trace every chosen workload at each swept GPU clock on the in-process virtual phone: the collectors'
    on-device sampler (sysfs, the GPU's counter device, a lab monitor on the GPU supply) while the phone's
    llama-cli and onnxruntime_perf_test run."""
    from collectors.plot import plot_collection
    from collectors.sweep import collect_sweep, gpu_settings
    from collectors.trace import write_trace

    groups = choose_workloads(profile, model, size.per_group)
    workloads = [name for names in groups.values() for name in names]
    settings = gpu_settings(profile, size.gpu_levels)
    expected = len(workloads) * size.trace_s / size.period_s
    with progress.bar("sampling", "sample", expected) as bar:
        frame, meta = collect_sweep(
            profile, workloads, settings, size.trace_s, period_s=size.period_s, seed=seed, on_progress=bar.update
        )
    trace = write_trace(frame, out / "traces" / "sweep.parquet", meta)
    llm = groups["llm"][0]
    plot = plot_collection(
        frame[frame["workload"] == llm], out / "trace_llm.png", f"{llm} on virtual {profile}: one trace, GPU swept"
    )
    return {
        "workloads": workloads,
        "groups": groups,
        "gpu_freqs_hz": [s["gpu"] for s in settings],
        "trace_s_per_workload": size.trace_s,
        "period_s": size.period_s,
        "samples": int(len(frame)),
        "samples_per_phase": {str(k): int(v) for k, v in frame["phase"].value_counts().sort_index().items()},
        "counters": len(meta["counters"]),
        "dropped": int(meta["dropped"]),
        "trace": _rel(trace, out),
        "plot": _rel(plot, out),
    }


# --- 2. fit ----------------------------------------------------------------------------------------------
def held_out(groups: dict[str, list[str]]) -> list[str]:
    """One member of every group that has two or more (its first: the planned LLM, the first CNN of each
    family by name), so each kind of work is on both sides of the split: the question APGPM answers is an
    unseen network of a kind seen in training."""
    return [names[0] for names in groups.values() if len(names) >= 2]


def fit(collected: dict, out: Path) -> dict:
    """`fusegov fit` on the trace, with the held-out workloads in a split file."""
    from governor.cli import build_parser
    from powermodel.cli import run_fit

    folder = out / "model"
    folder.mkdir(parents=True, exist_ok=True)
    test = held_out(collected["groups"])
    if not test:
        raise GovernorError("demo: the phone offers too few workloads to hold one of a kind out for testing")
    split = folder / "split.csv"
    split.write_text(
        "workload,split\n" + "".join(f"{w},{'test' if w in test else 'train'}\n" for w in collected["workloads"])
    )
    argv = ["fit", str(out / collected["trace"]), "--split", str(split), *FIT_OPTIONS, "-o", str(folder / "model.json")]
    summary, text = run_fit(build_parser().parse_args(argv))
    (folder / "fit.txt").write_text(text + "\n")
    mape = summary["mape_pct"]
    return {
        "command": "fusegov " + " ".join(argv),
        "held_out": test,
        "model_mape_pct": mape["model"],
        "baseline_mape_pct": mape["baseline"],
        "counters": summary["counters"],
        "n_available": summary["n_available"],
        "structure": summary["structure"],
        "structure_reason": summary["structure_reason"],
        "per_workload": summary["per_workload"],
        "model": _rel(Path(summary["model"]), out),
        "summary": _rel(folder / "fit.txt", out),
        "plots": [_rel(Path(p), out) for p in summary["plots"]],
    }


# --- 3. plan ---------------------------------------------------------------------------------------------
def open_measurer(profile: str, model: str, seed: int):
    """The virtual phone the governor measures on; one memory of runs shared by the searches (each still
    counts every run it asks for)."""
    from governor.cache import CachedMeasurer
    from governor.measure import VirtualMeasurer

    measurer = VirtualMeasurer(profile, model, seed=seed)
    if measurer.spec.kind != "llm":
        raise GovernorError(f"demo: --model {model} is not an LLM; the demo plans and replays LLM requests")
    return CachedMeasurer(measurer)


def plan(measurer, model: str, out: Path, progress: Progress) -> tuple[dict, dict]:
    """Each policy's search on the prefill buckets of the ShareGPT requests (FUSE's filter) and decode; the
    plans go to out/plans/NAME.json. Returns (what to report, the searches by name)."""
    from governor.commands import format_plan
    from governor.goals import GoalSpec
    from governor.phases import llm_buckets
    from governor.planner import run_search
    from governor.requests import load_requests

    buckets = llm_buckets(load_requests("sharegpt"))
    goal = GoalSpec(GOAL, "stock")
    searches, plans = {}, {}
    for name in POLICIES:
        with progress.bar(f"search {name}", "run") as bar:
            run = run_search(measurer, buckets, goal, name, model, on_run=lambda entry: bar.update(1))
        path = out / "plans" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        run.plan.write(path)
        searches[name] = run
        plans[name] = {
            "plan": _rel(path, out),
            "measurements": run.plan.search["measurements"],
            "device_time_s": run.plan.search["device_time_s"],
            "wall_s": run.plan.search["wall_s"],
            "met": run.plan.met,
            "text": format_plan(run.plan),
        }
    return {"goal": searches["fusegov"].plan.goal, "buckets": [b.name for b in buckets], "plans": plans}, searches


# --- 4. replay -------------------------------------------------------------------------------------------
def replay(measurer, searches: dict, requests_spec: str, progress: Progress) -> tuple[dict, dict]:
    """The same requests under each policy's plan; returns (each policy's summary, the PolicyResults)."""
    from governor.evaluate import replay_policy
    from governor.requests import load_requests

    requests = load_requests(requests_spec)
    results = {}
    with progress.bar("replaying", "request", len(requests) * len(searches)) as bar:
        for name, search in searches.items():
            results[name] = replay_policy(measurer, name, search, requests, on_request=lambda: bar.update(1))
    summary = {
        "requests": requests_spec,
        "count": len(requests),
        "mean_prompt_tokens": sum(requests.prompt_tokens) / len(requests),
        "mean_output_tokens": sum(requests.output_tokens) / len(requests),
        "policies": {name: result.to_dict() for name, result in results.items()},
    }
    return summary, results


def frontier(results: dict, model: str, profile: str, out: Path) -> str:
    from governor.frontier import plot_frontier

    path = out / "frontier.png"
    plot_frontier(results, path, f"{model} on virtual {profile}, goal {GOAL}")
    return _rel(path, out)


# --- 5. timeline -----------------------------------------------------------------------------------------
def timeline_request(requests_spec: str) -> tuple[int, int]:
    """The replayed request whose prompt length is the median of those with a decode phase."""
    from governor.requests import load_requests

    pairs = sorted(p for p in load_requests(requests_spec).pairs() if p[1] > 1)
    if not pairs:
        raise GovernorError(f"demo: no request in {requests_spec} has two or more output tokens")
    return pairs[len(pairs) // 2]


def timeline(measurer, searches: dict, request: tuple[int, int], out: Path, on_step: Callable | None = None) -> dict:
    """One request replayed under stock and under fusegov's plan with a timeline recorder on the phone."""
    from android.emulator.sim.timeline import TimelineRecorder, plot_timeline
    from governor.replay import replay as replay_requests
    from governor.requests import Requests

    prompt, output = request
    shown = {}
    for name in TIMELINE_POLICIES:
        phone = measurer.phone(0)
        recorder = TimelineRecorder(phone)
        phone.sim.observers.append(recorder)
        try:
            plan = None if name == "stock" else searches[name].plan
            outcome = replay_requests(measurer, plan, Requests("demo", (prompt,), (output,)), phone=phone)[0]
        finally:
            phone.sim.observers.remove(recorder)
        path = out / f"timeline_{name}.png"
        title = (
            f"{measurer.spec.name} on virtual {measurer.profile.name}, {name}: {prompt} prompt + {output} output "
            f"tokens, TTFT {outcome.ttft_s:.2f} s, TPOT {outcome.tpot_s * 1e3:.0f} ms, {outcome.energy_j:.1f} J"
        )
        plot_timeline(recorder.timeline(), path, title)
        shown[name] = {
            "ttft_s": outcome.ttft_s,
            "tpot_s": outcome.tpot_s,
            "latency_s": outcome.latency_s,
            "energy_j": outcome.energy_j,
            "plot": _rel(path, out),
        }
        if on_step:
            on_step()
    return {"prompt_tokens": prompt, "output_tokens": output, "policies": shown}


def caps_line(by_knob: dict) -> str | None:
    """'a cooling device capped policy6 (12 pins), gpu (3 pins) ...' or None when nothing was capped."""
    if not by_knob:
        return None
    knobs = ", ".join(f"{knob} ({count} pin{'s' * (count != 1)})" for knob, count in sorted(by_knob.items()))
    return f"the phone's thermal framework capped pinned knobs: {knobs}; the figures include the throttling"


def timed(function, *args, **kwargs):
    """(result, wall seconds)."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start
