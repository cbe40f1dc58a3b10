"""Heat and throttling: a thermal RC network of the phone and the kernel's thermal framework.

Heat: the phone is a few lumped heat capacities (SoC die, board and frame around it, battery and body)
joined by thermal conductances, with paths to the ambient air (profile `physics.thermal`). Each power
component heats one node. The network is linear, so it is integrated exactly for power held constant
over each simulation step, in modal coordinates: every mode is a scalar recurrence z' = e^(-mu dt) z + ...,
solved for a whole block of steps with cumulative sums (no per-step Python). A zone reads its node plus
a hot-spot rise proportional to the power of its component (CPU and GPU sensors sit in the hot spots),
in steps of its sensor's resolution (on-die sensors report tenths of a degree).

Throttling, as drivers/thermal does it: every zone is polled at its own `polling_delay_s`, and at its
`passive_delay_s` while one of its trips is throttling. A trip throttles from its temperature until the
zone falls below temperature - hysteresis. Each knob bound to a trip is a cooling device whose state N
removes the top N OPPs (cpufreq_cooling, devfreq_cooling); a device serves the deepest state any of its
bindings asks for. The zone's governor (THERMAL_GOVERNORS) sets the states: step_wise adds one state per
poll while the zone is throttling and its temperature is rising, and removes one per poll while it is
below the trip threshold and falling; power_allocator (IPA) runs a PID on the zone's power budget.

Polls are evaluated at their exact instants on the per-step temperatures of a block, and the caps they
decide take effect at the end of that block. A zone polling at its normal interval therefore acts at
most one block (engine.FLUSH_S) late, far below every thermal time constant, at no cost; while a zone
is throttling, the engine ends a block at each of its passive polls (`Thermal.due_s`), so a cap acts on
the very next step and the next poll sees its effect, as in the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Protocol

import numpy as np

from android.emulator.knob import KnobState
from android.emulator.profile import Profile
from android.emulator.sim.physics import PowerAllocatorTunables, ThermalPhysics, ZoneThermal
from android.emulator.sim.scan import DecayScan


# --- heat -------------------------------------------------------------------------------------------
class ThermalNetwork:
    """Node temperatures of a linear RC network, C dT/dt = -G (T - T_ambient) + P."""

    def __init__(self, th: ThermalPhysics, components: list[str]):
        self.ambient_c = th.ambient_c
        self.node_names = list(th.nodes)
        index = {name: i for i, name in enumerate(self.node_names)}
        n = len(self.node_names)
        capacity = np.array([th.nodes[name].heat_capacity_j_per_k for name in self.node_names])
        conductance = np.diag([th.nodes[name].to_ambient_w_per_k for name in self.node_names])
        for link in th.links:
            a, b = (index[name] for name in link.nodes)
            conductance[[a, b], [a, b]] += link.w_per_k
            conductance[a, b] -= link.w_per_k
            conductance[b, a] -= link.w_per_k
        self.conductance = conductance
        # symmetric form: w = C^1/2 theta, dw/dt = -M w + C^-1/2 P with M = C^-1/2 G C^-1/2 = V diag(mu) V^T
        root = np.sqrt(capacity)
        self.mu, vectors = np.linalg.eigh(conductance / np.outer(root, root))
        self.power_to_modes = vectors / root[:, None]  # node power (row) -> modal input
        self.modes_to_nodes = vectors.T / root[None, :]  # modal state (row) -> theta
        self.nodes_to_modes = vectors * root[:, None]
        self.scan = DecayScan(self.mu)
        self.heat = np.zeros((len(components), n))  # component -> node its heat enters
        for i, component in enumerate(components):
            self.heat[i, index[th.heat_node.get(component, th.default_heat_node)]] = 1.0
        self.z = np.zeros(n)  # modal state of theta = T - T_ambient

    def settle(self, component_w: np.ndarray) -> None:
        """Start at the steady state of constant component powers (shape (components,))."""
        theta = np.linalg.solve(self.conductance, component_w @ self.heat)
        self.z = theta @ self.nodes_to_modes

    def node_power(self, component_w: np.ndarray) -> np.ndarray:
        """(n, components) watts -> (n, nodes) watts."""
        return component_w @ self.heat

    def inputs(self, dt_s: np.ndarray, node_w: np.ndarray) -> np.ndarray:
        """Per-step inputs of the modal recurrences z_k = e^(-mu dt_k) z_(k-1) + u_k: for power q_k held
        over the step, u_k = (1 - e^(-mu dt_k)) / mu * q_k exactly."""
        return self.scan.settling(dt_s) * self.steady(node_w)

    def steady(self, node_w: np.ndarray) -> np.ndarray:
        """Modal states that (n, nodes) watts would settle at: q / mu."""
        return node_w @ self.power_to_modes / self.mu

    def temps_c(self, z: np.ndarray) -> np.ndarray:
        """(n, modes) modal states -> (n, nodes) temperatures."""
        return self.ambient_c + z @ self.modes_to_nodes

    def integrate(self, dt_s: np.ndarray, node_w: np.ndarray) -> np.ndarray:
        """Advance over steps of constant power; returns (n, nodes) temperatures (C) at each step's end."""
        z = self.scan.run(self.z, dt_s, self.inputs(dt_s, node_w))
        self.z = z[-1]
        return self.temps_c(z)

    def node_c(self) -> np.ndarray:
        return self.ambient_c + self.z @ self.modes_to_nodes


