"""One collection: sample a phone while workloads run, at pinned settings if asked, into one trace.

    frame, meta = collect(device, ["llm:tinyllama-1.1b-q4,prompt=64,decode=16"], period_s=0.01, pmcs="64")

Steps: probe the phone (paths, units, rails, zones), choose counters (`--pmcs`) and split them into passes
the GPU can read at once (kgsl's QUERY tells each group's free physical counters), then per pass: pin (through
android.knobs.pinned, restored on the way out even on error or Ctrl-C), start the sampler, run every
workload (each labelled with its phases on the phone's clock), stop the sampler, decode its lines. Passes are
merged run by run and phase by phase (the same setting, workload and repeat in each pass), by time since that
phase started; channels every pass has must agree (the agreement is in the metadata). Rows are written to
`partial_path` as they arrive, so a failure keeps what was collected.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from android.device import Device
from android.errors import FusegovError
from collectors import channels, pmc
from collectors.errors import CollectorError
from collectors.links import InProcessLink, SamplerLink, ShellLink, load_sampler_module
from collectors.runners import RunResult, WorkloadSpec, make_runner, parse_spec
from collectors.trace import REQUIRED_COLUMNS, check_trace, columns_of, pmc_columns, power_col

DEFAULT_PERIOD_S = 0.01
POLL_S = 0.2
MIN_RUN_S = 1e-3  # a budget below `timeout`'s resolution (and 0 means none to it): no further run
SAMPLER_REMOTE = "/data/local/tmp/fusegov/sampler.py"
MERGE_COLUMNS = ("_run", "_phase", "_since")  # label_phases' columns for merge_passes, dropped from every trace


@dataclass
class RunRecord:
    """One workload run in one pass."""

    workload: str
    setting: str
    pass_index: int
    result: RunResult

    @property
    def end_s(self) -> float:
        return self.result.phases[-1][1]


@dataclass
class Collection:
    frame: pd.DataFrame
    meta: dict
    runs: list[RunRecord] = field(default_factory=list)

    def summary(self) -> dict:
        """Samples, dropped, duration and mean power per rail: what `fusegov collect` prints at the end."""
        frame = self.frame
        seq = frame["seq"].to_numpy()
        expected = int(seq.max() - seq.min() + 1) if len(seq) else 0
        return {
            "samples": int(len(frame)),
            "dropped": int(self.meta.get("dropped", max(expected - len(np.unique(seq)), 0))),
            "late_ticks": int(self.meta.get("late_ticks", 0)),
            "duration_s": float(frame["t_s"].max() - frame["t_s"].min()) if len(frame) else 0.0,
            "mean_power_w": {rail: float(frame[col].mean()) for rail, col in columns_of(frame, "power").items()},
            "passes": int(self.meta.get("passes", {}).get("count", 1)),
        }


def open_link(device: Device, config: dict, link: str, reopen=None) -> SamplerLink:
    """`inprocess` (the in-process virtual phone only), `shell` (push and run; any device), or `auto`."""
    in_process = getattr(device, "phone", None) is not None
    if link == "inprocess" or (link == "auto" and in_process):
        if not in_process:
            raise CollectorError(f"{device.name}: the in-process link needs the in-process virtual phone")
        return InProcessLink(device, config)
    return ShellLink(device, config, poll_s=POLL_S, reopen=reopen)


def query_counters(device: Device, info, counters: list[pmc.PmcCounter], link: str) -> dict:
    """What the GPU's counter interface offers (kgsl: each group's physical counters and who holds them)."""
    cores = pmc.shader_cores(info.gpu.model) if info.gpu.driver == "mali" else None
    config = channels.query_config(info, counters, cores)
    if getattr(device, "phone", None) is not None and link != "shell":
        import threading as _threading

        from collectors.links import PhoneOs

        module = load_sampler_module()
        phone_os = PhoneOs(device.phone, _threading.Event())
        reader = module.GPU_READERS[config["pmc"]["driver"]]
        try:
            return reader.query(phone_os, config["pmc"])
        except module.SamplerError as exc:
            raise CollectorError(f"{device.name}: {exc}") from None
    import tempfile
    from pathlib import Path

    from collectors.links import REMOTE_DIR, SAMPLER_PATH

    device.shell(f"mkdir -p {REMOTE_DIR} && chmod 777 {REMOTE_DIR}")
    device.push(SAMPLER_PATH, SAMPLER_REMOTE)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "query.json"
        path.write_text(json.dumps(config))
        device.push(path, f"{REMOTE_DIR}/query.json")
    result = device.shell(f"su -c 'python3 {SAMPLER_REMOTE} query {REMOTE_DIR}/query.json'")
    try:
        answer = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise CollectorError(
            f"{device.name}: GPU counter query failed: {(result.stderr or result.stdout)[:300]}"
        ) from None
    if "error" in answer:
        raise CollectorError(f"{device.name}: {answer['error']}")
    return answer


def collect(
    device: Device,
    workloads: list[str | WorkloadSpec],
    *,
    period_s: float = DEFAULT_PERIOD_S,
    pmcs: str | int | None = "all",
    settings: list[dict[str, int]] | None = None,
    duration_s: float | None = None,
    link: str = "auto",
    monitor: list[str] | None = None,
    partial_path=None,
    reopen=None,
    on_progress: Callable[[int], None] | None = None,
    run_label: str = "0",
) -> Collection:
    """Sample `device` while `workloads` run at each of `settings` (pins, knob -> Hz; [{}]: stock governors).
    `duration_s`: device time per setting, shared equally by the workloads (each repeats within its share).
    `monitor`: components a lab monitor measures (the in-process virtual phone's VirtualRailMonitor)."""
    from android.knobs import KnobController, pinned
    from android.probe import probe_device

    if not period_s >= 0.002:
        raise CollectorError(f"--period-ms {period_s * 1e3:g}: the sampler's shortest period is 2 ms")
    specs = [w if isinstance(w, WorkloadSpec) else parse_spec(w) for w in workloads]
    if not specs:
        raise CollectorError("no workload given: --workload llm:MODEL | cnn:MODEL | idle:SECONDS")
    settings = settings or [{}]
    try:
        info = probe_device(device)
    except FusegovError as exc:
        raise CollectorError(f"{device.name}: cannot probe the phone: {exc}") from None
    if not device.is_rooted():
        raise CollectorError(
            f"{device.name}: the phone gives no root shell (`su -c id` is not uid 0); the sampler needs root: root "
            "it (e.g. Magisk) or use a userdebug build with `adb root`"
        )
    battery_sign = channels.read_battery_sign(device) if info.battery is not None else 1
    catalogue = pmc.catalogue(info.gpu.model) if str(pmcs) not in ("0", "none") else []
    free = held = None
    if catalogue and info.gpu.driver == "kgsl":
        answer = query_counters(device, info, catalogue, link)
        ids = {c.group_id: c.group for c in catalogue}
        free, held = {}, {}
        for gid, group in answer["groups"].items():
            if "error" in group:
                continue
            name = ids[int(gid)]
            held[name] = set(group["held"])
            free[name] = group["max_counters"] - len(group["held"])
    chosen = pmc.select(catalogue, pmcs, free)
    passes = pmc.plan_passes(chosen, free, held)
    cores = pmc.shader_cores(info.gpu.model) if chosen and info.gpu.driver == "mali" else None
    runners = [make_runner(spec, SAMPLER_REMOTE) for spec in specs]
    prepared = False
    controller = KnobController(device, info)
    frames: list[list[pd.DataFrame]] = []  # per pass, per setting
    records: list[RunRecord] = []
    late_ticks = 0
    dropped = 0
    writer_state = _PartialWriter(partial_path)
    reconnects = 0
    sampler_cpu_s = 0.0
    seq_offset = 0
    try:
        for index, counters in enumerate(passes):
            per_setting = []
            for pins in settings:
                label = ",".join(f"{k}={v}" for k, v in pins.items()) or "stock"
                plan = channels.build_plan(
                    info, period_s, counters, None, _deadline(duration_s, specs), battery_sign, cores, run=run_label
                )
                with pinned(controller, pins):
                    sampler_link = open_link(device, plan.config, link, reopen)
                    watcher = _Monitor(device, monitor)
                    lines: list[str] = []
                    sampler_link.start()
                    if not prepared:
                        _push_sampler(device, sampler_link)
                        for runner in runners:
                            runner.prepare(device)
                        prepared = True
                    poller = _Poller(sampler_link, lines, on_progress)
                    try:
                        for spec, result in _run_workloads(device, specs, runners, duration_s):
                            records.append(RunRecord(spec.name, label, index, result))
                    finally:
                        poller.finish()
                        lines += sampler_link.stop()
                        watcher.detach()
                        reconnects += sampler_link.reconnects
                        sampler_cpu_s += sampler_link.cpu_s if math.isfinite(sampler_link.cpu_s) else 0.0
                    if sampler_link.error:
                        raise CollectorError(f"{device.name}: sampler: {sampler_link.error}")
                    header = sampler_link.header or {}
                    raw = channels.parse_lines(lines, len(header.get("channels", [])))
                    frame = channels.decode(raw, header.get("channels", []), plan)
                    late_ticks += int(frame.pop("late_ticks").sum())
                    dropped += _missing(frame["seq"].to_numpy(), sampler_link.ended)
                    frame = watcher.add_columns(frame)
                    mine = {i: r for i, r in enumerate(records) if r.pass_index == index and r.setting == label}
                    frame = label_phases(frame, mine)
                    frame["seq"] += seq_offset  # one numbering over every sampler run of the collection
                    seq_offset += int(sampler_link.ended[0]) if sampler_link.ended else len(frame)
                    writer_state.append(frame, info, period_s)
                    per_setting.append(frame)
            frames.append(per_setting)
    except KeyboardInterrupt:
        writer_state.close()
        raise CollectorError("interrupted (Ctrl-C); the knobs were restored", writer_state.path) from None
    except CollectorError as exc:
        writer_state.close()
        exc.partial = writer_state.path
        if writer_state.path is not None and writer_state.rows:
            exc.args = (
                f"{exc.args[0]} ({writer_state.rows} samples collected before the failure are in {writer_state.path})",
            )
        raise
    writer_state.close()
    per_pass = [pd.concat(f, ignore_index=True) for f in frames]
    merged, agreement = merge_passes(per_pass, records, period_s)
    meta = _metadata(device, info, period_s, chosen, passes, specs, settings, run_label)
    meta.update(
        late_ticks=late_ticks,
        dropped=dropped,
        reconnects=reconnects,
        sampler_cpu_s=sampler_cpu_s,
        passes={"count": len(passes), "agreement": agreement},
        battery_discharge_sign=battery_sign,
        power_sources=_power_sources(merged, info, monitor),
        workload_runs=[
            {"workload": r.workload, "setting": r.setting, "pass": r.pass_index, **r.result.metrics} for r in records
        ],
    )
    check_trace(merged, meta)
    return Collection(merged, meta, records)


def _deadline(duration_s: float | None, specs) -> float | None:
    """The sampler stops by itself this long after it starts, if the host has vanished by then."""
    return None if duration_s is None else duration_s * 3 + 600.0


def _push_sampler(device: Device, link: SamplerLink) -> None:
    """The runners' start/end marks come from the sampler file's `exec` mode: make sure it is on the phone."""
    if isinstance(link, ShellLink):
        return
    from collectors.links import REMOTE_DIR, SAMPLER_PATH

    device.shell(f"mkdir -p {REMOTE_DIR} && chmod 777 {REMOTE_DIR}")
    device.push(SAMPLER_PATH, SAMPLER_REMOTE)


def _run_workloads(device: Device, specs, runners, duration_s: float | None):
    """Each workload once, or each workload (specs sharing a name: a stream of requests) for an equal share
    of `duration_s` of device time, its specs in turn and over again within the share (the run in progress
    when the share is spent is stopped there: runners keep the phases of a cut run). Equal shares keep a
    short collection a mix of every workload, as a power model needs, not the first ones of the list."""
    if duration_s is None:
        for spec, runner in zip(specs, runners):
            yield spec, runner.run(device, None)
        return
    streams: dict[str, list] = {}
    for spec, runner in zip(specs, runners):
        streams.setdefault(spec.name, []).append((spec, runner))
    share_s = duration_s / len(streams)
    for stream in streams.values():
        start_s, left_s = None, share_s
        for spec, runner in itertools.cycle(stream):
            result = runner.run(device, left_s)
            yield spec, result
            start_s = result.phases[0][0] if start_s is None else start_s
            spent_s = result.phases[-1][1] - start_s
            if spent_s <= share_s - left_s:  # no device time passed: the runs cannot use the share
                break
            left_s = share_s - spent_s
            if left_s < MIN_RUN_S:
                break


def _missing(seq: np.ndarray, ended) -> int:
    """Sequence numbers the sampler wrote that never arrived."""
    total = ended[0] if ended else (int(seq.max()) + 1 if len(seq) else 0)
    return int(total - len(np.unique(seq)))


class _Poller:
    """Fetches the sampler's lines every POLL_S while a workload runs, for a progress bar (on a phone over
    adb each fetch is a shell command, which a collection without one does not need to pay for)."""

    def __init__(self, link: SamplerLink, lines: list[str], on_progress):
        self.link, self.lines, self.on_progress = link, lines, on_progress
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="fusegov-poller", daemon=True)
        if on_progress is not None:  # else the link's stop() fetches it all: no adb command per POLL_S meanwhile
            self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(POLL_S):
            try:
                new = self.link.poll()
            except BaseException as exc:  # surfaced by finish()
                self.error = exc
                return
            self.lines.extend(new)
            if self.on_progress and new:
                self.on_progress(len(new))

    def finish(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()
        if self.error is not None:
            raise self.error


class _Monitor:
    def __init__(self, device: Device, components: list[str] | None):
        self.monitor = None
        if components:
            phone = getattr(device, "phone", None)
            if phone is None:
                raise CollectorError("--monitor needs the in-process virtual phone (a lab monitor attached to it)")
            from collectors.monitor import VirtualRailMonitor

            self.monitor = VirtualRailMonitor(phone, components).attach()

    def detach(self) -> None:
        if self.monitor is not None:
            self.monitor.detach()

    def add_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.monitor is None:
            return frame
        for component, watts in self.monitor.mean_power(frame["t_s"].to_numpy()).items():
            frame[power_col(component)] = watts  # the lab monitor is the better instrument for its component
        return frame


class _PartialWriter:
    def __init__(self, path):
        self.path = path
        self.writer = None
        self.rows = 0

    def append(self, frame: pd.DataFrame, info, period_s: float) -> None:
        if self.path is None or not len(frame):
            return
        from collectors.trace import TraceWriter

        if self.writer is None:
            meta = {"device": info.name, "profile": info.model, "soc": info.soc, "period_s": period_s, "tool": _tool()}
            meta["partial"] = True
            self.writer = TraceWriter(self.path, meta)
        try:
            self.writer.append(frame.drop(columns=list(MERGE_COLUMNS), errors="ignore"))
            self.writer.flush()
            self.rows += len(frame)
        except (ValueError, KeyError, TypeError):
            pass  # a later pass with other counters: the final trace holds it

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def label_phases(frame: pd.DataFrame, runs: dict[int, RunRecord]) -> pd.DataFrame:
    """`workload` and `phase` of each row: the run and phase holding the middle of its interval; for the merge of
    passes, `_run`, that run's id (its key in `runs`: its index in the collection's list of runs) or -1,
    `_phase`, the phase's index in the run, and `_since`, the row's end less the phase's start (s)."""
    t = frame["t_s"].to_numpy()
    mid = t - np.diff(t, prepend=t[0] - (t[1] - t[0] if len(t) > 1 else 0.0)) / 2 if len(t) else t
    workload = np.full(len(t), "", dtype=object)
    phase = np.full(len(t), "idle", dtype=object)
    run_index, phase_index, since = np.full(len(t), -1), np.full(len(t), -1), np.full(len(t), np.nan)
    for k, run in runs.items():
        for i, (start, end, label) in enumerate(run.result.phases):
            inside = (mid >= start) & (mid < end)
            phase[inside] = label
            workload[inside] = run.workload
            run_index[inside], phase_index[inside], since[inside] = k, i, t[inside] - start
    out = frame.copy()
    out["phase"] = phase
    out["workload"] = workload
    out["_run"], out["_phase"], out["_since"] = run_index, phase_index, since
    return out


def run_keys(runs: list[RunRecord]) -> list[tuple[int, str, str, int]]:
    """Each run as (pass, setting, workload, repeat): its pass, and what it is the same run of in every pass. A
    workload repeats within its share of the device time as often as its runs fit, which differs from pass to
    pass, so the n-th run of a pass need not be the n-th of another (nor of the same setting)."""
    seen: dict[tuple[int, str, str], int] = {}
    keys = []
    for run in runs:
        head = (run.pass_index, run.setting, run.workload)
        seen[head] = seen.get(head, -1) + 1
        keys.append((*head, seen[head]))
    return keys


def merge_passes(frames: list[pd.DataFrame], runs: list[RunRecord], period_s: float) -> tuple[pd.DataFrame, dict]:
    """Pass 0's rows, with the counters of later passes taken from their row nearest in time since the start of
    the same phase of the same run: the run of the same setting, workload and repeat (`run_keys`). A phase's
    length differs between passes (a prefill by ~10%), so rows aligned on the run's start would take the
    counters of another phase near its ends. Rows carry `label_phases`' columns (`_run`: indices into `runs`).
    Returns the merged rows and, per channel every pass has, the largest relative difference between passes of
    its mean over each run's work (after loading)."""
    base = frames[0]
    agreement: dict[str, float] = {}
    if len(frames) == 1:
        return _finish(base), agreement
    keys = run_keys(runs)
    run_of = {key: i for i, key in enumerate(keys)}
    base_runs = [i for i, key in enumerate(keys) if key[0] == 0]
    base_rel, base_run, base_phase = base["_since"].to_numpy(), base["_run"].to_numpy(), base["_phase"].to_numpy()
    merged = base.copy()
    shared = [c for c in base.columns if c not in REQUIRED_COLUMNS + MERGE_COLUMNS and not c.startswith("pmc.")]
    base_work, base_shared = base["phase"].to_numpy() != "load", {c: base[c].to_numpy(float) for c in shared}
    for p, frame in enumerate(frames[1:], start=1):
        rel, frame_run, frame_phase = frame["_since"].to_numpy(), frame["_run"].to_numpy(), frame["_phase"].to_numpy()
        counters = pmc_columns(frame)
        values = np.full((len(base), len(counters)), np.nan)
        counter_values = frame[counters].to_numpy(float)
        frame_work = frame["phase"].to_numpy() != "load"
        frame_shared = {c: frame[c].to_numpy(float) for c in shared if c in frame}
        for base_id in base_runs:
            other = run_of.get((p, *keys[base_id][1:]))
            if other is None:  # the workload ran fewer times in this pass: its counters stay missing there
                continue
            rows_b = np.flatnonzero(base_run == base_id)
            rows_p = np.flatnonzero(frame_run == other)
            if not len(rows_b) or not len(rows_p):
                continue
            for phase in np.unique(base_phase[rows_b]):
                in_b, in_p = rows_b[base_phase[rows_b] == phase], rows_p[frame_phase[rows_p] == phase]
                if len(in_p):
                    pick, close = _nearest(rel[in_p], base_rel[in_b], period_s)
                    values[in_b[close]] = counter_values[in_p[pick[close]]]
            work_b, work_p = rows_b[base_work[rows_b]], rows_p[frame_work[rows_p]]
            for column, theirs in frame_shared.items() if len(work_b) and len(work_p) else ():
                a, b = float(np.nanmean(base_shared[column][work_b])), float(np.nanmean(theirs[work_p]))
                scale = max(abs(a), abs(b), 1e-12)
                agreement[column] = max(agreement.get(column, 0.0), abs(a - b) / scale)
        merged = pd.concat([merged, pd.DataFrame(values, columns=counters, index=merged.index)], axis=1)
    return _finish(merged), agreement


def _nearest(times: np.ndarray, want: np.ndarray, period_s: float) -> tuple[np.ndarray, np.ndarray]:
    """For each of `want`, the index into `times` of the nearest one, and whether it lies within a period."""
    order = np.argsort(times)
    ordered = times[order]
    idx = np.clip(np.searchsorted(ordered, want), 0, len(ordered) - 1)
    prev = np.clip(idx - 1, 0, len(ordered) - 1)
    pick = np.where(np.abs(ordered[prev] - want) < np.abs(ordered[idx] - want), prev, idx)
    return order[pick], np.abs(ordered[pick] - want) <= period_s


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=list(MERGE_COLUMNS))
    first = ["seq", "t_s", "phase", "workload"]
    return frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)


