"""`fusegov collect`: sample a phone (or the virtual one) while workloads run, into a trace."""

from __future__ import annotations

import argparse
import sys

HELP = """Sample frequencies, utilisation, GPU counters, power and temperature while workloads run.

Workloads (--workload, repeatable):  llm:MODEL[,bin=PATH][,prompt=N][,decode=N]   llama.cpp's CLI on the phone
                                     cnn:MODEL[,bin=PATH][,runs=N]               onnxruntime_perf_test
                                     idle:SECONDS                                nothing (a baseline)
Output: FILE.parquet (written as it goes: FILE.partial.parquet holds everything up to the last second until
the end), or a DIR for a hive-partitioned dataset (device=/workload=/run=); FILE.csv exports CSV. A PNG
plot and a summary (samples, dropped, duration, mean power per rail) follow."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "collect",
        help="trace a phone while workloads run",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from android.connect import add_device_options

    add_device_options(p)
    p.add_argument(
        "--workload", action="append", default=[], metavar="SPEC", help="KIND:TARGET[,key=value] (see above)"
    )
    p.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="S seconds of device time per setting, shared equally by the workloads (each repeats within its share; the run in progress when its share is spent is stopped there)",
    )
    p.add_argument("--period-ms", type=float, default=10.0, metavar="N", help="sampling period (default 10, down to 2)")
    p.add_argument("--pmcs", default="all", metavar="all|pass|N|NAME,...", help="GPU counters (default all)")
    p.add_argument("--pin", metavar="KNOB=FREQ,...", help="pin knobs for the run (restored afterwards)")
    p.add_argument("--sweep", metavar="FILE", help='JSON list of pin settings ([{"gpu": "848MHz"}, ...])')
    p.add_argument("--link", choices=["auto", "shell", "inprocess"], default="auto", help="how the sampler runs")
    p.add_argument("-o", "--output", required=True, metavar="FILE.parquet|DIR", help="where the trace goes")
    p.add_argument("--perfetto", metavar="F", help="also write a Perfetto trace")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    p.set_defaults(func=run_collect)


def _settings(args) -> list[dict[str, int]]:
    import json

    from android.units import parse_freq_hz, parse_pin
    from collectors.errors import CollectorError

    if args.sweep:
        try:
            raw = json.loads(open(args.sweep).read())
        except (OSError, ValueError) as exc:
            raise CollectorError(f"--sweep {args.sweep}: {exc}") from None
        if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
            raise CollectorError(f"--sweep {args.sweep}: expected a JSON list of {{knob: frequency}} objects")
        return [{k: parse_freq_hz(str(v)) for k, v in s.items()} for s in raw]
    return [parse_pin(args.pin)] if args.pin else [{}]


def run_collect(args) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from android.connect import open_device
    from collectors.collect import collect
    from collectors.errors import CollectorError
    from collectors.trace import export_csv, write_dataset, write_trace

    if not args.workload:
        raise CollectorError("give at least one --workload (llm:MODEL, cnn:MODEL or idle:SECONDS)")
    out = Path(args.output)
    partial = None if out.suffix.lower() not in (".parquet", ".pq") else out.with_suffix(".partial.parquet")
    device = open_device(args)
    reopen = None
    if getattr(args, "serial", None):
        from android.adb import AdbDevice

        def reopen():
            return AdbDevice(args.serial, adb_port=args.adb_port)

    bar = tqdm(unit="samples", file=sys.stderr, desc="collect", disable=None)
    try:
        result = collect(
            device,
            args.workload,
            period_s=args.period_ms / 1e3,
            pmcs=args.pmcs,
            settings=_settings(args),
            duration_s=args.duration,
            link=args.link,
            partial_path=partial,
            reopen=reopen,
            on_progress=bar.update,
        )
    finally:
        bar.close()
        device.close()
    if out.suffix.lower() in (".parquet", ".pq"):
        write_trace(result.frame, out, result.meta)
        if partial is not None and partial.exists():
            partial.unlink()
    elif out.suffix.lower() == ".csv":
        export_csv(result.frame, out)
    else:
        write_dataset(result.frame, out, result.meta)
    s = result.summary()
    print(
        f"{device.name}: {s['samples']} samples, {s['dropped']} dropped, {s['duration_s']:.2f} s, "
        f"{s['passes']} pass(es), {s['late_ticks']} late ticks -> {out}"
    )
    for run in result.meta["workload_runs"]:
        extra = ", ".join(f"{k} {v:.4g}" for k, v in run.items() if isinstance(v, float))
        print(f"  {run['workload']} [{run['setting']}]: {extra}")
    print("mean power per rail (W): " + ", ".join(f"{k} {v:.3f}" for k, v in s["mean_power_w"].items()))
    if args.perfetto:
        from collectors.perfetto_export import export_perfetto

        print(f"perfetto trace: {export_perfetto(result.frame, args.perfetto)}")
    if not args.no_plot:
        from collectors.plot import plot_collection

        png = plot_collection(result.frame, out.with_suffix(".png") if out.suffix else out / "collect.png", device.name)
        print(f"plot: {png}")
    return 0
