"""Other work on the phone's CPUs besides the inference thread.

`BackgroundLoad` is a thread a user starts on purpose (a core kept busy, optionally streaming memory) to
show contention. `SystemActivity` is what an idle Android phone runs on its own - daemons, binder calls,
sensor and network wake-ups - as a Poisson stream of short CPU bursts (physics.background), so that runs
with different seeds see different interference, as runs on a real phone do.

On its own core a burst raises the cluster's utilisation (and so its frequency and power); on the core of
the inference thread the two share the core as CFS shares it between equal-weight tasks, so the
inference thread's CPU work takes longer and the GPU waits more."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from android.errors import ProfileError, WorkloadError

BATCH = 256  # random draws made at a time


@dataclass
class BackgroundLoad:
    cpu: int  # the core it runs on
    duty: float = 1.0  # share of time it wants to run
    mem_bytes_per_s: float = 0.0  # DRAM traffic while it runs
    name: str = "background"

    def __post_init__(self) -> None:
        if not 0.0 < self.duty <= 1.0:
            raise WorkloadError(f"background duty must be in (0, 1], got {self.duty}")
        if self.mem_bytes_per_s < 0:
            raise WorkloadError(f"background memory traffic must be >= 0, got {self.mem_bytes_per_s}")

    def share_left(self) -> float:
        """The share of its core an always-runnable co-runner still gets: alone for (1 - duty) of the
        time, half of it the rest."""
        return 1.0 - self.duty / 2.0


class SystemActivity:
    """Poisson-arriving CPU bursts; `overlap(start, end)` says which CPUs they kept busy in a step."""

    def __init__(self, background, clusters, rng: np.random.Generator, now_s: float):
        self.rate_hz = background.rate_hz
        self.mean_s = background.mean_burst_s
        self.mem_bytes_per_s = background.mem_bytes_per_s
        policies = [c.policy for c in clusters]
        unknown = set(background.policy_share) - set(policies)
        if unknown:
            raise ProfileError(
                f"physics.background.policy_share: {', '.join(sorted(unknown))} is not a CPU policy "
                f"({', '.join(policies)})"
            )
        shares = np.array([background.policy_share.get(p, 0.0) for p in policies])
        shares[0] += max(0.0, 1.0 - shares.sum())
        self.cpus: list[int] = []
        weights: list[float] = []
        for cluster, share in zip(clusters, shares):
            for cpu in cluster.cpus:
                self.cpus.append(cpu)
                weights.append(share / len(cluster.cpus))
        self.weights = np.array(weights) / sum(weights)
        self.rng = rng
        self._draw()
        self.next_s = now_s + self._gap() if self.rate_hz > 0 else float("inf")
        self.running: list[list[float]] = []  # [cpu, start_s, end_s]

    def _draw(self) -> None:
        rng = self.rng
        self._gaps = rng.exponential(1.0 / self.rate_hz, BATCH).tolist() if self.rate_hz > 0 else []
        self._lengths = rng.exponential(self.mean_s, BATCH).tolist()
        self._where = rng.choice(len(self.cpus), BATCH, p=self.weights).tolist()
        self._i = 0

    def _gap(self) -> float:
        if self._i >= BATCH:
            self._draw()
        return self._gaps[self._i]

    def next_arrival_on(self, cpu: int, horizon_s: float) -> float:
        """When the next burst on `cpu` arrives, looking no further than horizon_s (returned if none is
        drawn before it, or the draws run out first)."""
        t, i = self.next_s, self._i
        while t < horizon_s:
            if i >= BATCH:
                return t
            if self.cpus[self._where[i]] == cpu:
                return t
            i += 1
            if i >= BATCH:
                return t
            t += self._gaps[i]
        return horizon_s

    def overlap(self, start_s: float, end_s: float) -> list[tuple[int, float]]:
        """(cpu, seconds busy) for bursts overlapping [start_s, end_s)."""
        running = self.running
        while self.next_s < end_s:
            i = self._i
            running.append([self.cpus[self._where[i]], self.next_s, self.next_s + self._lengths[i]])
            self._i += 1
            self.next_s += self._gap()
        if not running:
            return []
        out = []
        left = []  # those still running after end_s
        for burst in running:
            cpu, begin, finish = burst
            busy = (finish if finish < end_s else end_s) - (begin if begin > start_s else start_s)  # (min, max)
            if busy > 0:
                out.append((cpu, busy))
            if finish > end_s:
                left.append(burst)
        self.running = left
        return out
