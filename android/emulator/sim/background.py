"""Background load: a CPU thread that keeps a core busy (optionally streaming memory), to show contention.

On its own core it raises the cluster's utilisation (and so its frequency and power); on the core of the
inference thread the two share the core as CFS shares it between equal-weight tasks, so the inference
thread's CPU work takes longer and the GPU waits more."""

from __future__ import annotations

from dataclasses import dataclass

from android.errors import WorkloadError


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
