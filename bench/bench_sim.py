"""How much faster than real time the virtual phone runs in process.

Prints simulated seconds per wall second and per CPU second (the process's own CPU time, which other
jobs on a shared machine do not inflate) for LLM decode (stock governors on every shipped profile, and
pinned), a CNN and an idle phone, and, as the baseline measured in the same run, the same stock decode
with the engine's block-vectorised physics turned off (power, rails, thermal, sensors and counters
handled after every step instead of once per block of steps) and the kernel timings recomputed for every
unit instead of cached per clock setting. Target: the slowest LLM case at least 200x real time on a
2-core machine (best of the repeats, each a phone of its own seed, so none replays a trajectory whose kernel
timings an earlier one scheduled; the first repeat's speed, with the timing caches cold, is shown beside).

Then what a sweep over pinned settings (the governor's oracle) pays per run: CPU seconds for a fresh
phone running one pinned request (TinyLlama, 128 prompt + 64 decode tokens, 1 s idle first) and one
decode-only run (16 tokens after a 232-token context), with the fast path for pinned knobs and, as the
in-run baseline, with it turned off (every step one tick, every governor evaluated).

    python bench/bench_sim.py [--seconds 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from android.emulator.phone import VirtualPhone  # noqa: E402
from android.emulator.sim.cnn import CnnRuns  # noqa: E402
from android.emulator.sim.llm import LlmRequest  # noqa: E402
from android.emulator.sim.llm_models import load_model  # noqa: E402
from android.emulator.sim.request import apply_pins, run_llm_decode, run_llm_request  # noqa: E402

MHZ = 1_000_000
TARGET = 200.0


def _speed(make_phone, workload_factory, seconds: float, repeat: int) -> tuple[float, float, float]:
    """Best of `repeat`: simulated seconds per wall second and per CPU second over `seconds` simulated (or up to
    the workload's end, if sooner); and per CPU second in the first repeat, whose timing caches start cold. Each
    repeat is a phone of its own seed (`make_phone(seed)`): the later ones find the streams the first one built
    and the clock settings it met, as a sweep does, but not their own trajectory. A phone of the same seed
    replays it with every kernel timing already scheduled (sm8550: 250x so, 234x a seed each): a fresh decode
    schedules its timings anew only for the context buckets and table clocks no earlier phone met (a burst
    sharing the thread's core stretches its unit instead, UnitTiming.stretched: sm8550's seed 0 schedules 73
    timings in 40 s, seeds 1 and 2 then 10 and 7)."""
    best_wall = best_cpu = 0.0
    first_cpu = None
    for seed in range(repeat):
        phone = make_phone(seed)
        workload = workload_factory()
        if workload is not None:
            phone.start(workload)
        phone.advance(1.0)  # warm-up: caches of the first clocks, governors settle
        wall, cpu = time.perf_counter(), time.process_time()
        simulated = _run_while_busy(phone, workload, seconds)
        best_wall = max(best_wall, simulated / (time.perf_counter() - wall))
        cpu_speed = simulated / (time.process_time() - cpu)
        best_cpu = max(best_cpu, cpu_speed)
        first_cpu = cpu_speed if first_cpu is None else first_cpu
    return best_wall, best_cpu, first_cpu


def _phones(profile: str):
    """A new phone of `profile` for each seed."""
    return lambda seed: VirtualPhone(profile, seed=seed)


def _run_while_busy(phone: VirtualPhone, workload, seconds: float) -> float:
    """Advance `seconds`, or until the workload ends if sooner (a fast phone finishes a 2000-token decode in
    ~40 s, and an idle tail would flatter its speed); returns the simulated seconds covered."""
    if workload is None:
        phone.advance(seconds)
        return seconds
    start = phone.now_s
    while phone.now_s - start < seconds - 1e-9 and workload.finished_s is None:
        phone.advance(min(1.0, seconds - (phone.now_s - start)))
    return phone.now_s - start


def _unvectorised_baseline(seconds: float, repeat: int) -> tuple[float, float]:
    """Stock decode with physics flushed every step and no timing cache: the per-step Python baseline."""
    from android.emulator.sim import engine, pipeline

    rows, cache_lookup = engine.FLUSH_ROWS, pipeline.KernelStream.timing
    engine.FLUSH_ROWS = 1
    pipeline.KernelStream.timing = lambda self, cpu, gpu, mem: self._schedule(cpu, gpu, mem)
    try:
        tiny = load_model("tinyllama-1.1b-q4")
        return _speed(_phones("pixel7"), lambda: LlmRequest(tiny, 8, 2000), seconds, repeat)[:2]
    finally:
        engine.FLUSH_ROWS, pipeline.KernelStream.timing = rows, cache_lookup


def _per_run(repeat: int) -> dict[str, float]:
    """Best-of CPU seconds per oracle-style pinned run: a request and a decode-only run, fresh phones."""
    pins = {"gpu": 848 * MHZ, "policy6": 2401 * MHZ, "mem": 2028 * MHZ}
    runs = {
        "pinned request 128/64": lambda phone: run_llm_request(phone, "tinyllama-1.1b-q4", 128, 64, pins=pins),
        "pinned decode-only 16 after 232": lambda phone: run_llm_decode(phone, "tinyllama-1.1b-q4", 232, 16, pins=pins),
    }
    best = {}
    for name, run in runs.items():
        run(VirtualPhone("pixel7"))  # warm-up: streams and their timings cached as in a sweep
        times = []
        for seed in range(repeat):
            start = time.process_time()
            run(VirtualPhone("pixel7", seed=seed))
            times.append(time.process_time() - start)
        best[name] = min(times)
    return best


def _without_fast_path(measure):
    """`measure()` with every step one tick (the fast path for pinned knobs off)."""
    from android.emulator.sim import engine

    span = engine.Simulator._span
    engine.Simulator._span = lambda self, now, end: min(self.tick_s, end - now)
    try:
        return measure()
    finally:
        engine.Simulator._span = span


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="simulated seconds per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per case (best is kept)")
    args = parser.parse_args()
    tiny = load_model("tinyllama-1.1b-q4")

    restores = []

    def pinned_phone(seed):
        phone = VirtualPhone("pixel7", seed=seed)
        restores.append(apply_pins(phone, {"gpu": 848 * MHZ, "policy6": 2401 * MHZ, "mem": 2028 * MHZ}))
        return phone  # the restore is kept: dropping it would unpin at once

    with tempfile.TemporaryDirectory() as tmp:
        from tests.helpers.onnx_graphs import conv_net

        cnn_path = conv_net(Path(tmp) / "conv.onnx", channels=32, size=56)
        cases = [
            ("LLM decode, stock governors (pixel7)", _phones("pixel7"), lambda: LlmRequest(tiny, 8, 2000)),
            ("LLM decode, pinned 848/2401/2028 (pixel7)", pinned_phone, lambda: LlmRequest(tiny, 8, 2000)),
            ("LLM decode, stock governors (sm8550)", _phones("sm8550"), lambda: LlmRequest(tiny, 8, 2000)),
            ("LLM decode, stock governors (pixel4)", _phones("pixel4"), lambda: LlmRequest(tiny, 8, 2000)),
            ("CNN, stock governors (pixel7)", _phones("pixel7"), lambda: CnnRuns(cnn_path, 10**6)),
            ("idle phone (pixel7)", _phones("pixel7"), lambda: None),
        ]
        results = [(name, _speed(phone, work, args.seconds, args.repeat)) for name, phone, work in cases]
    baseline_wall, baseline_cpu = _unvectorised_baseline(min(args.seconds, 10.0), args.repeat)
    print(f"{'case':<46} {'sim s / wall s':>15} {'sim s / CPU s':>14} {'vs baseline':>12} {'1st, cold':>10}")
    for name, (wall, cpu, first) in results:
        print(f"{name:<46} {wall:>14.0f}x {cpu:>13.0f}x {cpu / baseline_cpu:>11.1f}x {first:>9.0f}x")
    print(
        f"{'baseline: stock decode, per-step physics':<46} {baseline_wall:>14.0f}x {baseline_cpu:>13.0f}x {1.0:>11.1f}x"
    )
    llm = [speeds for name, speeds in results if name.startswith("LLM")]
    worst_wall, worst_cpu, worst_first = (min(column) for column in zip(*llm))
    verdict = "meets" if worst_cpu >= TARGET else "MISSES"
    print(
        f"\nslowest LLM case runs {worst_cpu:.0f}x real time per CPU second ({worst_wall:.0f}x by the wall clock, "
        f"which other jobs on the machine slow down): {verdict} the {TARGET:.0f}x target "
        f"(best of {args.repeat}, up to {args.seconds:.0f} simulated s each, while the request decodes); in the first runs, timing caches cold, the "
        f"slowest LLM case reads {worst_first:.0f}x"
    )
    fast = _per_run(args.repeat)
    slow = _without_fast_path(lambda: _per_run(args.repeat))
    print(
        f"\n{'oracle-style run (pixel7, pinned 2401/848/2028)':<46} {'CPU s/run':>10} {'no fast path':>13} {'ratio':>7}"
    )
    for name in fast:
        print(f"{name:<46} {fast[name]:>10.3f} {slow[name]:>13.3f} {slow[name] / fast[name]:>6.1f}x")
    return 0 if worst_cpu >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