class ZoneSensors:
    """Temperatures of the thermal zones: their node plus the hot spot of their component, which follows
    the component's power with the hot spot's own short time constant."""

    def __init__(self, profile: Profile, network: ThermalNetwork, components: list[str]):
        th = profile.physics.thermal
        self.types = [z.type for z in profile.thermal_zones]
        node = {name: i for i, name in enumerate(network.node_names)}
        column = {name: i for i, name in enumerate(components)}
        configs = [th.zones[z.type] for z in profile.thermal_zones]
        self.node = np.array([node[c.node] for c in configs], dtype=int)
        self.hotspot = np.array(
            [c.hotspot_k_per_w if z.component in column else 0.0 for c, z in zip(configs, profile.thermal_zones)]
        )
        self.component = np.array([column.get(z.component, 0) for z in profile.thermal_zones], dtype=int)
        self.rate = np.array([1.0 / c.hotspot_tau_s for c in configs])
        self.resolution = np.array([c.resolution_c for c in configs])
        self.rise = np.zeros(len(configs))  # current hot-spot rise above the node

    def settle(self, component_w: np.ndarray) -> None:
        self.rise = self.hotspot * component_w[self.component]

    def steady(self, component_w: np.ndarray) -> np.ndarray:
        """Hot-spot rises that (n, components) watts would settle at; the rise follows them with
        rise_k = e^(-rate dt_k) rise_(k-1) + (1 - e^(-rate dt_k)) steady_k."""
        return self.hotspot * component_w[:, self.component]


# --- the thermal framework --------------------------------------------------------------------------
class CoolingDevice:
    """One knob's cooling device: state N caps the knob N OPPs below its top (0 = no cap)."""

    def __init__(self, knob: KnobState):
        self.knob = knob
        self.max_state = len(knob.table_hz) - 1
        self.instances: list[Instance] = []

    @property
    def state(self) -> int:
        """The deepest state any binding asks for (thermal_cdev_update)."""
        return max((i.target for i in self.instances if i.target is not None), default=0)

    def cap_hz(self) -> int:
        state = self.state
        return int(self.knob.table_hz[self.max_state - state]) if state else 0


@dataclass
class Instance:
    """A binding of a cooling device to a trip of a zone (struct thermal_instance)."""

    cdev: CoolingDevice
    target: int | None = None  # THERMAL_NO_TARGET is None
    initialized: bool = False


