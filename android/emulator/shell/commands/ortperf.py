"""`onnxruntime_perf_test` on the virtual phone: runs an ONNX model's graph (android.emulator.sim.cnn) in
simulated time and prints what ONNX Runtime's perf test prints (session creation, first inference, then
per-run latency statistics). `-m times -r N` runs N timed inferences after the first; `-m duration -t S`
runs for S seconds. The model path is a file on the phone."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from android.emulator.shell.commands.simwait import sleep, wait_done
from android.emulator.shell.interp import Ctx, command
from android.emulator.sim.cnn import CnnRuns
from android.errors import DeviceError, WorkloadError

SESSION_BYTES_PER_S = 0.5e9  # graph parsing, optimisation and weight prepacking
SESSION_FIXED_S = 0.02
STEP_S = 0.1  # the process checks on its runs this often (simulated)
VALUE_FLAGS = {"-m", "-r", "-t", "-e", "-x", "-y", "-c", "-o", "-S", "-p", "-f", "-F", "-C", "-i", "-d"}
SWITCHES = {"-I", "-A", "-M", "-P", "-s", "-v", "-q", "-u", "-z", "-n", "-Z", "-D"}


@command("onnxruntime_perf_test")
def cmd_ort_perf(ctx: Ctx) -> int:
    opts, positional = {}, []
    args = ctx.argv[1:]
    while args:
        arg = args.pop(0)
        if arg in VALUE_FLAGS and args:
            opts[arg] = args.pop(0)
        elif arg in SWITCHES:
            opts[arg] = ""
        elif arg.startswith("-"):
            ctx.err(f"unknown option: {arg}\n")
            return 255
        else:
            positional.append(arg)
    if not positional:
        ctx.err("model_path must be the first argument\n")
        return 255
    phone = ctx.session.phone
    path = ctx.session.abspath(positional[0])
    mode = opts.get("-m", "duration")
    try:
        data = phone.fs.read(path, ctx.session.uid)
    except DeviceError:
        ctx.err(
            f"Error: [ONNXRuntimeError] : 3 : NO_SUCHFILE : Load model from {path} failed:"
            f"Load model {path} failed. File doesn't exist\n"
        )
        return 255
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / Path(path).name
        local.write_bytes(data)
        try:
            runs = int(opts.get("-r", "1000")) if mode == "times" else 1
            workload = CnnRuns(local, 1 + (runs if mode == "times" else 10**7))
        except (WorkloadError, ValueError) as exc:
            ctx.err(f"Error: [ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from {path} failed:{exc}\n")
            return 255
    usable = phone.profile.memory_bytes * phone.profile.physics.memory.app_usable_fraction
    if workload.resident_bytes > usable:
        ctx.err(f"Error: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for {path}\n")
        return 255
    deadline = float(opts.get("-t", "600")) if mode == "duration" else None
    ctx.session.runtime.clock.sync()  # served: the run starts at the clock's now, where its caller's mark is
    start = phone.now_s
    sleep(ctx, SESSION_FIXED_S + len(data) / SESSION_BYTES_PER_S)
    created = phone.now_s
    with phone.lock:
        phone.start(workload)
    try:
        wait_done(ctx, workload, STEP_S, deadline)
    finally:
        if not workload.done:
            with phone.lock:
                phone.sim.stop()
    ends = np.array([workload.started_s] + [t for t, mark in workload.marks if mark == "run"])
    latencies = np.diff(ends)
    if len(latencies) < 2:
        ctx.err("Error: no inference finished\n")
        return 255
    first, timed = latencies[0], latencies[1:]
    total_run = ends[-1] - ends[1]
    ctx.out(
        f"Session creation time cost: {created - start:g} s\n"
        f"First inference time cost: {int(round(first * 1e3))} ms\n"
        f"Total inference time cost: {timed.sum():g} s\n"
        f"Total inference requests: {len(timed)}\n"
        f"Average inference time cost: {timed.mean() * 1e3:g} ms\n"
        f"Total inference run time: {total_run:g} s\n"
        f"Number of inferences per second: {len(timed) / total_run:g} \n"
        f"Peak working set size: {int(workload.resident_bytes)} bytes\n"
        f"Min Latency: {timed.min():g} s\n"
        f"Max Latency: {timed.max():g} s\n"
        + "".join(
            f"P{p} Latency: {np.percentile(timed, q):g} s\n"
            for p, q in (("50", 50), ("90", 90), ("95", 95), ("99", 99), ("999", 99.9))
        )
    )
    return 0
