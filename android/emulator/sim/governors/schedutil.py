"""schedutil (kernel/sched/cpufreq_schedutil.c, 5.10): frequency from frequency-invariant utilisation.

The scheduler calls the governor at its events (a task enqueued, dequeued, every tick). The request is
map_util_freq: 1.25 * max_freq * util / capacity, where util is the CPU's PELT utilisation clamped by the
uclamp values of its *runnable* tasks (uclamp_rq_util_with): while the task that carries a clamp is
asleep the clamp is released and the request follows the decaying utilisation. The raw request is
resolved to the lowest table frequency at or above it (cpufreq_driver_resolve_freq), kept within the
policy limits, and committed only if it differs from the last one and the rate limit has passed.

The virtual phone calls `update` once per tick with what happened in it: an enqueue (`ran`, the clamp
applies) and, if the tasks are asleep at the tick, a dequeue (no clamp). `Sugov` is shared by
sched_pixel, which only changes the rate limits and the headroom.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

HEADROOM = 1.25  # map_util_freq: (freq + (freq >> 2)) * util / max
TICK_S = 0.004  # HZ = 250


def resolve_hz(table: tuple[int, ...], raw_hz: float) -> int:
    """cpufreq_driver_resolve_freq with CPUFREQ_RELATION_L: the lowest table entry >= raw (else the top)."""
    i = bisect_left(table, raw_hz)
    return table[i] if i < len(table) else table[-1]


BAND_MARGIN = 1e-9  # the band is narrowed by this share so rounding at its edges cannot matter


class Sugov:
    """The schedutil update path; subclasses set the headroom and the rate limit per direction.

    After an update `util_band` is (lo, hi, lo_from_s): while the utilisation a request is made from
    (util, raised to the runnable tasks' clamp when one ran) stays in (lo, hi], the request resolves to the
    frequency already committed, and before lo_from_s any lower request is held back by the down rate
    limit, so the update would change nothing and the engine need not call it (event-driven evaluation).
    None when there is no such band."""

    kind = "cpu"
    period_s = TICK_S
    headroom = HEADROOM
    util_band: tuple[float, float, float] | None = None

    def __init__(self, tunables) -> None:
        self.tunables = tunables
        self.next_hz = 0  # sg_policy->next_freq: the last committed request
        self.last_update_s = -1e9  # sg_policy->last_freq_update_time
        self.up_limit_s = self.down_limit_s = 0.0
        self._band_of: tuple = ()  # (next_hz, last_update_s, scale) util_band was computed for
        self._edges: dict[tuple[int, float], tuple[float, float] | None] = {}  # (next_hz, scale) -> (lo, hi)

    def _commit(self, now_s: float, hz: int) -> None:
        if hz == self.next_hz:
            return
        if now_s - self.last_update_s < (self.up_limit_s if hz > self.next_hz else self.down_limit_s):
            return
        self.next_hz = hz
        self.last_update_s = now_s

    def update(self, obs) -> int | None:
        table = obs.table_hz
        scale = self.headroom * obs.max_hz
        util = obs.util if obs.util < 1.0 else 1.0
        if obs.ran:  # enqueue: the runnable task's clamp is part of the rq clamp
            i = bisect_left(table, scale * (util if util > obs.uclamp_min else obs.uclamp_min))
            self._commit(obs.now_s, table[i] if i < len(table) else table[-1])
        if obs.sleeping:  # dequeue of the last task: clamps released, util decays
            i = bisect_left(table, scale * util)
            self._commit(obs.now_s, table[i] if i < len(table) else table[-1])
        key = (self.next_hz, self.last_update_s, scale)
        if key != self._band_of:  # the band follows the committed request (most updates commit nothing)
            self._band_of = key
            self.util_band = self._band(table, scale)
        return self.next_hz or None

    def _band(self, table: tuple[int, ...], scale: float) -> tuple[float, float, float] | None:
        """The utilisations whose request resolves to next_hz, (table[j-1], table[j]] over the scale, and
        until when the down rate limit holds lower requests back. The edges are kept per (next_hz, scale):
        the band moves at most commits, and the clock alternates between a few levels."""
        if not self.next_hz:
            return None
        key = (self.next_hz, scale)
        if key in self._edges:
            edges = self._edges[key]
        else:
            edges = self._edges[key] = self._edges_of(table, scale)
        if edges is None:
            return None
        return edges[0], edges[1], self.last_update_s + self.down_limit_s - BAND_MARGIN

    def _edges_of(self, table: tuple[int, ...], scale: float) -> tuple[float, float] | None:
        """(lo, hi) of next_hz's band: (table[j-1], table[j]] over the scale, narrowed by BAND_MARGIN."""
        j = bisect_left(table, self.next_hz)
        if j >= len(table) or table[j] != self.next_hz:
            return None
        lo = table[j - 1] / scale * (1.0 + BAND_MARGIN) if j > 0 else -1.0
        hi = table[j] / scale * (1.0 - BAND_MARGIN) if j < len(table) - 1 else 2.0
        return lo, hi


@dataclass(frozen=True)
class Tunables:
    rate_limit_us: int = field(default=500, metadata={"range": "[0, 1000000]"})


class Schedutil(Sugov):
    section = "schedutil"
    Tunables = Tunables

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.up_limit_s = self.down_limit_s = tunables.rate_limit_us * 1e-6