@dataclass
class Zone:
    """A thermal zone's polling state (struct thermal_zone_device)."""

    type: str
    config: ZoneThermal
    governor: ThermalGovernor
    instances: list[list[Instance]]  # per trip
    crossed: list[bool]  # per trip: above the trip, so its threshold is temperature - hysteresis
    next_poll_s: float
    last_temp_c: float | None = None
    temp_c: float | None = None

    def __post_init__(self) -> None:
        # the bindings flat, and the knobs they cool once each in binding order (fixed once built)
        self.bindings = [i for trip in self.instances for i in trip]
        self.cooled = tuple(dict.fromkeys(i.cdev.knob.name for i in self.bindings))

    @property
    def passive(self) -> bool:
        return any(i.target is not None for i in self.bindings)

    def delay_s(self) -> float:
        return self.config.passive_delay_s if self.passive else self.config.polling_delay_s

    def trend(self) -> int:
        """get_tz_trend without a driver trend: +1 rising, -1 falling, 0 stable since the last poll."""
        if self.last_temp_c is None or self.temp_c == self.last_temp_c:
            return 0
        return 1 if self.temp_c > self.last_temp_c else -1

    def throttling(self, trip: int) -> bool:
        """Is the zone at or above the trip's threshold (temperature, or temperature - hysteresis once
        crossed)? Updates the crossing."""
        point = self.config.trips[trip]
        threshold = point.temp_c - point.hysteresis_c if self.crossed[trip] else point.temp_c
        self.crossed[trip] = self.temp_c >= threshold
        return self.crossed[trip]


class ThermalGovernor(Protocol):
    wants_power: bool  # throttle() needs the power each bound device drew

    def throttle(self, zone: Zone, now_s: float, power_w: dict[str, float]) -> None:
        """Set the targets of the zone's instances after a temperature update."""


class StepWise:
    """drivers/thermal/gov_step_wise.c: one cooling state at a time per poll."""

    wants_power = False

    def __init__(self, config: ZoneThermal, tunables: PowerAllocatorTunables | None):
        del config, tunables

    def throttle(self, zone: Zone, now_s: float, power_w: dict[str, float]) -> None:
        trend = zone.trend()
        for trip, instances in enumerate(zone.instances):
            throttle = zone.throttling(trip)
            for instance in instances:
                instance.target = self._target(instance, trend, throttle)
                instance.initialized = True

    @staticmethod
    def _target(instance: Instance, trend: int, throttle: bool) -> int | None:
        cur = instance.cdev.state
        top = instance.cdev.max_state
        if not instance.initialized:
            return min(cur + 1, top) if throttle else None
        if throttle:
            return min(cur + 1, top) if trend > 0 else instance.target
        if trend < 0:
            return None if cur <= 0 else cur - 1
        return instance.target


