"""The latency/energy frontier PNG of `fusegov bench governor`: every setting any policy measured, the Pareto
front, and where each policy's plan and the stock governors land (per bucket, and over the replayed requests)."""

from __future__ import annotations

from pathlib import Path

MARKERS = {"stock": "s", "fuse": "^", "fusegov": "*", "oracle": "D", "all_max": "v", "independent": "P"}


def pareto(points):
    """Points not beaten on both latency and energy, sorted by energy."""
    front, best = [], float("inf")
    for energy, latency in sorted(points):
        if latency < best:
            front.append((energy, latency))
            best = latency
    return front


def plot_frontier(results: dict, path: str | Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    any_result = next(iter(results.values()))
    buckets = [p.bucket for p in any_result.plan.phases]
    decode = next((b for b in buckets if b == "decode"), buckets[-1])
    prefill = [b for b in buckets if b.startswith("prefill")]
    shown = [prefill[len(prefill) // 2], decode] if prefill else [decode]
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(5.2 * (len(shown) + 1), 4.6))
    for ax, bucket in zip(axes, shown):
        seen = {}
        for r in results.values():
            for obs in r.search.lab.observations(bucket):
                seen[obs.setting] = (obs.energy_per_token_j, obs.latency_s)
        points = list(seen.values())
        ax.scatter(
            [p[0] for p in points], [p[1] for p in points], s=6, c="0.75", label=f"{len(points)} settings measured"
        )
        front = pareto(points)
        ax.plot([p[0] for p in front], [p[1] for p in front], c="0.3", lw=1, label="Pareto front")
        for name, r in results.items():
            phase = next(p for p in r.plan.phases if p.bucket == bucket)
            e, t = phase.expected.energy_per_token_j, phase.expected.latency_s
            ax.scatter([e], [t], marker=MARKERS.get(name, "o"), s=70, label=name, zorder=3)
        unit = "TTFT" if bucket.startswith("prefill") else "TPOT"
        ax.set_xlabel("energy per token (J)")
        ax.set_ylabel(f"{unit} (s)")
        ax.set_title(bucket)
        ax.legend(fontsize=7)
    ax = axes[-1]
    for name, r in results.items():
        s = r.summary
        ax.scatter([s.energy_per_token_j], [s.latency_mean_s], marker=MARKERS.get(name, "o"), s=80, label=name)
        ax.annotate(
            name, (s.energy_per_token_j, s.latency_mean_s), fontsize=8, xytext=(4, 4), textcoords="offset points"
        )
    ax.set_xlabel("energy per token over the replay (J)")
    ax.set_ylabel("mean end-to-end latency (s)")
    ax.set_title(f"{any_result.summary.requests} requests replayed")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
