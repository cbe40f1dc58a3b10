"""Does a change to the simulator keep its physics? Record a set of runs in one checkout, then compare.

`record OUT.pkl` runs fixed-seed scenarios (TinyLlama prefill + decode on pixel7, sm8550 and pixel4 with
stock governors; pixel7 pinned, GPU and memory pinned, pinned by phase, decode alone; a CNN on pixel7 and
sm8550; pixel7 with a user background thread) and stores every engine block the runs produced (step ends
and lengths, phases, clocks, component and rail power, GPU busy time and events, CPU run and spin time),
each run's result (TTFT, TPOT, energy, per-phase statistics) and the phone's state at the end (GPU
counter totals, zone temperatures, time in state and transitions). `compare A.pkl B.pkl` prints every
quantity whose relative difference exceeds 1e-9 and the largest relative difference over all of them.
Run `record` with each checkout's own interpreter from its root (the simulator is imported from the
current directory), e.g. from a worktree next to main:

    (cd ../main && python $OLDPWD/bench/sim_identity.py record /tmp/main.pkl)
    python bench/sim_identity.py record /tmp/branch.pkl
    python bench/sim_identity.py compare /tmp/main.pkl /tmp/branch.pkl
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path.cwd()  # the checkout whose simulator is recorded
sys.path.insert(0, str(REPO))

MHZ = 1_000_000
TOLERANCE = 1e-9
MODEL = "tinyllama-1.1b-q4"


def _observer(store: list):
    def observe(block) -> None:
        row = {
            "t_end": block.t_end_s,
            "dt": block.dt_s,
            "phase": block.phase.astype(str),
            "total": block.total_w,
            "rail": block.rail_w,
            "busy": block.gpu_busy_s,
            "events": block.gpu_events,
        }
        row.update({f"freq:{k}": v for k, v in block.freq_hz.items()})
        row.update({f"power:{k}": v for k, v in block.power_w.items()})
        row.update({f"run:{k}": v for k, v in block.cpu_run_s.items()})
        row.update({f"spin:{k}": v for k, v in (block.cpu_spin_s or {}).items()})
        store.append(row)

    return observe


def _end_state(phone) -> dict:
    state = {"now": phone.now_s, "pmc": phone.sim.pmc.read_all_totals().astype(float)}
    state["zones"] = dict(phone.state.zone_temp_c)
    for name, knob in phone.knobs.items():
        state[f"time_in_state:{name}"] = np.asarray(knob.time_in_state_s, dtype=float)
        state[f"transitions:{name}"] = knob.transitions
    return state


def record(out: Path) -> None:
    from android.emulator.phone import VirtualPhone
    from android.emulator.sim.background import BackgroundLoad
    from android.emulator.sim.request import run_cnn, run_llm_decode, run_llm_request
    from tests.helpers.onnx_graphs import conv_net

    pins = {"gpu": 848 * MHZ, "policy6": 2401 * MHZ, "mem": 2028 * MHZ}
    with tempfile.TemporaryDirectory() as tmp:
        cnn = conv_net(Path(tmp) / "conv.onnx", channels=32, size=56)
        scenarios = [
            ("pixel7 stock", "pixel7", 1, None, lambda p, o: run_llm_request(p, MODEL, 64, 48, observers=o)),
            ("pixel7 stock seed 2", "pixel7", 2, None, lambda p, o: run_llm_request(p, MODEL, 32, 24, observers=o)),
            ("sm8550 stock", "sm8550", 1, None, lambda p, o: run_llm_request(p, MODEL, 64, 48, observers=o)),
            ("pixel4 stock", "pixel4", 1, None, lambda p, o: run_llm_request(p, MODEL, 64, 48, observers=o)),
            (
                "pixel7 pinned",
                "pixel7",
                1,
                None,
                lambda p, o: run_llm_request(p, MODEL, 64, 48, pins=pins, observers=o),
            ),
            (
                "pixel7 GPU and memory pinned",
                "pixel7",
                1,
                None,
                lambda p, o: run_llm_request(p, MODEL, 32, 32, pins={"gpu": 848 * MHZ, "mem": 2028 * MHZ}, observers=o),
            ),
            (
                "pixel7 pinned by phase",
                "pixel7",
                1,
                None,
                lambda p, o: run_llm_request(
                    p, MODEL, 32, 24, pins_by_phase={"prefill": pins, "decode": {"gpu": 400 * MHZ}}, observers=o
                ),
            ),
            (
                "pixel7 decode alone, pinned",
                "pixel7",
                1,
                None,
                lambda p, o: run_llm_decode(p, MODEL, 232, 16, pins=pins, observers=o),
            ),
            ("pixel7 CNN", "pixel7", 1, None, lambda p, o: run_cnn(p, cnn, 1500, observers=o)),
            ("sm8550 CNN", "sm8550", 1, None, lambda p, o: run_cnn(p, cnn, 1500, observers=o)),
            (
                "pixel7 with a background thread",
                "pixel7",
                3,
                BackgroundLoad(cpu=6, duty=0.5, mem_bytes_per_s=1e8),
                lambda p, o: run_llm_request(p, MODEL, 16, 16, observers=o),
            ),
        ]
        runs = {}
        for name, profile, seed, background, run in scenarios:
            phone = VirtualPhone(profile, seed=seed)
            if background is not None:
                phone.sim.add_background(background)
            blocks: list = []
            result = run(phone, [_observer(blocks)])
            steps = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
            runs[name] = {"result": asdict(result), "steps": steps, "end": _end_state(phone)}
    out.write_bytes(pickle.dumps(runs))
    print(f"recorded {len(runs)} runs to {out}")


def _relative(a: np.ndarray | float, b: np.ndarray | float) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0:
        return 0.0
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-300)
    return float(np.nanmax(np.abs(a - b) / scale))


def _compare(a, b, path: str, report: list) -> float:
    """The largest relative difference under `path`; structural mismatches and differences over the
    tolerance are appended to `report`."""
    if isinstance(a, dict):
        if set(a) != set(b):
            report.append(f"{path}: keys differ ({sorted(set(a) ^ set(b))})")
            return float("inf")
        return max((_compare(a[k], b[k], f"{path}/{k}", report) for k in a), default=0.0)
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            report.append(f"{path}: {len(a)} vs {len(b)} entries")
            return float("inf")
        return max((_compare(x, y, f"{path}[{i}]", report) for i, (x, y) in enumerate(zip(a, b))), default=0.0)
    if isinstance(a, np.ndarray) and a.dtype.kind not in "fiub":
        if a.shape != b.shape or not (a == b).all():
            report.append(f"{path}: differs")
            return float("inf")
        return 0.0
    if isinstance(a, (np.ndarray, float, int)) and not isinstance(a, bool):
        if np.shape(a) != np.shape(b):
            report.append(f"{path}: shape {np.shape(a)} vs {np.shape(b)}")
            return float("inf")
        diff = _relative(a, b)
        if diff > TOLERANCE:
            report.append(f"{path}: relative difference {diff:.3g}")
        return diff
    if a != b:
        report.append(f"{path}: {a!r} vs {b!r}")
        return float("inf")
    return 0.0


def compare(first: Path, second: Path) -> int:
    a, b = (pickle.loads(p.read_bytes()) for p in (first, second))
    report: list[str] = []
    worst = _compare(a, b, "", report)
    for line in report:
        print(line)
    print(f"{len(a)} runs compared: largest relative difference {worst:.3g} (tolerance {TOLERANCE:g})")
    return 0 if worst <= TOLERANCE else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run the scenarios in this checkout and store them")
    rec.add_argument("out", type=Path)
    cmp = sub.add_parser("compare", help="compare two recordings")
    cmp.add_argument("first", type=Path)
    cmp.add_argument("second", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        record(args.out)
        return 0
    return compare(args.first, args.second)


if __name__ == "__main__":
    sys.exit(main())
