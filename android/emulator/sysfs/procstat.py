"""/proc/stat: time each CPU spent busy and idle since boot, in USER_HZ (100 per second) ticks.

A Block observer of the simulation (attached when the file is first read) sums each policy's busy
core-seconds (work plus the driver's polling) and places them on CPUs the way the work runs: the foreground
thread's CPU first, then the CPUs of background threads, then the policy's other CPUs, each at most fully
busy. Time before the first read counts as idle; readers take differences, as with the kernel's file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone
    from android.emulator.sim.engine import Block

USER_HZ = 100


class CpuTimes:
    """Cumulative busy seconds per CPU, fed by simulation blocks."""

    def __init__(self, phone: VirtualPhone):
        self.phone = phone
        self.cpus = sorted(c for cluster in phone.profile.clusters for c in cluster.cpus)
        self.policy_cpus = {c.policy: list(c.cpus) for c in phone.profile.clusters}
        self.busy_s = dict.fromkeys(self.cpus, 0.0)

    def __call__(self, block: Block) -> None:
        sim = self.phone.sim
        first = []
        if sim.foreground is not None and sim.foreground.cpu is not None:
            first.append(sim.foreground.cpu)
        first += [load.cpu for load in sim.background if load.cpu not in first]
        spin = block.cpu_spin_s or {}
        for policy, cpus in self.policy_cpus.items():
            left = block.cpu_run_s[policy] + spin.get(policy, 0.0)
            if not left.any():
                continue
            order = [c for c in first if c in cpus] + [c for c in cpus if c not in first]
            for cpu in order:
                take = np.minimum(left, block.dt_s)
                self.busy_s[cpu] += float(take.sum())
                left = left - take

    def render(self) -> str:
        uptime_ticks = int(self.phone.state.uptime_s * USER_HZ)
        rows = []
        for cpu in self.cpus:
            busy = min(int(self.busy_s[cpu] * USER_HZ), uptime_ticks)
            rows.append((cpu, busy, uptime_ticks - busy))
        total_busy = sum(r[1] for r in rows)
        total_idle = sum(r[2] for r in rows)
        lines = [f"cpu  {total_busy} 0 0 {total_idle} 0 0 0 0 0 0"]
        lines += [f"cpu{cpu} {busy} 0 0 {idle} 0 0 0 0 0 0" for cpu, busy, idle in rows]
        boot = int(self.phone.state.uptime_s)
        lines += ["intr 0", "ctxt 0", f"btime {boot}", "processes 1", "procs_running 1", "procs_blocked 0"]
        return "\n".join(lines) + "\n"


def build(phone: VirtualPhone) -> None:
    times = CpuTimes(phone)

    def show() -> str:
        if times not in phone.sim.observers:
            phone.sim.observers.append(times)
        return times.render()

    phone.fs.attr("/proc/stat", show)
