"""CLI: `fusegov plan` (search and write a plan) and `fusegov bench governor` (replay requests under each policy).

Registration imports nothing heavy; the work happens in the command functions.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

POLICY_NAMES = "stock, fuse, fusegov, oracle, all_max, independent"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        metavar="M",
        help="LLM: tinyllama-1.1b-q4, qwen-1.5b-q4, stablelm-2.7b-q4, llama2-7b-q4, or a model JSON; CNN: cnn:NAME|FILE.onnx",
    )
    parser.add_argument(
        "--goal",
        choices=("latency", "energy"),
        default="latency",
        help="latency: minimise TTFT/TPOT under an energy budget (G1, default); "
        "energy: minimise energy per token under a latency target (G2)",
    )
    parser.add_argument(
        "--budget",
        default="stock",
        metavar="stock|JOULES|P%",
        help="G1's energy budget per token: the stock governors' (default), joules per token for "
        "every phase, or a percentage of stock (e.g. 95%%)",
    )
    parser.add_argument(
        "--target",
        default="stock",
        metavar="stock|TTFT,TPOT|P%",
        help="G2's latency target: the stock governors' (default), TTFT and TPOT in seconds "
        "(e.g. 8,0.15), or a percentage of stock",
    )
    parser.add_argument(
        "--requests",
        default="sharegpt",
        metavar="SPEC",
        help="requests whose prompt lengths set the prefill buckets (plan) or that are replayed "
        "(bench): sharegpt[:N[:first|:all]] or a CSV with prompt_tokens,output_tokens "
        "(default sharegpt: FUSE's filter, prompt <= 512, output <= 256)",
    )
    parser.add_argument(
        "--cpu",
        type=int,
        metavar="N",
        help="CPU the inference thread runs on (default: first CPU of the fastest cluster)",
    )
    parser.add_argument(
        "--confidence",
        type=float,
        default=0.9,
        metavar="P",
        help="a setting meets the budget (G1) or target (G2) when its runs' mean ratio to the stock runs of the "
        "same seeds is <= 1; it is run again (up to --stock-repeats runs) while its one-sided P confidence "
        "bounds fall on both sides of 1 (default 0.9)",
    )
    parser.add_argument(
        "--stock-repeats",
        type=int,
        default=3,
        metavar="N",
        help="runs of the stock governors per phase bucket: the budget or target, and the first estimate of "
        "how much runs scatter (default 3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the virtual phone (default 0)")
    parser.add_argument(
        "--executor",
        metavar="local|dask://HOST:PORT",
        help="where the oracle's sweeps run: local worker processes (default) or a Dask scheduler",
    )
    parser.add_argument(
        "--workers", type=int, default=2, metavar="K", help="local worker processes for sweeps (default 2)"
    )
    parser.add_argument(
        "--cache", metavar="DIR", help="keep virtual-phone runs here across runs (default ~/.cache/fusegov/runs)"
    )
    parser.add_argument("--no-cache", action="store_true", help="keep runs in memory only")


def register(subparsers: argparse._SubParsersAction) -> None:
    plan = subparsers.add_parser(
        "plan",
        help="search CPU x GPU x memory frequencies per phase and write a plan for the on-phone daemon",
        description=textwrap.fill(
            "Measure a model on a phone (or the virtual phone) at chosen frequency settings and write a plan: "
            "per prefill-length bucket, decode (or CNN inference), the frequency of every knob to pin (Hz; null = "
            "left to its stock governor) with the expected latency and energy per token. Searches: fuse (FUSE's "
            "published two-step scan), fusegov (joint CPU x GPU x memory guided by fitted models; fewer runs), "
            "oracle (exhaustive, virtual phone only), stock, all_max, independent. Every run counts; the plan "
            "records how many and their device time.",
            width=100,
        ),
        epilog=(
            "examples:\n"
            "  fusegov plan --virtual pixel7 --model tinyllama-1.1b-q4 --goal latency -o plan.json\n"
            "  fusegov plan --virtual sm8550 --model qwen-1.5b-q4 --goal energy --target 95% --search fuse -o p.json\n"
            "  fusegov plan --virtual pixel7 --model stablelm-2.7b-q4 --search oracle --executor dask://127.0.0.1:8786 -o o.json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = plan.add_mutually_exclusive_group(required=True)
    where.add_argument("--virtual", metavar="NAME|FILE", help="virtual phone: pixel7, sm8550, pixel4 or a profile JSON")
    where.add_argument(
        "--serial", metavar="S", help="a rooted phone through adb: llama.cpp's CLI runs there, traced by the collectors"
    )
    plan.add_argument("--adb-port", type=int, metavar="PORT", help="adb server port for --serial")
    plan.add_argument(
        "--llama-cli",
        default="llama-cli",
        metavar="PATH",
        help="--serial: llama.cpp's CLI on the phone (default llama-cli on its PATH); --model is then a built-in "
        "model name or the GGUF file's path on the phone",
    )
    _common(plan)
    plan.add_argument("--search", default="fusegov", metavar="NAME", help=f"one of {POLICY_NAMES} (default fusegov)")
    plan.add_argument("--max-measurements", type=int, metavar="N", help="stop a search after N runs (default: no cap)")
    plan.add_argument(
        "--log", metavar="FILE.csv", help="also write every run: setting, bucket, latency, energy, device time"
    )
    plan.add_argument("-o", "--output", required=True, metavar="plan.json", help="where to write the plan")
    plan.set_defaults(func=plan_command)

    bench = subparsers.add_parser(
        "bench",
        help="benchmarks of fusegov's parts against their baselines (bench governor: policies side by side)",
        description="Benchmarks that replay workloads and compare policies.",
    )
    kinds = bench.add_subparsers(dest="bench", metavar="WHAT", required=True)
    gov = kinds.add_parser(
        "governor",
        help="replay ShareGPT requests on the virtual phone under stock, fuse, fusegov, oracle, all_max, independent",
        description=textwrap.fill(
            "Plan with each policy, replay the same requests on the virtual phone under each plan (prefill "
            "setting by prompt length, then the decode setting), and print side by side: mean and p99 TTFT, "
            "mean TPOT, mean end-to-end latency, energy per token (all energy over prompt + output tokens), "
            "total energy and the runs each search spent. --plot draws the latency/energy frontier of every "
            "setting measured, with each policy marked.",
            width=100,
        ),
        epilog=(
            "examples:\n"
            "  fusegov bench governor --virtual pixel7 --model tinyllama-1.1b-q4 --requests sharegpt:50\n"
            "  fusegov bench governor --virtual sm8550 --model qwen-1.5b-q4 --requests sharegpt:20 \\\n"
            "      --policies stock,fuse,fusegov --goal energy --json --plot frontier.png"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gov.add_argument("--virtual", required=True, metavar="NAME|FILE", help="virtual phone profile name or JSON")
    _common(gov)
    gov.set_defaults(requests="sharegpt:50")
    gov.add_argument(
        "--policies",
        default=POLICY_NAMES.replace(" ", ""),
        metavar="LIST",
        help=f"comma-separated, from {POLICY_NAMES} (default all)",
    )
    gov.add_argument("--json", action="store_true", help='print {"policies": {NAME: {...}}} instead of a table')
    gov.add_argument("--plot", metavar="FILE.png", help="write the latency/energy frontier with each policy marked")
    gov.add_argument("--plans", metavar="DIR", help="also write each policy's plan to DIR/NAME.json")
    gov.add_argument(
        "--per-request",
        metavar="FILE",
        help="also write every request of every replay, one row each (.parquet, or .csv): TTFT, TPOT, energy, "
        "throttled, the heat level of its prefill and decode, the zone nearest its trip and the margin (C)",
    )
    gov.set_defaults(func=bench_governor_command)


# --- plan -------------------------------------------------------------------------------------------
def _cache_dir(args) -> str | None:
    if args.no_cache:
        return None
    if args.cache:
        return args.cache
    from governor.cache import default_cache_dir

    return str(default_cache_dir())


def _buckets(args, measurer):
    from governor.phases import cnn_buckets, llm_buckets
    from governor.requests import load_requests

    if measurer.spec.kind == "cnn":
        return cnn_buckets()
    return llm_buckets(load_requests(args.requests))


def _open_virtual(args):
    from governor.measure import VirtualMeasurer

    return VirtualMeasurer(args.virtual, args.model, seed=args.seed, cpu=args.cpu)


def _open_phone(args):
    """A phone through adb: root and every knob checked before any run (governor.phone.PhoneMeasurer)."""
    from android.adb import AdbDevice
    from governor.phone import PhoneMeasurer

    device = AdbDevice(args.serial, adb_port=args.adb_port)
    try:
        return PhoneMeasurer(device, args.model, cpu=args.cpu, binary=args.llama_cli)
    except BaseException:
        device.close()
        raise


def plan_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from governor.cache import CachedMeasurer
    from governor.errors import GovernorError
    from governor.goals import GoalSpec
    from governor.planner import run_search
    from governor.searches import SEARCHES

    if args.search not in SEARCHES:
        raise GovernorError(f"unknown --search {args.search!r}: use one of {', '.join(SEARCHES)}")
    output = Path(args.output)
    if output.is_dir():
        raise GovernorError(f"-o {output}: is a directory")
    goal = GoalSpec(args.goal, args.budget if args.goal == "latency" else args.target, args.confidence)
    measurer = _open_phone(args) if args.serial else CachedMeasurer(_open_virtual(args), _cache_dir(args))
    bar = _bar("measuring", "run")
    try:
        buckets = _buckets(args, measurer)
        run = run_search(
            measurer,
            buckets,
            goal,
            args.search,
            args.model,
            budget=args.max_measurements,
            stock_repeats=args.stock_repeats,
            executor=args.executor,
            workers=args.workers,
            on_run=lambda entry: bar.update(1),
        )
    finally:
        bar.close()
        if args.serial:
            measurer.phone.close()
    run.plan.write(output)
    if args.log:
        _write_log(run.lab.log, args.log)
    print(format_plan(run.plan))
    print(f"wrote {output}")
    return 0


def _bar(desc: str, unit: str, total: int | None = None):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, disable=not sys.stderr.isatty())


def _write_log(entries, path: str) -> None:
    import pandas as pd

    pd.DataFrame([e.__dict__ for e in entries]).to_csv(path, index=False)


def format_plan(plan) -> str:
    from governor.space import Setting

    search = plan.search
    lines = [
        f"{plan.model} on {plan.device['name']} ({plan.device['soc']}): goal {plan.goal['goal']}, "
        f"search {search['name']}: {search['measurements']} runs{runs_spent(search)}, "
        f"{search['device_time_s']:.0f} s of device time, "
        f"{search['wall_s']:.1f} s wall",
        "",
        f"  {'bucket':<14} {'latency':>10} {'vs stock':>9} {'J/token':>9} {'vs stock':>9} {'met':>4}  setting",
    ]
    for p in plan.phases:
        pins = Setting.of(p.setting).label()
        lines.append(
            f"  {p.bucket:<14} {p.expected.latency_s:>9.3f}s {p.expected.latency_s / p.stock.latency_s - 1:>+9.1%} "
            f"{p.expected.energy_per_token_j:>9.4f} {p.expected.energy_per_token_j / p.stock.energy_per_token_j - 1:>+9.1%} "
            f"{'yes' if p.met else 'NO':>4}  {pins}"
        )
        above = p.setting
        for level, rung in enumerate(p.cooler, 1):  # a level at which this phase keeps the setting above: one word
            label = f"  {'  cooler ' + str(level):<14}"
            if rung.setting == above:
                lines.append(f"{label} {'as above':>10}")
                continue
            above = rung.setting
            lines.append(
                f"{label} {rung.expected.latency_s:>9.3f}s {rung.vs_stock.latency_s - 1:>+9.1%} "
                f"{rung.expected.energy_per_token_j:>9.4f} {rung.vs_stock.energy_per_token_j - 1:>+9.1%} {'':>4}  "
                f"{Setting.of(rung.setting).label()}"
            )
    lines += [f"  note: {n}" for n in plan.notes]
    return "\n".join(lines)


def runs_spent(search: dict) -> str:
    """Where a search's runs went (`runs_by_purpose`, lab.PURPOSES), in parentheses, purposes with none left out:
    ' (stock 18, design 8, side 2, search 52 with 26 repeats, rung 4)'; ' (N for cooler rungs)' for a plan written
    before the purposes were kept."""
    from governor.lab import PURPOSES, SEARCH

    spent = search.get("runs_by_purpose")
    if spent:
        parts = [
            f"{purpose} {spent[purpose]}" + (f" with {spent['repeats']} repeats" if purpose == SEARCH else "")
            for purpose in PURPOSES
            if spent.get(purpose)
        ]
        return f" ({', '.join(parts)})"
    rungs = search.get("rung_measurements", 0)
    return f" ({rungs} for cooler rungs)" if rungs else ""


# --- bench governor ---------------------------------------------------------------------------------
def bench_governor_command(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from governor.errors import GovernorError
    from governor.evaluate import evaluate, outcomes_frame
    from governor.goals import GoalSpec
    from governor.requests import load_requests
    from governor.searches import SEARCHES

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in SEARCHES]
    if unknown or not policies:
        raise GovernorError(f"unknown --policies {', '.join(unknown) or '(none)'}: use names from {POLICY_NAMES}")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise GovernorError(f"--plot writes a PNG: give a FILE.png, not {args.plot!r}")
    per_request = Path(args.per_request) if args.per_request else None
    if per_request:  # checked before the replays, which take minutes
        if per_request.suffix.lower() not in (".parquet", ".csv"):
            raise GovernorError(
                f"--per-request writes .parquet or .csv: give FILE.parquet or FILE.csv, not {str(per_request)!r}"
            )
        if per_request.is_dir() or not per_request.parent.is_dir():
            raise GovernorError(
                f"--per-request {per_request}: {'is a directory' if per_request.is_dir() else 'no such directory'}"
            )
    goal = GoalSpec(args.goal, args.budget if args.goal == "latency" else args.target, args.confidence)
    measurer = _open_virtual(args)
    if measurer.spec.kind != "llm":
        raise GovernorError("bench governor replays LLM requests: give an LLM --model")
    requests = load_requests(args.requests)
    # buckets come from the whole request source (sharegpt:50 -> sharegpt), so they do not hang on the sample
    source = args.requests.split(":")[0] if args.requests.startswith("sharegpt") else args.requests
    buckets = _buckets(argparse.Namespace(requests=source), measurer)
    bar = _bar("replaying", "request", total=len(requests) * len(policies))
    stage = _bar("", "", None)

    def on_stage(text: str) -> None:
        stage.set_description_str(text)

    try:
        results = evaluate(
            measurer,
            buckets,
            goal,
            policies,
            requests,
            args.model,
            executor=args.executor,
            workers=args.workers,
            on_stage=on_stage,
            on_request=lambda: bar.update(1),
            cache_dir=_cache_dir(args),
            stock_repeats=args.stock_repeats,
        )
    finally:
        bar.close()
        stage.close()
    if args.plans:
        Path(args.plans).mkdir(parents=True, exist_ok=True)
        for name, result in results.items():
            result.plan.write(Path(args.plans) / f"{name}.json")
    if args.json:
        print(json.dumps({"policies": {n: r.to_dict() for n, r in results.items()}}, indent=1))
    else:
        print(format_bench(results, args, len(requests)))
    if args.plot:
        from governor.frontier import plot_frontier

        plot_frontier(results, args.plot, f"{args.model} on virtual {args.virtual}, goal {args.goal}")
        print(f"wrote {args.plot}", file=sys.stderr if args.json else sys.stdout)
    if per_request:
        frame = outcomes_frame(results)
        if per_request.suffix.lower() == ".csv":
            frame.to_csv(per_request, index=False)
        else:
            frame.to_parquet(per_request, index=False)
        print(f"wrote {per_request} ({len(frame)} requests)", file=sys.stderr if args.json else sys.stdout)
    return 0


def format_bench(results, args, requests: int) -> str:
    stock = results.get("stock")
    lines = [
        f"{args.model} on virtual {args.virtual}: {requests} requests ({args.requests}), goal {args.goal}",
        "",
        f"  {'policy':<12} {'TTFT mean':>10} {'TTFT p99':>9} {'TPOT':>9} {'e2e':>8} {'J/token':>8} {'total J':>9} "
        f"{'runs':>6} {'rungs':>5} {'search s':>8} {'throttled':>9} {'cooled':>6}",
    ]
    for name, r in results.items():
        s = r.summary
        lines.append(
            f"  {name:<12} {s.ttft_mean_s:>9.3f}s {s.ttft_p99_s:>8.2f}s {s.tpot_mean_s * 1e3:>7.1f}ms "
            f"{s.latency_mean_s:>7.2f}s {s.energy_per_token_j:>8.4f} {s.energy_total_j:>9.1f} "
            f"{r.plan.search['measurements']:>6} {r.plan.search.get('rung_measurements', 0):>5} "
            f"{r.plan.search['wall_s']:>8.1f} {s.throttled_share:>9.0%} {s.cooled_share:>6.0%}"
        )
    if stock:
        lines += ["", "  vs stock:    TTFT      TPOT    J/token"]
        base = stock.summary
        for name, r in results.items():
            s = r.summary
            lines.append(
                f"  {name:<12} {s.ttft_mean_s / base.ttft_mean_s - 1:>+6.1%} {s.tpot_mean_s / base.tpot_mean_s - 1:>+9.1%} "
                f"{s.energy_per_token_j / base.energy_per_token_j - 1:>+9.1%}"
            )
    hot = [name for name, r in results.items() if r.summary.throttled_share > 0 and name != "stock"]
    if hot:
        lines += [
            "",
            f"  note: the phone throttled during the replay under {', '.join(hot)} (a cooling device capped a clock "
            "at the end of a phase; 'throttled' is the share of requests): the searches measured every setting on a "
            "phone at rest, so under sustained serving their measured gains need not hold",
        ]
    return "\n".join(lines)
