"""`fusegov demo`: registration (light: nothing heavy imported here) and the command."""

from __future__ import annotations

import argparse
import textwrap

DEFAULT_OUT = "out/demo"
DEFAULT_MODEL = "tinyllama-1.1b-q4"
STEPS = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="the whole loop on the built-in virtual phone: traces, power model, plans, replay, report",
        description=textwrap.fill(
            "What fusegov is for, end to end, with no phone and no configuration. On the built-in virtual phone: "
            "(1) trace LLM (prefill, decode) and CNN workloads at a sweep of GPU clocks with the collectors' "
            "on-device sampler; (2) fit the APGPM-style GPU power model on held-out workloads against the "
            "utilisation-frequency baseline; (3) plan one LLM with the stock governors, FUSE's search and "
            "fusegov's; (4) replay ShareGPT requests under each plan, side by side (TTFT, TPOT, energy per token, "
            "measurements spent); (5) one request's clocks and power over time under stock and under fusegov. "
            "Writes a Markdown report with the plots, the trace, the power model, the plans and demo.json (every "
            "figure the steps measured) into --out. --quick takes under 2 minutes on a 2-core machine, the full "
            "demo under 10.",
            width=100,
        ),
        epilog="examples:\n  fusegov demo --quick\n  fusegov demo --profile sm8550 --out out/demo-sm8550",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--profile",
        default="pixel7",
        metavar="NAME|FILE",
        help="virtual phone: pixel7 (default), sm8550, pixel4, or a profile JSON",
    )
    demo.add_argument(
        "--quick", action="store_true", help="fewer workloads, clocks and requests (under 2 minutes on 2 cores)"
    )
    demo.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"where the report goes (default {DEFAULT_OUT})"
    )
    demo.add_argument(
        "--model", default=DEFAULT_MODEL, metavar="M", help=f"LLM to plan and replay (default {DEFAULT_MODEL})"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the virtual phones (default 0)")
    demo.set_defaults(func=demo_command)


def _output_dir(text: str):
    """The folder for the report, made and tried before any work (a bad --out costs no minutes)."""
    from pathlib import Path

    from governor.errors import GovernorError

    out = Path(text)
    if out.exists() and not out.is_dir():
        raise GovernorError(f"--out {text}: is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".fusegov-demo-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise GovernorError(f"--out {text}: cannot write there ({exc.strerror or exc})") from None
    return out


def _command_line(args: argparse.Namespace) -> str:
    parts = ["fusegov demo", f"--profile {args.profile}"]
    if args.quick:
        parts.append("--quick")
    parts += [f"--out {args.out}", f"--model {args.model}", f"--seed {args.seed}"]
    return " ".join(parts)


def _say_caps(caps) -> None:
    import sys

    from governor.demo.steps import caps_line

    line = caps_line(caps)
    if line:
        print(f"  {line}", file=sys.stderr, flush=True)


def demo_command(args: argparse.Namespace) -> int:
    import json
    import time
    from dataclasses import asdict

    from android.emulator.profile import load_profile
    from android.errors import FusegovError
    from android.knobs import thermal_caps
    from governor.commands import format_bench
    from governor.demo import report, steps
    from governor.errors import GovernorError
    from powermodel.export import json_safe

    start = time.perf_counter()
    size = steps.QUICK if args.quick else steps.FULL
    out = _output_dir(args.out)
    try:
        profile = load_profile(args.profile)
    except FusegovError as exc:
        raise GovernorError(f"--profile {args.profile}: {exc}") from None
    measurer = steps.open_measurer(args.profile, args.model, args.seed)  # checks --model before any tracing
    progress = steps.Progress(STEPS)
    wall: dict[str, float] = {}
    results: dict = {
        "command": _command_line(args),
        "profile": profile.name,
        "model": args.model,
        "seed": args.seed,
        "size": asdict(size),
        "wall_s": wall,
    }

    progress.step(
        f"collect: LLM and CNN workloads at {size.gpu_levels} GPU clocks on the virtual {profile.name}, "
        f"{size.trace_s:g} s each (collectors' on-device sampler, in process)"
    )
    results["collect"], wall["collect"] = steps.timed(
        steps.collect, args.profile, args.model, size, args.seed, out, progress
    )
    print(f"1. {report.collect_line(results['collect'])}", flush=True)

    progress.step("fit: GPU power model on held-out workloads against the utilisation-frequency baseline")
    results["fit"], wall["fit"] = steps.timed(steps.fit, results["collect"], out)
    print(f"2. power model: {report.fit_line(results['fit'])}", flush=True)

    progress.step(f"plan: {args.model} with the {', '.join(steps.POLICIES)} searches (goal: {steps.GOAL})")
    (results["plan"], searches), wall["plan"] = steps.timed(steps.plan, measurer, args.model, out, progress)
    print("3. plans:")
    for name in ("fusegov", "fuse"):
        print(textwrap.indent(results["plan"]["plans"][name]["text"], "   "), flush=True)

    requests = f"sharegpt:{size.requests}"
    progress.step(f"replay: {size.requests} ShareGPT requests under {', '.join(searches)}")
    with thermal_caps() as caps:
        (results["replay"], policy_results), wall["replay"] = steps.timed(
            steps.replay, measurer, searches, requests, progress
        )
    results["replay"]["thermal_caps"] = dict(caps)
    _say_caps(caps)
    results["replay"]["plot"] = steps.frontier(policy_results, args.model, profile.name, out)
    shown = argparse.Namespace(model=args.model, virtual=profile.name, requests=requests, goal=steps.GOAL)
    print("4. replay, side by side:")
    print(textwrap.indent(format_bench(policy_results, shown, results["replay"]["count"]), "   "), flush=True)

    request = steps.timeline_request(requests)
    progress.step(f"timeline: one request ({request[0]} + {request[1]} tokens) under stock and fusegov")
    with thermal_caps() as caps:
        results["timeline"], wall["timeline"] = steps.timed(steps.timeline, measurer, searches, request, out)
    results["timeline"]["thermal_caps"] = dict(caps)
    _say_caps(caps)
    print(f"5. {report.timeline_line(results['timeline'])}", flush=True)

    wall["total"] = time.perf_counter() - start
    results = json_safe(results)
    (out / report.RESULTS_NAME).write_text(json.dumps(results, indent=1) + "\n")
    path = report.write_report(results, out)
    print(f"report: {path} (plots, trace, power model and plans beside it; {wall['total']:.0f} s)")
    return 0