class PowerAllocator:
    """drivers/thermal/gov_power_allocator.c (IPA): a PID controller turns the distance to the control
    temperature (the zone's last trip) into a power budget around `sustainable_power`, shared among the
    bound cooling devices in proportion to the power they draw, each capped at the deepest-performing
    state whose estimated power fits its grant. Below the switch-on temperature (the first trip) every
    device runs uncapped and the controller resets."""

    wants_power = True

    def __init__(self, config: ZoneThermal, tunables: PowerAllocatorTunables | None):
        assert tunables is not None  # check_thermal guarantees it
        self.tun = tunables
        self.switch_on_c = config.trips[0].temp_c
        self.control_c = config.trips[-1].temp_c
        self.err_integral = 0.0  # K x polls, as the kernel's err_integral
        self.prev_err = 0.0
        self.state_power: dict[str, np.ndarray] = {}  # knob -> relative dynamic power per state (f V^2)

    def throttle(self, zone: Zone, now_s: float, power_w: dict[str, float]) -> None:
        actors = {i.cdev.knob.name: i for i in zone.bindings}
        if zone.temp_c < self.switch_on_c:
            self.err_integral = self.prev_err = 0.0
            for instance in actors.values():
                instance.target = None
                instance.initialized = True
            return
        requested = {name: max(power_w.get(name, 0.0), 0.0) for name in actors}
        at_max = {name: requested[name] * self._scale(actors[name].cdev, 0) for name in actors}
        budget_w = self._pid(zone.temp_c, sum(at_max.values()), zone.config.passive_delay_s)
        granted = _divvy(requested, at_max, budget_w)
        for name, instance in actors.items():
            instance.target = self._state_for(instance.cdev, requested[name], granted[name])
            instance.initialized = True

    def _pid(self, temp_c: float, max_w: float, delay_s: float) -> float:
        t = self.tun
        err = self.control_c - temp_c
        p = (t.k_po if err < 0 else t.k_pu) * err
        i = t.k_i * self.err_integral
        if err < t.integral_cutoff:
            nxt = i + t.k_i * err
            if abs(nxt) < max_w * 1000.0:
                i = nxt
                self.err_integral += err
        d = t.k_d * (err - self.prev_err) / delay_s
        self.prev_err = err
        return float(np.clip((t.sustainable_power + p + i + d) / 1000.0, 0.0, max_w))

    def _scale(self, cdev: CoolingDevice, state: int) -> float:
        """Power at `state` relative to the current one (dynamic power ~ f V^2 at the same load)."""
        knob = cdev.knob
        rel = self.state_power.get(knob.name)
        if rel is None:
            volt = knob.volt_uv.astype(float) / 1e6
            rel = self.state_power[knob.name] = (knob.table_hz * volt * volt)[::-1] / (
                knob.table_hz[-1] * volt[-1] ** 2
            )
        return float(rel[state] / rel[cdev.max_state - knob.level])

    def _state_for(self, cdev: CoolingDevice, requested_w: float, granted_w: float) -> int:
        """power2state: the shallowest state whose estimated power fits the grant (0 while above the
        switch-on temperature keeps the zone in passive polling)."""
        if requested_w <= 0:
            return 0
        for state in range(cdev.max_state + 1):
            if requested_w * self._scale(cdev, state) <= granted_w:
                return state
        return cdev.max_state


def _divvy(requested: dict[str, float], max_w: dict[str, float], budget_w: float) -> dict[str, float]:
    """divvy_up_power: grants in proportion to requests, capped at each actor's maximum, the excess
    handed to the actors that still have headroom."""
    total = sum(requested.values())
    if total <= 0:
        return dict(max_w)
    granted = {n: min(budget_w * r / total, max_w[n]) for n, r in requested.items()}
    extra = budget_w - sum(granted.values())
    room = {n: max_w[n] - g for n, g in granted.items() if max_w[n] > g}
    if extra > 0 and room:
        share = sum(room.values())
        for name, headroom in room.items():
            granted[name] += min(headroom, extra * headroom / share)
    return granted


THERMAL_GOVERNORS: dict[str, type] = {"step_wise": StepWise, "power_allocator": PowerAllocator}


