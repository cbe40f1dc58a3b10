"""`fusegov deploy|start|stop|status|restore|hint|logs`: the on-phone daemon from the host."""

from __future__ import annotations

import argparse
import json
import textwrap

DEFAULT_WORKDIR = "/data/local/tmp/fusegov"  # android.daemon.remote.DEFAULT_WORKDIR (kept light here)


def _device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--serial", required=True, metavar="SERIAL", help="the phone (or `fusegov emulate`) in adb")
    parser.add_argument(
        "--adb-port", type=int, metavar="PORT", help="adb server port (default $ANDROID_ADB_SERVER_PORT or 5037)"
    )
    parser.add_argument(
        "--dir",
        default=DEFAULT_WORKDIR,
        metavar="DIR",
        help=f"working directory on the phone (default {DEFAULT_WORKDIR})",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    deploy = subparsers.add_parser(
        "deploy",
        help="push the governor daemon, its hint wrapper and a plan's configuration to a rooted phone",
        description=textwrap.fill(
            "Check that the phone is rooted and has Python >= 3.8 (Termux's, or --python PATH), probe it, "
            "refuse a plan made for another phone (every knob the plan pins must be here with the same "
            "frequency table), and push fusegovd.py, fusegov_hint.py and config.json (the plan's settings in "
            "each knob's sysfs units, the thermal guard and the watchdog) to the working directory. Several "
            "plans (one per model) may be given; the first is the default for hints without model=NAME.",
            width=100,
        ),
    )
    _device_options(deploy)
    deploy.add_argument("plans", nargs="+", metavar="PLAN.json", help="plan(s) made by `fusegov plan`")
    deploy.add_argument("--python", metavar="PATH", help="the phone's Python (default: Termux's, else python3 on PATH)")
    deploy.add_argument(
        "--thermal-limit", type=float, default=80.0, metavar="C", help="release pins at or above C degrees (default 80)"
    )
    deploy.add_argument(
        "--hysteresis", type=float, default=5.0, metavar="C", help="pin again below limit - C (default 5)"
    )
    deploy.add_argument(
        "--thermal-period",
        type=float,
        default=1.0,
        metavar="S",
        help="read the zones every S s while pinned (default 1)",
    )
    deploy.add_argument(
        "--thermal-zones",
        metavar="TYPE,...",
        default="",
        help="zones to guard, by type as `fusegov probe` lists them (default: the zones of the knobs the plans pin)",
    )
    deploy.add_argument(
        "--watchdog",
        type=float,
        default=30.0,
        metavar="S",
        help="release the pins when no hint arrives for S s in a pinned phase (default 30)",
    )
    deploy.add_argument("--json", action="store_true", help="print one JSON object")
    deploy.set_defaults(func=run_deploy)

    start = subparsers.add_parser(
        "start",
        help="start the deployed daemon on the phone",
        description="Start fusegovd in the background as root (nohup); restores knobs a crashed daemon left.",
    )
    _device_options(start)
    start.add_argument("--json", action="store_true", help="print the status as one JSON object")
    start.set_defaults(func=run_start)

    stop = subparsers.add_parser(
        "stop",
        help="stop the daemon; it puts every knob back as it found them",
        description="Send SIGTERM and wait; a daemon that does not stop is killed and its state file restored.",
    )
    _device_options(stop)
    stop.set_defaults(func=run_stop)

    status = subparsers.add_parser(
        "status",
        help="show the daemon's phase, pinned settings, hints, thermal state, uptime and pid",
        description="Read the daemon's status file on the phone (frequencies in Hz with --json).",
    )
    _device_options(status)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(func=run_status)

    restore = subparsers.add_parser(
        "restore",
        help="put back the knob settings a crashed or killed daemon saved",
        description=textwrap.fill(
            "Restore from the daemon's state file (the settings it found before its first write). Nothing to "
            "do when there is none; a state file from before a reboot is discarded (the reboot reset the "
            "knobs). Refused while a daemon runs: stop it instead.",
            width=100,
        ),
    )
    _device_options(restore)
    restore.set_defaults(func=run_restore)

    hint = subparsers.add_parser(
        "hint",
        help="send the daemon a phase hint from the host (testing, manual control)",
        description="Send one hint: prefill N, decode, cnn or idle, optionally naming the plan's model.",
    )
    _device_options(hint)
    hint.add_argument("phase", choices=("prefill", "decode", "cnn", "idle"))
    hint.add_argument("tokens", nargs="?", type=int, metavar="N", help="prompt tokens (prefill only)")
    hint.add_argument("--model", help="the plan's model (default: the daemon's default plan)")
    hint.set_defaults(func=run_hint)

    logs = subparsers.add_parser(
        "logs",
        help="print the daemon's log (CLOCK_MONOTONIC timestamps, one action per line)",
        description="Pull and print fusegovd.log from the phone.",
    )
    _device_options(logs)
    logs.add_argument("--lines", type=int, metavar="N", help="only the last N lines")
    logs.set_defaults(func=run_logs)


def _remote(args: argparse.Namespace):
    from android.adb import AdbDevice
    from android.daemon.remote import DaemonRemote

    return DaemonRemote(AdbDevice(args.serial, adb_port=args.adb_port), args.dir)


def run_deploy(args: argparse.Namespace) -> int:
    from android.daemon.config import GuardOptions, plan_knobs
    from android.daemon.fusegovd import Trip
    from governor.plan import load_plan

    plans = [load_plan(p) for p in args.plans]  # the governor's reader: the one definition of the format
    guard = GuardOptions(
        limit_c=args.thermal_limit,
        hysteresis_c=args.hysteresis,
        period_s=args.thermal_period,
        zones=tuple(z for z in args.thermal_zones.split(",") if z),
        watchdog_s=args.watchdog,
    )
    guard.check()
    remote = _remote(args)
    report = remote.deploy(plans, guard, args.python)
    if args.json:
        print(
            json.dumps(
                {"serial": report.serial, "python": report.python, "workdir": report.workdir, "config": report.config},
                indent=1,
            )
        )
        return 0
    config = report.config
    thermal = config["thermal"]
    print(
        f"deployed to {report.serial} ({report.model}, {report.soc}): rooted, Python {report.python_version} ({report.python})"
    )
    for plan in plans:
        prefill = sum(1 for p in plan.phases if p.phase == "prefill")
        phases = [f"{prefill} prefill bucket(s)"] * bool(prefill) + [
            p.phase for p in plan.phases if p.phase != "prefill"
        ]
        pins = ", ".join(plan_knobs(plan)) or "nothing"
        print(f"  plan {plan.model} ({plan.source}): {', '.join(phases)}; pins {pins}")
    print(
        f"  thermal guard: {', '.join(thermal['zones'])} at {thermal['limit_c']:g} C (pins again below "
        f"{thermal['limit_c'] - thermal['hysteresis_c']:g} C), read every {thermal['period_s']:g} s; "
        f"watchdog {config['watchdog_s']:g} s"
    )
    trips = [Trip(t["zone"], t["temp_c"], t["hysteresis_c"]) for t in config.get("heat", {}).get("trips", [])]
    if trips:
        lowest = min(trips, key=lambda t: t.threshold_c)
        print(
            f"  heat: cooler rungs within a trip's hysteresis of {len(trips)} throttling trip(s) "
            f"(first: {lowest.zone} at {lowest.threshold_c:g} C)"
        )
    print(f"  in {report.workdir}: fusegovd.py, fusegov_hint.py, config.json")
    print(f"next: fusegov start --serial {report.serial}")
    return 0


def run_start(args: argparse.Namespace) -> int:
    status = _remote(args).start()
    if args.json:
        print(json.dumps(status, indent=1))
    else:
        print(f"fusegovd started on {status['serial']}: pid {status['pid']}")
    return 0


def run_stop(args: argparse.Namespace) -> int:
    print(_remote(args).stop())
    return 0


def run_restore(args: argparse.Namespace) -> int:
    print(_remote(args).restore())
    return 0


def run_hint(args: argparse.Namespace) -> int:
    from android.daemon.errors import DaemonError

    if args.phase == "prefill" and (args.tokens is None or args.tokens < 1):
        raise DaemonError("prefill needs the prompt length: `fusegov hint --serial S prefill N` with N >= 1")
    if args.phase != "prefill" and args.tokens is not None:
        raise DaemonError(f"{args.phase} takes no token count (only prefill does)")
    if args.phase == "idle" and args.model:
        raise DaemonError("idle takes no --model")
    _remote(args).hint(args.phase, args.tokens, args.model)
    print(f"sent {args.phase}{f' {args.tokens}' if args.tokens else ''}{f' model={args.model}' if args.model else ''}")
    return 0


def run_logs(args: argparse.Namespace) -> int:
    if args.lines is not None and args.lines < 1:
        from android.daemon.errors import DaemonError

        raise DaemonError("--lines must be >= 1")
    print(_remote(args).logs(args.lines))
    return 0


def run_status(args: argparse.Namespace) -> int:
    status = _remote(args).status()
    if args.json:
        print(json.dumps(status, indent=1))
    else:
        print(format_status(status))
    return 0


def format_status(s: dict) -> str:
    from android.units import format_hz

    where = f"fusegovd on {s['serial']} ({s['workdir']})"
    if not s["deployed"]:
        return f"{where}: not deployed (fusegov deploy)"
    if not s["running"]:
        line = f"{where}: not running"
        if s.get("crashed"):
            line += f" (pid {s['pid']} died without restoring)"
        if s["state_file"]:
            line += "; a state file is left: `fusegov restore` (or `fusegov start`) puts its knobs back"
        return line
    uptime = f", up {s['uptime_s']:.1f} s" if s.get("uptime_s") is not None else ""
    lines = [f"{where}: running, pid {s['pid']}{uptime}"]
    phase = s["phase"] + (f" {s['prompt_tokens']} tokens" if s.get("prompt_tokens") else "")
    lines.append(f"  phase:    {phase}" + (f" (model {s['model']}), setting {s['setting']}" if s.get("model") else ""))
    pinned = ", ".join(f"{k} {format_hz(v)}" for k, v in sorted(s["pinned_hz"].items())) or "none (knobs as found)"
    lines.append(f"  pinned:   {pinned}")
    for knob, problem in sorted(s.get("failed", {}).items()):
        lines.append(f"  FAILED:   {knob}: {problem}")
    lines.append(f"  hints:    {s['hints_received']} received, {s['hints_rejected']} rejected")
    thermal = s.get("thermal", {})
    temps = thermal.get("temps_c") or {}
    hottest = f"hottest {max(temps, key=temps.get)} {max(temps.values()):.1f} C, " if temps else ""
    lines.append(
        f"  thermal:  {thermal.get('state', '?')} ({hottest}limit {thermal.get('limit_c', 0):g} C, pins again "
        f"below {thermal.get('limit_c', 0) - thermal.get('hysteresis_c', 0):g} C), {thermal.get('releases', 0)} release(s)"
    )
    watchdog = s.get("watchdog", {})
    lines.append(f"  watchdog: {watchdog.get('timeout_s', 0):g} s, {watchdog.get('releases', 0)} release(s)")
    if s.get("last_apply"):
        a = s["last_apply"]
        lines.append(
            f"  last hint applied in {a['latency_s'] * 1e3:.2f} ms ({a['knobs_written']} knob(s), cpu {a['cpu_s'] * 1e3:.2f} ms)"
        )
    return "\n".join(lines)