def _tool() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"fusegov {version('fusegov')}"
    except PackageNotFoundError:
        return "fusegov (source tree)"


def _power_sources(frame: pd.DataFrame, info, monitor) -> dict[str, str]:
    sources = {}
    for rail in columns_of(frame, "power"):
        if monitor and rail in monitor:
            sources[rail] = "lab monitor (virtual phone: the component's simulated supply power)"
        elif rail == "battery":
            sources[rail] = "fuel gauge: current_now x voltage_now"
        elif rail == "total":
            sources[rail] = "fuel gauge (whole phone)" if info.battery else "sum of ODPM rails"
        elif any(r.name == rail for r in info.rails):
            sources[rail] = "ODPM rail"
        else:
            sources[rail] = "sum of the component's ODPM rails: " + "+".join(
                r.name for r in info.rails if r.component == rail
            )
    return sources


def _metadata(device, info, period_s, chosen, passes, specs, settings, run_label) -> dict:
    phone = getattr(device, "phone", None)
    return {
        "device": info.name,
        "profile": phone.profile.name if phone is not None else info.model,
        "soc": info.soc,
        "device_model": info.model,
        "gpu_model": info.gpu.model,
        "gpu_driver": info.gpu.driver,
        "period_s": period_s,
        "counters": [c.column for c in chosen],
        "counter_family": pmc.family_of(info.gpu.model) if chosen else None,
        "counter_passes": [[c.column for c in p] for p in passes],
        "workloads": [s.name for s in specs],
        "settings": [dict(s) for s in settings],
        "run": run_label,
        "tool": _tool(),
        "collected_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "generator": "collectors.collect: the on-device sampler (collectors/device/sampler.py)",
    }