@dataclass
class ThermalFramework:
    """Zones, their trips and cooling devices; polls each zone at its own interval."""

    zones: list[Zone] = field(default_factory=list)
    cdevs: dict[str, CoolingDevice] = field(default_factory=dict)
    caps: dict[str, int] = field(default_factory=dict)  # each device's cap after the last poll (only polls move it)
    targets: list = field(default_factory=list)  # every binding's target after the last poll

    @classmethod
    def build(cls, profile: Profile, knobs: dict[str, KnobState], now_s: float) -> ThermalFramework:
        th = profile.physics.thermal
        framework = cls()
        for ztype, config in th.zones.items():
            if not config.trips:
                continue
            governor = THERMAL_GOVERNORS[config.governor](config, th.power_allocator.get(ztype))
            instances = []
            for trip in config.trips:
                row = []
                for knob in trip.cooling:
                    cdev = framework.cdevs.setdefault(knob, CoolingDevice(knobs[knob]))
                    row.append(Instance(cdev))
                    cdev.instances.append(row[-1])
                instances.append(row)
            zone = Zone(ztype, config, governor, instances, [False] * len(config.trips), now_s + config.polling_delay_s)
            framework.zones.append(zone)
        framework.caps = {name: cdev.cap_hz() for name, cdev in framework.cdevs.items()}
        framework.targets = framework._targets()
        return framework

    def _targets(self) -> list:
        """Every binding's target, zone by zone."""
        return [i.target for zone in self.zones for i in zone.bindings]

    def poll(
        self, t_end_s: np.ndarray, zone_c: dict[str, np.ndarray], power_w: dict[str, np.ndarray]
    ) -> list[tuple[str, int]]:
        """Run every poll due within the block (steps ending at t_end_s, zone temperatures per step);
        returns (knob, cap_hz) for the cooling devices whose cap changed (0 = no cap)."""
        if not self.zones or not len(t_end_s):
            return []
        last = float(t_end_s[-1])
        if min(z.next_poll_s for z in self.zones) > last + 1e-12:
            return []
        while True:
            zone = min(self.zones, key=_NEXT_POLL)
            when = zone.next_poll_s
            if when > last + 1e-12:
                break
            step = min(int(t_end_s.searchsorted(when - 1e-12)), len(t_end_s) - 1)
            zone.last_temp_c, zone.temp_c = zone.temp_c, float(zone_c[zone.type][step])
            drawn = {}
            if zone.governor.wants_power:  # what each cooling device drew over the last ~0.1 s
                window = slice(max(step - 24, 0), step + 1)
                for name in zone.cooled:
                    drawn[name] = _mean(power_w[name][window]) if name in power_w else 0.0
            zone.governor.throttle(zone, when, drawn)
            zone.next_poll_s = when + zone.delay_s()
        targets = self._targets()
        if targets == self.targets:  # no binding moved: no cap did
            return []
        self.targets = targets
        caps = [(name, cdev.cap_hz()) for name, cdev in self.cdevs.items()]
        changed = [(name, cap) for name, cap in caps if cap != self.caps[name]]
        self.caps.update(changed)
        return changed


_NEXT_POLL = attrgetter("next_poll_s")


def _mean(values: np.ndarray) -> float:
    """values.mean() of a 1-D array, as ndarray.mean computes it (the sum over the count) without its
    Python-level wrapper (IPA polls several times per block)."""
    return float(np.add.reduce(values) / len(values))


def check_thermal(th: ThermalPhysics, profile: Profile) -> tuple[str, str] | None:
    """(field, problem) for the first inconsistency between `physics.thermal` and the profile."""
    nodes = set(th.nodes)
    knobs = set(profile.knob_names())
    zone_types = [z.type for z in profile.thermal_zones]
    for i, link in enumerate(th.links):
        if len(link.nodes) != 2 or link.nodes[0] == link.nodes[1]:
            return f"links[{i}].nodes", f"must name two different nodes, got {list(link.nodes)}"
        for name in link.nodes:
            if name not in nodes:
                return f"links[{i}].nodes", f"{name!r} is not a node ({', '.join(sorted(nodes))})"
    heat = [*((f"heat_node.{c}", n) for c, n in th.heat_node.items()), ("default_heat_node", th.default_heat_node)]
    for key, name in heat:
        if name not in nodes:
            return key, f"{name!r} is not a node ({', '.join(sorted(nodes))})"
    if not _reaches_ambient(th):
        return "nodes", "have no path to the ambient air from every node (give to_ambient_w_per_k or links)"
    for ztype in zone_types:
        if ztype not in th.zones:
            return "zones", f"misses thermal zone {ztype!r} of this profile (zones: {', '.join(zone_types)})"
    for ztype, zone in th.zones.items():
        where = f"zones.{ztype}"
        if ztype not in zone_types:
            return where, f"is not a thermal zone of this profile ({', '.join(zone_types)})"
        if zone.node not in nodes:
            return f"{where}.node", f"{zone.node!r} is not a node ({', '.join(sorted(nodes))})"
        if zone.governor not in THERMAL_GOVERNORS:
            return f"{where}.governor", f"must be one of {', '.join(THERMAL_GOVERNORS)}, got {zone.governor!r}"
        temps = [t.temp_c for t in zone.trips]
        if temps != sorted(temps):
            return f"{where}.trips", "must be in increasing temperature"
        for i, trip in enumerate(zone.trips):
            for knob in trip.cooling:
                if knob not in knobs:
                    return f"{where}.trips[{i}].cooling", f"{knob!r} is not a knob ({', '.join(sorted(knobs))})"
        if zone.governor == "power_allocator":
            if ztype not in th.power_allocator:
                return f"power_allocator.{ztype}", "is missing: the zone's governor is power_allocator"
            if len(zone.trips) < 2:
                return f"{where}.trips", "power_allocator needs two trips: switch-on and control temperature"
    for ztype in th.power_allocator:
        if ztype not in th.zones or th.zones[ztype].governor != "power_allocator":
            return f"power_allocator.{ztype}", "is given for a zone whose governor is not power_allocator"
    return None


