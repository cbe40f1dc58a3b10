"""A request's timeline on the virtual phone, binned in time, and its plot.

`fusegov run` prints means; what FUSE found (REFERENCES.md section 1) is a dynamic: in decode the stock
CPU and GPU governors see each other's slowdown as low load and step down together. A person sees that
only over time. `TimelineRecorder` is an engine observer (phone.sim.observers) that sums each block of
simulated steps into fixed bins with numpy, splitting a step that straddles a bin edge by time, so every
time-weighted mean over the bins equals the one over the steps. Idle steps (before and after the request)
are left out, as the run's own accounting does. `plot_timeline` draws the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from android.emulator.sim.engine import Block
from android.errors import UsageError, WorkloadError

MAX_PLOT_BINS = 2000  # a plot coarsens its bins to about two per pixel of a ~1000-pixel-wide axis
PHASE_COLOURS = {"prefill": "#f5c27a", "decode": "#9ec5e8", "inference": "#a8d5a2"}
OTHER_PHASE_COLOUR = "#d8d8d8"


@dataclass
class PhaseSpan:
    """A stretch of the request in one phase, in seconds since the request started."""

    phase: str
    start_s: float
    end_s: float


@dataclass
class Timeline:
    """Per-bin time-weighted means of a request (NaN in a bin that holds no request time)."""

    bin_s: float
    start_s: float  # phone time of the first bin's start (the request's first step)
    duration_s: float  # from the request's first step to the end of its last
    covered_s: np.ndarray  # simulated request seconds in each bin (bin_s, less at the edges)
    freq_hz: dict[str, np.ndarray]  # knob -> mean clock
    table_hz: dict[str, np.ndarray]  # knob -> its frequency table (ascending)
    gpu_util: np.ndarray  # GPU busy share
    cpu_util: dict[str, np.ndarray]  # policy -> busy core-seconds (working or polling) per second
    power_w: dict[str, np.ndarray]  # simulated component -> mean watts
    total_w: np.ndarray  # whole phone
    phase_s: dict[str, np.ndarray]  # phase -> seconds of that phase in each bin
    phases: list[PhaseSpan]
    inference_policy: str  # the CPU policy the workload's thread ran on

    @property
    def t_s(self) -> np.ndarray:
        """Bin starts, seconds since the request started."""
        return np.arange(len(self.covered_s)) * self.bin_s

    def rebinned(self, factor: int) -> Timeline:
        """The same timeline in bins `factor` times longer (time-weighted means of the finer bins)."""
        if factor < 1 or int(factor) != factor:
            raise ValueError(f"rebin factor must be a positive integer, got {factor}")
        factor = int(factor)
        if factor == 1:
            return self
        n = len(self.covered_s)
        groups = -(-n // factor)

        def total(values: np.ndarray) -> np.ndarray:
            padded = np.zeros(groups * factor)
            padded[:n] = values
            return padded.reshape(groups, factor).sum(axis=1)

        covered = total(self.covered_s)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_s = 1.0 / np.where(covered > 0, covered, np.nan)

        def mean(values: np.ndarray) -> np.ndarray:
            return total(np.nan_to_num(values) * self.covered_s) * per_s

        return Timeline(
            bin_s=self.bin_s * factor,
            start_s=self.start_s,
            duration_s=self.duration_s,
            covered_s=covered,
            freq_hz={k: mean(v) for k, v in self.freq_hz.items()},
            table_hz=self.table_hz,
            gpu_util=mean(self.gpu_util),
            cpu_util={k: mean(v) for k, v in self.cpu_util.items()},
            power_w={k: mean(v) for k, v in self.power_w.items()},
            total_w=mean(self.total_w),
            phase_s={k: total(v) for k, v in self.phase_s.items()},
            phases=self.phases,
            inference_policy=self.inference_policy,
        )

    def mean_freq_hz(self, knob: str, phase: str | None = None) -> float:
        """Time-weighted mean clock of `knob` over the request or one phase of it."""
        weight = self.covered_s if phase is None else self.phase_s[phase]
        freq = np.nan_to_num(self.freq_hz[knob])
        return float((freq * weight).sum() / weight.sum())


class TimelineRecorder:
    """Engine observer: accumulates per-bin sums of a request's steps; `timeline()` gives the means."""

    def __init__(self, phone, bin_s: float | None = None):
        bin_s = phone.sim.tick_s if bin_s is None else bin_s  # default: the finest that plots can coarsen
        if not bin_s >= phone.sim.tick_s:  # a step then crosses at most one bin edge
            raise UsageError(
                f"timeline bin {bin_s * 1e3:g} ms is shorter than the simulation step "
                f"{phone.sim.tick_s * 1e3:g} ms of {phone.profile.name}"
            )
        self.bin_s = bin_s
        self._sim = phone.sim
        self.table_hz = {k: np.asarray(v.table_hz, dtype=float) for k, v in phone.knobs.items()}
        self.start_s: float | None = None
        self.end_s = 0.0  # of the last recorded step, seconds since start_s
        self.inference_policy: str | None = None
        self.phases: list[PhaseSpan] = []
        self._sums: dict[str, np.ndarray] = {}  # quantity -> per-bin sum, grown by doubling
        self._capacity = 1024
        self._n_bins = 0

    def __call__(self, block: Block) -> None:
        active = block.phase != "idle"
        if not active.any():
            return
        if self.start_s is None:
            first = int(np.argmax(active))
            self.start_s = float(block.t_end_s[first] - block.dt_s[first])
            foreground = self._sim.foreground
            self.inference_policy = self._sim.cpu_policy[foreground.cpu] if foreground else None
        dt, phase = block.dt_s[active], block.phase[active]
        end = block.t_end_s[active] - self.start_s
        begin = end - dt
        self._record_phases(phase, begin, end)
        self.end_s = max(self.end_s, float(end[-1]))
        values = {
            "covered": dt,
            "gpu_busy": np.minimum(block.gpu_busy_s[active], dt),
            "total": block.total_w[active] * dt,
        }
        values.update({f"freq:{k}": v[active] * dt for k, v in block.freq_hz.items()})
        values.update({f"power:{k}": v[active] * dt for k, v in block.power_w.items()})
        spin = block.cpu_spin_s or {}
        values.update(
            {f"run:{k}": v[active] + (spin[k][active] if k in spin else 0.0) for k, v in block.cpu_run_s.items()}
        )
        values.update({f"phase:{p}": np.where(phase == p, dt, 0.0) for p in set(phase.tolist())})
        self._add(begin, end, values)

    def _record_phases(self, phase: np.ndarray, begin: np.ndarray, end: np.ndarray) -> None:
        """Extend the phase spans; a new span starts where the phase changes (a handful per request)."""
        starts = np.flatnonzero(np.r_[True, phase[1:] != phase[:-1]])
        stops = np.r_[starts[1:], len(phase)] - 1
        for i, j in zip(starts.tolist(), stops.tolist()):
            last = self.phases[-1] if self.phases else None
            if last is not None and last.phase == phase[i] and abs(last.end_s - begin[i]) < 1e-9:
                last.end_s = float(end[j])
            else:
                self.phases.append(PhaseSpan(str(phase[i]), float(begin[i]), float(end[j])))

    def _add(self, begin: np.ndarray, end: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Sum per-step quantities into bins; a step (or a row of several steps) across bin edges is split
        in proportion to the time it spends in each bin."""
        first = np.floor(begin / self.bin_s + 1e-9).astype(int)
        last = np.maximum(np.ceil(end / self.bin_s - 1e-9).astype(int) - 1, first)
        spans = last - first + 1
        row = np.repeat(np.arange(len(begin)), spans)  # one entry per (row, bin it touches)
        index = first[row] + np.arange(len(row)) - np.repeat(np.cumsum(spans) - spans, spans)
        overlap = np.minimum(end[row], (index + 1) * self.bin_s) - np.maximum(begin[row], index * self.bin_s)
        length = end - begin
        share = np.divide(overlap, length[row], out=np.ones_like(overlap), where=length[row] > 0)
        share = np.where(spans[row] > 1, share, 1.0)
        lo, hi = int(first.min()), int(last.max()) + 1
        self._grow(hi)
        for name, v in values.items():
            column = self._sums.get(name)
            if column is None:
                column = self._sums[name] = np.zeros(self._capacity)
            column[lo:hi] += np.bincount(index - lo, v[row] * share, minlength=hi - lo)
        self._n_bins = max(self._n_bins, hi)

    def _grow(self, needed: int) -> None:
        if needed <= self._capacity:
            return
        while self._capacity < needed:
            self._capacity *= 2
        for name, column in self._sums.items():
            self._sums[name] = np.concatenate([column, np.zeros(self._capacity - len(column))])

    def timeline(self) -> Timeline:
        """The per-bin means so far."""
        if self.start_s is None:
            raise WorkloadError("the timeline recorded no request: no workload ran while it observed")
        n = self._n_bins
        sums = {name: column[:n] for name, column in self._sums.items()}
        covered = sums["covered"]
        with np.errstate(invalid="ignore", divide="ignore"):
            per_s = 1.0 / np.where(covered > 0, covered, np.nan)

        def prefixed(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix) :]: v * per_s for k, v in sums.items() if k.startswith(prefix)}

        return Timeline(
            bin_s=self.bin_s,
            start_s=self.start_s,
            duration_s=self.end_s,
            covered_s=covered,
            freq_hz=prefixed("freq:"),
            table_hz=self.table_hz,
            gpu_util=sums["gpu_busy"] * per_s,
            cpu_util=prefixed("run:"),
            power_w=prefixed("power:"),
            total_w=sums["total"] * per_s,
            phase_s={k[len("phase:") :]: v for k, v in sums.items() if k.startswith("phase:")},
            phases=list(self.phases),
            inference_policy=self.inference_policy or "",
        )


def plot_timeline(timeline: Timeline, path: str | Path, title: str) -> Path:
    """Write a PNG: clocks of the inference CPU policy, GPU and memory bus (one strip each, MHz, with
    their tables' range), GPU and CPU utilisation, whole-phone and GPU power, phases shaded. Bins are
    coarsened (never below the timeline's own) so a long request still draws about two per pixel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    timeline = timeline.rebinned(max(1, int(np.ceil(timeline.duration_s / MAX_PLOT_BINS / timeline.bin_s))))
    cpu = timeline.inference_policy
    knobs = [(cpu, f"CPU {cpu}", "tab:blue"), ("gpu", "GPU", "tab:green"), ("mem", "memory", "tab:purple")]
    knobs = [k for k in knobs if k[0] in timeline.freq_hz]
    t = np.r_[timeline.t_s, timeline.duration_s]  # bin edges, for step lines; the last bin ends with the request

    def steps(ax, values, **style):
        ax.stairs(values, t, baseline=None, **style)

    fig, axes = plt.subplots(
        len(knobs) + 2,
        1,
        sharex=True,
        figsize=(11, 2.0 + 1.45 * (len(knobs) + 2)),
        dpi=110,
        gridspec_kw={"height_ratios": [1] * len(knobs) + [1.3, 1.3]},
    )
    for ax, (knob, label, colour) in zip(axes, knobs):
        table_mhz = timeline.table_hz[knob] / 1e6
        steps(ax, timeline.freq_hz[knob] / 1e6, color=colour, linewidth=1.1)
        ax.set_ylim(table_mhz[0] - 0.06 * (table_mhz[-1] - table_mhz[0]), table_mhz[-1] * 1.06)
        ax.set_yticks([table_mhz[0], table_mhz[(len(table_mhz) - 1) // 2], table_mhz[-1]])
        ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:.0f}"))
        ax.set_yticks(table_mhz, minor=True)  # the levels the clock can take
        ax.axhline(table_mhz[(len(table_mhz) - 1) // 2], color="grey", linewidth=0.6, linestyle=":")
        ax.set_ylabel(f"{label}\nMHz", fontsize=9)
        means = ", ".join(f"{phase} {timeline.mean_freq_hz(knob, phase) / 1e6:.0f}" for phase in timeline.phase_s)
        ax.set_title(f"{label} mean MHz: {means}", loc="right", fontsize=8, pad=2)
    axes[0].set_title(
        "ticks: each knob's levels; dotted: middle of its table", loc="left", fontsize=8, pad=2, color="dimgrey"
    )
    util_ax, power_ax = axes[-2], axes[-1]
    steps(util_ax, 100 * timeline.gpu_util, color="tab:green", linewidth=1.0, label="GPU busy")
    if cpu in timeline.cpu_util:
        steps(
            util_ax,
            100 * timeline.cpu_util[cpu],
            color="tab:blue",
            linewidth=1.0,
            label=f"CPU {cpu} (inference thread's core)",
        )
    util_ax.set_ylim(0, 105)
    util_ax.set_ylabel("utilisation\n%", fontsize=9)
    _legend_above(util_ax)
    steps(power_ax, timeline.total_w, color="black", linewidth=1.0, label="whole phone")
    if "gpu" in timeline.power_w:
        steps(power_ax, timeline.power_w["gpu"], color="tab:green", linewidth=1.0, label="GPU")
    power_ax.set_ylim(0, np.nanmax(timeline.total_w) * 1.15)
    power_ax.set_ylabel("power\nW", fontsize=9)
    _legend_above(power_ax)
    power_ax.set_xlabel(f"time since the request started (s), {timeline.bin_s * 1e3:.0f} ms bins")
    power_ax.set_xlim(t[0], t[-1])
    for span in timeline.phases:
        colour = PHASE_COLOURS.get(span.phase, OTHER_PHASE_COLOUR)
        for ax in axes:
            ax.axvspan(span.start_s, span.end_s, color=colour, alpha=0.35, linewidth=0, zorder=0)
    for ax in axes:
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", linewidth=0.3, alpha=0.6)
    handles = [
        matplotlib.patches.Patch(color=PHASE_COLOURS.get(p, OTHER_PHASE_COLOUR), alpha=0.6, label=p)
        for p in dict.fromkeys(span.phase for span in timeline.phases)
    ]
    fig.legend(
        handles=handles, loc="upper right", ncol=len(handles), fontsize=8, frameon=False, bbox_to_anchor=(0.99, 0.995)
    )
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return path


def _legend_above(ax) -> None:
    """A one-line legend just above the axes, where it never hides a line."""
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        fontsize=8,
        ncol=2,
        frameon=False,
        borderaxespad=0.1,
        borderpad=0.0,
        handlelength=1.5,
    )
