"""`fusegov run`: one inference request on the virtual phone, under its stock governors or pinned."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from contextlib import nullcontext
from pathlib import Path

from android import cliargs
from android.emulator.sim import cnn_zoo
from android.errors import UsageError
from android.units import format_hz, parse_pin

MAX_TOKENS = 1_000_000  # --prompt / --decode; a model's context is the real bound (checked per model)
MAX_RUNS = 100_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run one LLM request or CNN inferences on the virtual phone and report latency and energy",
        description=textwrap.fill(
            "Run one inference request on the built-in virtual phone (simulated time, far faster than real "
            "time) and report what FUSE measures: for an LLM, time to first token (TTFT), time per output "
            "token (TPOT) and energy per token for prefill (P x TTFT / N) and decode (P x TPOT); for a CNN, "
            "latency and energy per inference. Also the mean power per rail and the mean frequency per knob. "
            "Without --pin the phone's stock governors run; --pin fixes knobs (names as `fusegov probe` "
            "prints them) by writing min = max through sysfs, and puts every knob back afterwards (also on "
            "Ctrl-C, SIGTERM or SIGHUP, and when the phone is thermally throttled; the results are printed "
            "before any knob that could not be put back is reported).",
            width=100,
        ),
        epilog=(
            "examples:\n"
            "  fusegov run --virtual pixel7 --workload llm:tinyllama-1.1b-q4 --prompt 128 --decode 64\n"
            "  fusegov run --virtual pixel7 --workload llm:tinyllama-1.1b-q4 --prompt 128 --decode 64 \\\n"
            "      --pin gpu=848MHz,policy6=2401MHz,mem=2028MHz --json\n"
            "  fusegov run --virtual pixel7 --workload llm:tinyllama-1.1b-q4 --plot stock.png\n"
            "  fusegov run --virtual pixel7 --workload cnn:mobilenetv2 --runs 5\n"
            "  fusegov run --virtual sm8550 --workload cnn:model.onnx --runs 20"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--virtual",
        required=True,
        metavar="NAME|FILE",
        help="virtual phone profile: pixel7, sm8550, pixel4, or a profile JSON path",
    )
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--serial", help=argparse.SUPPRESS)
    parser.add_argument(
        "--workload",
        required=True,
        metavar="llm:MODEL|cnn:NAME|cnn:PATH.onnx",
        help="llm:NAME (tinyllama-1.1b-q4, qwen-1.5b-q4, stablelm-2.7b-q4, llama2-7b-q4) or "
        "llm:PATH.json (your own model description); cnn:NAME (built-in: "
        f"{', '.join(cnn_zoo.names())}) or cnn:PATH.onnx",
    )
    parser.add_argument(
        "--prompt", type=cliargs.int_in(1, MAX_TOKENS), default=128, metavar="N", help="LLM prompt tokens (default 128)"
    )
    parser.add_argument(
        "--decode",
        type=cliargs.int_in(0, MAX_TOKENS),
        default=64,
        metavar="M",
        help="LLM tokens to generate (default 64)",
    )
    parser.add_argument(
        "--runs", type=cliargs.int_in(1, MAX_RUNS), default=10, metavar="K", help="CNN inferences (default 10)"
    )
    parser.add_argument(
        "--pin",
        default="",
        metavar="KNOB=FREQ,...",
        help="pin knobs, e.g. gpu=848MHz,policy6=2401MHz,mem=2028MHz (a unit or plain Hz); each frequency "
        "must be in the knob's table (`fusegov probe` lists them)",
    )
    parser.add_argument("--seed", type=cliargs.seed, default=0, help="seed of the virtual phone (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also write a timeline of the request: clocks of the inference CPU policy, GPU and "
        "memory bus; GPU and CPU utilisation; whole-phone and GPU power; phases shaded",
    )
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from android.emulator.phone import VirtualPhone
    from android.emulator.sim.timeline import TimelineRecorder, plot_timeline
    from android.knobs import RestoreError

    if args.root or args.serial:
        raise UsageError(
            "run simulates a request on the virtual phone only: use --virtual NAME|FILE "
            "(--root and --serial are for real devices)"
        )
    kind, sep, target = args.workload.partition(":")
    if not sep or kind not in ("llm", "cnn") or not target:
        raise UsageError(f"bad --workload {args.workload[:80]!r}: use llm:MODEL, cnn:NAME or cnn:PATH.onnx")
    pins = parse_pin(args.pin)
    plot_path = _plot_path(args.plot)
    phone = VirtualPhone(args.virtual, seed=args.seed)
    recorder = TimelineRecorder(phone) if plot_path else None
    progress = _progress(args, kind)
    result, restore_error = None, None
    try:
        with _pinned(phone, pins):
            result = _simulate(phone, args, kind, target, [recorder] if recorder else [], progress)
    except RestoreError as exc:
        if result is None:
            raise
        restore_error = exc  # reported after the results, which are complete
    finally:
        if progress:
            progress.close()
    result.pins_hz = dict(pins)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1), flush=True)
    else:
        print(format_result(result), flush=True)
    if recorder:
        plot_timeline(recorder.timeline(), plot_path, plot_title(result))
        print(f"wrote {plot_path}", file=sys.stderr if args.json else sys.stdout)
    if restore_error is not None:
        raise restore_error
    return 0


def _pinned(phone, pins: dict[str, int]):
    """android.knobs.pinned on the phone (every knob back afterwards), or nothing to do."""
    if not pins:
        return nullcontext()
    from android.knobs import KnobController, pinned
    from android.probe import probe_device
    from android.virtual import VirtualDevice

    device = VirtualDevice(phone)
    return pinned(KnobController(device, probe_device(device)), pins)


def _simulate(phone, args: argparse.Namespace, kind: str, target: str, observers: list, progress):
    from android.emulator.sim.request import run_cnn, run_llm_request

    on_progress = progress.update if progress else None
    if kind == "llm":
        return run_llm_request(phone, target, args.prompt, args.decode, observers=observers, on_progress=on_progress)
    return run_cnn(phone, cnn_zoo.resolve_onnx(target), args.runs, observers=observers, on_progress=on_progress)


def _plot_path(text: str | None) -> Path | None:
    """Check --plot before simulating, so a bad path costs no run: a .png whose directory exists (or can be
    made) and takes a new file (tried by creating it, removed again if it was not there)."""
    if text is None:
        return None
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot writes a PNG: give a FILE.png, not {text[:80]!r}")
    if path.is_dir():
        raise UsageError(f"--plot {text}: is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--plot {text}: cannot make directory {path.parent} ({exc.strerror or exc})") from None
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise UsageError(f"--plot {text}: cannot write it ({exc.strerror or exc})") from None
    if not existed:
        os.unlink(path)
    return path


def plot_title(r) -> str:
    """Workload, phone, pins (or stock governors) and the headline latencies, for the timeline plot."""
    pins = ", ".join(f"{k}={format_hz(v)}" for k, v in r.pins_hz.items())
    line = f"{r.workload} on virtual {r.profile} (seed {r.seed}), " + (f"pinned {pins}" if pins else "stock governors")
    if r.ttft_s is not None:
        figures = f"prompt {r.prompt_tokens}, decode {r.decode_tokens} tokens: TTFT {r.ttft_s:.2f} s"
        if r.tpot_s is not None:
            figures += f", TPOT {r.tpot_s * 1e3:.1f} ms"
    else:
        figures = f"{r.runs} runs: {r.latency_s * 1e3:.1f} ms per inference"
    return f"{line}\n{figures}; {r.energy_j:.3g} J, mean {r.mean_power_w['total']:.2f} W"


def _progress(args: argparse.Namespace, kind: str):
    if args.json and not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    total = (1 + args.decode) if kind == "llm" else args.runs
    return tqdm(total=total, unit="token" if kind == "llm" else "run", desc="simulating", file=sys.stderr, leave=False)


def format_result(r) -> str:
    pins = ", ".join(f"{k}={format_hz(v)}" for k, v in r.pins_hz.items()) or "none (stock governors)"
    lines = [f"{r.workload} on virtual {r.profile} (seed {r.seed}); pinned: {pins}", ""]
    if r.ttft_s is not None:
        lines.append(f"  prompt {r.prompt_tokens} tokens, decode {r.decode_tokens} tokens")
        lines.append(f"  TTFT {r.ttft_s:.3f} s    energy/token prefill {r.energy_per_token_j['prefill'] * 1e3:.1f} mJ")
        if r.tpot_s is not None:
            lines.append(
                f"  TPOT {r.tpot_s * 1e3:.1f} ms ({1 / r.tpot_s:.2f} tokens/s)    "
                f"energy/token decode {r.energy_per_token_j['decode'] * 1e3:.1f} mJ"
            )
    else:
        lines.append(
            f"  {r.runs} runs: latency {r.latency_s * 1e3:.1f} ms, energy {r.energy_per_run_j * 1e3:.1f} mJ per run"
        )
    lines.append(
        f"  total {r.duration_s:.2f} s simulated, {r.energy_j:.2f} J, mean power {r.mean_power_w['total']:.2f} W"
    )
    lines += ["", f"  {'phase':<10} {'time s':>8} {'power W':>8} {'GPU util':>9}  mean frequency"]
    for name, p in r.phases.items():
        freqs = " ".join(f"{k}={v / 1e6:.0f}" for k, v in p.mean_freq_hz.items() if "." not in k)
        lines.append(
            f"  {name:<10} {p.duration_s:>8.2f} {p.mean_power_w['total']:>8.2f} {p.gpu_util:>8.0%}  {freqs} MHz"
        )
    rails = {k: v for k, v in r.mean_power_w.items() if k != "total"}
    if rails:
        lines += ["", "  mean power per rail (W): " + ", ".join(f"{k} {v:.3f}" for k, v in rails.items())]
    lines += ["", "  mean frequency per knob: " + ", ".join(f"{k} {format_hz(v)}" for k, v in r.mean_freq_hz.items())]
    return "\n".join(lines)