def _reaches_ambient(th: ThermalPhysics) -> bool:
    """Every node connects, through links, to a node with a path to the ambient air."""
    reached = {name for name, node in th.nodes.items() if node.to_ambient_w_per_k > 0}
    grew = True
    while grew:
        grew = False
        for link in th.links:
            a, b = link.nodes[0], link.nodes[-1]
            if (a in reached) != (b in reached):
                reached |= {a, b}
                grew = True
    return reached == set(th.nodes)


class Thermal:
    """Everything thermal of one phone: the network, the zone sensors and the framework that throttles.

    `advance` takes a block of steps (their end times, lengths and per-component watts), returns the
    cooling-device caps that changed; `zone_c` holds the zones' temperatures at the block's end."""

    def __init__(
        self, profile: Profile, components: list[str], knobs: dict[str, KnobState], now_s: float, idle_w: np.ndarray
    ):
        th = profile.physics.thermal
        self.components = components
        self.network = ThermalNetwork(th, components)
        self.sensors = ZoneSensors(profile, self.network, components)
        self.network.settle(idle_w)
        self.sensors.settle(idle_w)
        self.scan = DecayScan(np.concatenate([self.network.mu, self.sensors.rate]))  # modes, then hot spots
        self.framework = ThermalFramework.build(profile, knobs, now_s)
        self.due_s = float("inf")  # the next passive poll: the engine ends its block there
        gpu_node = th.heat_node.get("gpu", th.default_heat_node)
        self._leak_node = self.network.node_names.index(gpu_node)
        nodes = self.network.node_c()
        self.die_c = float(nodes[self._leak_node])  # the node the GPU heats: what leakage follows
        self.zone_c = dict(zip(self.sensors.types, (nodes[self.sensors.node] + self.sensors.rise).tolist()))

    def advance(
        self, t_end_s: np.ndarray, dt_s: np.ndarray, component_w: np.ndarray, power_w: dict[str, np.ndarray]
    ) -> list[tuple[str, int]]:
        """component_w: (steps, components) watts in `components` order; power_w: the same by name."""
        net, sensors = self.network, self.sensors
        steady = np.concatenate([net.steady(net.node_power(component_w)), sensors.steady(component_w)], axis=1)
        state = self.scan.run_held(np.concatenate([net.z, sensors.rise]), dt_s, steady)
        modes = len(net.mu)
        net.z, sensors.rise = state[-1, :modes], state[-1, modes:]
        nodes = net.temps_c(state[:, :modes])
        self.die_c = float(nodes[-1, self._leak_node])
        zones = ((nodes[:, sensors.node] + state[:, modes:]) / sensors.resolution).round() * sensors.resolution
        self.zone_c = dict(zip(self.sensors.types, zones[-1].tolist()))
        per_zone = {ztype: zones[:, i] for i, ztype in enumerate(self.sensors.types)}
        changes = self.framework.poll(t_end_s, per_zone, power_w)
        self.due_s = min((z.next_poll_s for z in self.framework.zones if z.passive), default=float("inf"))
        return changes
