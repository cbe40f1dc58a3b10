"""The PNG `fusegov collect` writes: power per rail and frequency per knob over time, phases shaded."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from collectors.trace import columns_of

PHASE_COLOURS = {"prefill": "#f4c7c3", "decode": "#c6dbef", "inference": "#d9f0d3", "load": "#eeeeee"}


def plot_collection(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = frame["t_s"].to_numpy() - frame["t_s"].min()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    power = columns_of(frame, "power")
    shown = [k for k in ("total", "gpu", "mem") if k in power] or list(power)[:4]
    for rail in shown:
        top.plot(t, frame[power[rail]], label=rail, lw=0.8)
    top.set_ylabel("power (W)")
    for knob, col in columns_of(frame, "freq").items():
        if knob == "gpu" or knob == "mem" or knob.startswith("policy"):
            bottom.plot(t, frame[col] / 1e6, label=knob, lw=0.8)
    bottom.set_ylabel("frequency (MHz)")
    bottom.set_xlabel("time (s)")
    phases = frame["phase"].astype(str).to_numpy()
    start = 0
    for i in range(1, len(phases) + 1):
        if i == len(phases) or phases[i] != phases[start]:
            colour = PHASE_COLOURS.get(phases[start])
            if colour:
                for ax in (top, bottom):
                    ax.axvspan(t[start], t[i - 1], color=colour, lw=0)
            start = i
    for ax in (top, bottom):
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    top.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
