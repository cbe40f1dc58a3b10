"""The `physics` section of a profile, as typed records, validated field by field.

A profile's OPP tables say what the phone can do; this section says what it costs and how fast it goes:
GPU throughput and energy per event, memory bandwidth per Hz, CPU driver costs, leakage, idle floors,
thermal resistances and capacities, throttling trips, sensor rates and the stock governors' tunables.
Every record is built from its dataclass annotations, so a missing or mistyped field is reported by its
dotted path (`physics.gpu.alu_ops_per_cycle`).
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any

from android.emulator.ranges import Interval, field_range
from android.emulator.sim.activity import EVENT_FIELDS

# shader-core units with their own gated clock tree: the event that issues to each -> its GpuPhysics throughput
GATED_UNITS = {
    "alu_ops": "alu_ops_per_cycle",
    "sfu_ops": "sfu_ops_per_cycle",
    "load_store_bytes": "load_store_bytes_per_cycle",
    "texture_fetches": "texture_fetches_per_cycle",
    "l2_bytes": "l2_bytes_per_cycle",
}


@dataclass(frozen=True)
class ClusterPhysics:
    # work per cycle relative to the biggest core (workloads count big-core cycles)
    ipc_relative: float = field(metadata={"range": "(0, 4]"})
    # whole-cluster leakage at its top OPP voltage and the reference temperature
    leakage_w: float = field(metadata={"range": "[0, 20]"})
    idle_w: float = field(metadata={"range": "[0, 10]"})  # powered-idle floor of the cluster (WFI, L2 retention)


@dataclass(frozen=True)
class GpuPhysics:
    alu_ops_per_cycle: float = field(metadata={"range": "(0, 1e6]"})  # whole GPU, FP32 ops (FMA = 2, lanes issue one)
    sfu_ops_per_cycle: float = field(metadata={"range": "(0, 1e6]"})
    load_store_bytes_per_cycle: float = field(metadata={"range": "(0, 1e6]"})
    texture_fetches_per_cycle: float = field(metadata={"range": "(0, 1e6]"})
    l2_bytes_per_cycle: float = field(metadata={"range": "(0, 1e6]"})
    launch_latency_s: float = field(metadata={"range": "[0, 0.1]"})  # job setup on the GPU before the first instruction
    # energy per event at 1 V, keys = activity.EVENT_FIELDS
    event_energy_pj: dict[str, float] = field(metadata={"range": "[0, 1e9]"})
    # clock tree and control switched per active cycle: P = C V^2 f
    clock_capacitance_nf: float = field(metadata={"range": "[0, 1000]"})
    idle_clock_fraction: float = field(metadata={"range": "[0, 1]"})  # share of the clock power while powered but idle
    leakage_w: float = field(metadata={"range": "[0, 50]"})  # at the top OPP voltage and the reference temperature
    idle_w: float = field(metadata={"range": "[0, 20]"})  # always-on part of the GPU rail (power domain, L2 retention)
    # share of the shorter of a kernel's compute and DRAM times hidden under the longer one
    memory_overlap: float = field(default=0.0, metadata={"range": "[0, 1]"})
    # from a job's submission to its start when the GPU has nothing queued (kernel queue kick and firmware
    # scheduling, doorbell, command-stream parsing, power-up of idle shader cores); the CPU thread is not busy
    dispatch_latency_s: float = field(default=0.0, metadata={"range": "[0, 0.01]"})
    # the last part of that latency, from the moment the job sits in the GPU's own queue (its front end fetching
    # and setting it up, shader cores powering up) to its first instruction: no shader runs, but the driver's
    # utilisation counter (Mali GPU_ACTIVE, Adreno RBBM busy) already counts the GPU busy
    dispatch_active_s: float = field(default=0.0, metadata={"range": "[0, 0.01]"})
    # unit clock gating: share of the busy clock-tree power in each shader-core unit's own tree, keyed by
    # the unit's issue port (alu_ops, sfu_ops, load_store_bytes, texture_fetches, l2_bytes); a unit's tree
    # is gated while it has nothing to issue (stalled on memory, idle pipe), so it is open for
    # 1 - exp(-hold * issue density) of the busy cycles. The rest of the tree (front end, job manager,
    # interconnect) runs whenever the GPU is busy. Empty: the whole tree runs while busy.
    clock_gated_share: dict[str, float] = field(default_factory=dict, metadata={"range": "[0, 1]"})
    # cycles a unit's clock stays ungated after it issues (the gating controller's hysteresis)
    clock_gate_hold_cycles: float = field(default=4.0, metadata={"range": "[0, 1000]"})


@dataclass(frozen=True)
class MemoryPhysics:
    # peak DRAM bytes per memory-clock Hz (bandwidth per MHz / 1e6)
    bytes_per_hz: float = field(metadata={"range": "(0, 1000]"})
    gpu_efficiency: float = field(metadata={"range": "(0, 1]"})  # share of the peak that GPU streams reach
    cpu_efficiency: float = field(metadata={"range": "(0, 1]"})  # share of the peak one CPU thread reaches
    # controller, PHY and DRAM clocking: P = C V^2 f, always on
    clock_capacitance_nf: float = field(metadata={"range": "[0, 1000]"})
    energy_per_byte_pj: float = field(metadata={"range": "[0, 1e4]"})  # DRAM array and I/O energy per byte moved
    leakage_w: float = field(metadata={"range": "[0, 20]"})
    idle_w: float = field(metadata={"range": "[0, 20]"})
    # share of RAM one app can keep resident before the low-memory killer
    app_usable_fraction: float = field(metadata={"range": "(0, 1]"})


@dataclass(frozen=True)
class DriverPhysics:
    """What the CPU pays to feed the GPU (user-space driver and kernel)."""

    submit_cycles: float = field(metadata={"range": "[0, 1e9]"})  # prepare and enqueue one kernel (big-core cycles)
    # finish a wait: completion handling, read-back, cache maintenance
    sync_cycles: float = field(metadata={"range": "[0, 1e9]"})
    # interrupt to thread running again (not frequency dependent)
    sync_latency_s: float = field(metadata={"range": "[0, 1]"})
    spin_s: float = field(metadata={"range": "[0, 1]"})  # the driver polls this long before the waiting thread sleeps
    # switching activity of a polling core relative to real work
    spin_activity: float = field(metadata={"range": "[0, 1]"})


@dataclass(frozen=True)
class SchedPhysics:
    """The scheduler as the CPU governors see it: PELT's half-life and the inference thread's task group."""

    pelt_half_life_s: float = field(default=0.032, metadata={"range": "(0, 1]"})  # 8 ms with pelt_multiplier 4
    uclamp_min: int = field(default=0, metadata={"range": "[0, 1024]"})  # the foreground group's uclamp.min


@dataclass(frozen=True)
class BackgroundPhysics:
    """System tasks that wake on their own (daemons, binder, sensors): a Poisson stream of short CPU bursts,
    placed on each cluster with the shares in `policy_share` (the rest on the first cluster)."""

    rate_hz: float = field(default=0.0, metadata={"range": "[0, 10000]"})  # bursts per second, whole phone
    mean_burst_s: float = field(default=0.001, metadata={"range": "(0, 1]"})  # exponential burst length
    policy_share: dict[str, float] = field(default_factory=dict, metadata={"range": "[0, 1]"})
    mem_bytes_per_s: float = field(default=0.0, metadata={"range": "[0, 1e11]"})  # DRAM traffic while running


@dataclass(frozen=True)
class LeakagePhysics:
    ref_temp_c: float = field(metadata={"range": "[-40, 150]"})
    temp_doubling_c: float = field(metadata={"range": "[1, 200]"})  # leakage doubles every this many degrees
    volt_exponent: float = field(metadata={"range": "[0, 10]"})  # leakage ~ (V / V_top) ** volt_exponent


@dataclass(frozen=True)
class ThermalNode:
    """One lumped heat capacity of the phone (SoC die, board and frame, battery and body)."""

    heat_capacity_j_per_k: float = field(metadata={"range": "(0, inf)"})
    to_ambient_w_per_k: float = field(default=0.0, metadata={"range": "[0, inf)"})  # 0: no direct path out


@dataclass(frozen=True)
class ThermalLink:
    """Thermal conductance between two nodes (package, TIM and spreaders; board to body)."""

    nodes: tuple[str, ...]  # exactly two node names
    w_per_k: float = field(metadata={"range": "(0, inf)"})


@dataclass(frozen=True)
class TripPoint:
    """A passive trip of a thermal zone and the cooling devices (one per knob) bound to it."""

    temp_c: float = field(metadata={"range": "[-40, 200]"})
    hysteresis_c: float = field(metadata={"range": "[0, 50]"})
    cooling: tuple[str, ...] = ()  # knobs whose cooling device this trip drives


@dataclass(frozen=True)
class PowerAllocatorTunables:
    """The kernel's power_allocator (IPA) parameters, named as in /sys/class/thermal/thermal_zoneN/.

    The first trip of the zone is the switch-on temperature, the last one the control temperature."""

    sustainable_power: float = field(metadata={"range": "(0, 100000]"})  # mW, as the kernel keeps it
    k_po: float = field(metadata={"range": "[0, 100000]"})  # mW/K: proportional gain while overshooting
    k_pu: float = field(metadata={"range": "[0, 100000]"})  # mW/K: proportional gain while undershooting
    k_i: float = field(default=10.0, metadata={"range": "[0, 100000]"})  # mW/(K poll)
    k_d: float = field(default=0.0, metadata={"range": "[0, 100000]"})
    integral_cutoff: float = field(default=0.0, metadata={"range": "[0, 100]"})  # K below control temp


@dataclass(frozen=True)
class ZoneThermal:
    """How a thermal zone reads its temperature and how the kernel's thermal framework polls it."""

    node: str  # thermal node the sensor sits on
    hotspot_k_per_w: float = field(default=0.0, metadata={"range": "[0, 100]"})  # rise per W of its component
    hotspot_tau_s: float = field(default=0.1, metadata={"range": "(0, 60]"})  # how fast the hot spot follows
    resolution_c: float = field(default=0.001, metadata={"range": "(0, 10]"})  # the sensor's step (TMU, ADC)
    polling_delay_s: float = field(default=1.0, metadata={"range": "(0, 600]"})  # polling-delay
    passive_delay_s: float = field(default=0.25, metadata={"range": "(0, 600]"})  # polling-delay-passive
    governor: str = "step_wise"  # thermal.THERMAL_GOVERNORS
    trips: tuple[TripPoint, ...] = ()


@dataclass(frozen=True)
class ThermalPhysics:
    """A linear thermal RC network (nodes, links, paths to ambient), the node each power component heats,
    and the zones the kernel reads and throttles on."""

    ambient_c: float = field(metadata={"range": "[-40, 60]"})
    nodes: dict[str, ThermalNode]
    links: tuple[ThermalLink, ...]
    heat_node: dict[str, str]  # power component -> node its heat enters
    default_heat_node: str  # node of every component not in heat_node
    zones: dict[str, ZoneThermal]  # zone type -> how it reads and throttles
    power_allocator: dict[str, PowerAllocatorTunables] = field(default_factory=dict)  # zone type -> IPA tunables


@dataclass(frozen=True)
class GpuVariation:
    """What real GPUs have that a counter model cannot see exactly (none of it moves mean power).

    Energy: the switching activity behind each event depends on the data (operand and bus toggling,
    activation sparsity of the token or image in flight), and clock-tree and SRAM activity is not tied
    one-to-one to any event; both wander around 1 as stationary log-normal processes (mean exactly 1).
    Counters: counters count warp instructions, cache lines and messages, not the lane operations and
    bytes that cost energy; per kernel the ratio depends on lane occupancy, access width and texture
    filtering, drawn once per kernel shape (so it differs per network and model, the same every run).
    How much of that a GPU has is a property of the GPU and its counter set: each profile gives its own.
    """

    switching_cv: float = field(metadata={"range": "[0, 1]"})  # spread of event energy (data toggling)
    switching_tau_s: float = field(metadata={"range": "(0, 60]"})  # its correlation time
    clock_cv: float = field(metadata={"range": "[0, 1]"})  # spread of clock-tree/SRAM power while busy
    clock_tau_s: float = field(metadata={"range": "(0, 60]"})
    lane_occupancy_min: float = field(metadata={"range": "(0, 1]"})  # ALU/SFU: active lanes per issued lane
    access_efficiency_min: float = field(metadata={"range": "(0, 1]"})  # bytes used per byte of lines counted
    texel_weight_max: float = field(metadata={"range": "[1, 16]"})  # texels filtered per counted fetch


@dataclass(frozen=True)
class PowerPhysics:
    # components with a steady draw: soc, tpu, modem, display, ...
    static_w: dict[str, float] = field(metadata={"range": "[0, 50]"})
    unmetered_w: float = field(metadata={"range": "[0, 50]"})  # board draw on no ODPM rail (PMIC losses, sensors, ...)
    # rail -> share of its component
    rail_share: dict[str, float] = field(default_factory=dict, metadata={"range": "[0, 1]"})


@dataclass(frozen=True)
class SensorPhysics:
    # fuel gauge refresh period of current_now / voltage_now
    battery_update_s: float = field(metadata={"range": "[0.01, 3600]"})
    battery_current_lsb_a: float = field(metadata={"range": "(0, 1]"})
    battery_voltage_lsb_v: float = field(metadata={"range": "(0, 1]"})
    battery_resistance_ohm: float = field(metadata={"range": "[0, 10]"})
    monitor_rate_hz: float = field(metadata={"range": "[1, 1e5]"})  # external power monitor (Monsoon: 5 kHz)
    monitor_voltage_v: float = field(metadata={"range": "(0, 50]"})
    monitor_current_noise_a: float = field(metadata={"range": "[0, 10]"})
    # ODPM: power of each 500 Hz sample is an ADC code of this many watts (gs201 bucks: 0.0183 mW per LSB)
    odpm_power_lsb_w: float = field(default=1.83e-5, metadata={"range": "[0, 0.1]"})


@dataclass(frozen=True)
class Physics:
    # simulation step; governors evaluate on multiples of their own periods
    tick_s: float = field(metadata={"range": "[0.0005, 0.1]"})
    # relative standard deviation of a work unit's duration
    kernel_jitter: float = field(metadata={"range": "[0, 0.5]"})
    cpu: dict[str, ClusterPhysics]  # by policy
    gpu: GpuPhysics
    memory: MemoryPhysics
    driver: DriverPhysics
    leakage: LeakagePhysics
    thermal: ThermalPhysics
    power: PowerPhysics
    sensors: SensorPhysics
    gpu_variation: GpuVariation
    sched: SchedPhysics = field(default_factory=SchedPhysics)
    background: BackgroundPhysics = field(default_factory=BackgroundPhysics)
    # relative standard deviation of one request's speed (where its buffers land in DRAM and the SLC)
    request_jitter: float = field(default=0.0, metadata={"range": "[0, 0.5]"})
    llm_runtime: str = "clblast"  # the llama.cpp GPU backend this phone runs (android.emulator.sim.llm.RUNTIMES)
    governors: dict[str, Any] = field(default_factory=dict)  # kernel name -> that governor's Tunables


def parse_physics(reader, profile) -> Physics:
    """Build Physics from the profile's `physics` reader (profile._Reader); errors name the field."""
    from android.emulator.sim.governors import TUNABLES

    physics: Physics = _build(Physics, reader, skip=("governors",))
    policies = {c.policy for c in profile.clusters}
    if set(physics.cpu) != policies:
        reader.fail(
            "cpu",
            f"must have one entry per CPU policy ({', '.join(sorted(policies))}), "
            f"has {', '.join(sorted(physics.cpu)) or 'none'}",
        )
    gated = physics.gpu.clock_gated_share
    unknown = sorted(set(gated) - set(GATED_UNITS))
    if unknown:
        reader.sub("gpu").fail(
            f"clock_gated_share.{unknown[0][:40]}", f"is not a gated unit ({', '.join(GATED_UNITS)})"
        )
    if sum(gated.values()) > 1.0 + 1e-9:
        reader.sub("gpu").fail("clock_gated_share", f"shares must sum to at most 1, sum to {sum(gated.values()):g}")
    missing = [e for e in EVENT_FIELDS if e not in physics.gpu.event_energy_pj]
    if missing or set(physics.gpu.event_energy_pj) - set(EVENT_FIELDS):
        reader.sub("gpu").fail("event_energy_pj", f"must give exactly the events {', '.join(EVENT_FIELDS)}")
    if physics.gpu.dispatch_active_s > physics.gpu.dispatch_latency_s:
        reader.sub("gpu").fail("dispatch_active_s", "is part of dispatch_latency_s and must not exceed it")
    rails = {r.name for o in profile.odpm for r in o.rails}
    for name in physics.power.rail_share:
        if name not in rails:
            reader.sub("power").fail(f"rail_share.{name}", "is not a rail of this profile")
    from android.emulator.sim.thermal import check_thermal

    problem = check_thermal(physics.thermal, profile)
    if problem:
        reader.sub("thermal").fail(*problem)
    governors = reader.get("governors", dict) if "governors" in reader.data else {}
    tunables: dict[str, Any] = {}
    for name in governors:
        if name not in TUNABLES:
            reader.fail(f"governors.{name}", f"is not a simulated governor ({', '.join(sorted(TUNABLES))})")
        tunables[name] = _build(TUNABLES[name], reader.sub(f"governors.{name}"))
    for name, cls in TUNABLES.items():
        if name not in tunables and all(
            f.default is not MISSING or f.default_factory is not MISSING for f in fields(cls)
        ):
            tunables[name] = cls()
    needs_table = {"quickstep", "basic"} & set(profile.gpu.available_governors)
    if needs_table and "quickstep" not in tunables:
        reader.fail(
            "governors.quickstep",
            f"is missing: the GPU offers {', '.join(sorted(needs_table))}, "
            "which need the DVFS table (util_min_pct, util_max_pct, hysteresis, mif_min_hz)",
        )
    object.__setattr__(physics, "governors", tunables)
    for name, tun in tunables.items():
        check = getattr(tun, "check", None)
        if check is not None:
            problem = check(profile)
            if problem:
                reader.fail(f"governors.{name}", problem)
    return physics


def _build(cls, reader, skip: tuple[str, ...] = ()):
    """A record from its dataclass annotations; every numeric value is checked against the field's range
    metadata (android.emulator.ranges), so the validator knows no field by name."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)} | {"notes"}
    for key in reader.data:
        if key not in known:
            reader.fail(
                str(key)[:80], f"is not a field of {cls.__name__} (fields: {', '.join(sorted(known - {'notes'}))})"
            )
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in skip:
            continue
        if f.name not in reader.data:
            if f.default is MISSING and f.default_factory is MISSING:
                reader.fail(f.name, "is missing")
            continue
        kwargs[f.name] = _value(hints[f.name], reader, f.name, field_range(f))
    return cls(**kwargs)


def _value(kind, reader, key: str, valid: Interval):
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if is_dataclass(kind):
        return _build(kind, reader.sub(key))
    if kind in (float, int, bool, str):
        return _scalar(kind, reader.data[key], reader, key, valid)
    if origin is tuple:
        items = reader.get(key, list)
        inner = args[0]
        if is_dataclass(inner):
            return tuple(_build(inner, sub) for sub in reader.items(key))
        return tuple(_scalar(inner, v, reader, f"{key}[{i}]", valid) for i, v in enumerate(items))
    if origin is dict:
        raw = reader.get(key, dict)
        inner = args[1]
        if is_dataclass(inner):
            sub = reader.sub(key)
            return {str(k): _build(inner, sub.sub(str(k))) for k in raw}
        return {str(k): _scalar(inner, v, reader, f"{key}.{str(k)[:40]}", valid) for k, v in raw.items()}
    if origin in (types.UnionType, typing.Union):
        value = reader.get(key, tuple(a for a in args if a is not type(None)))
        if isinstance(value, (int, float)):
            _check_range(value, reader, key, valid)
        return value
    raise TypeError(f"unsupported physics field type {kind!r}")


def _scalar(kind, value, reader, key: str, valid: Interval):
    if kind is bool:
        if not isinstance(value, bool):
            reader.fail(key, f"must be true or false, got {_shown(value)}")
        return value
    if kind is str:
        if not isinstance(value, str):
            reader.fail(key, f"must be a string, got {_shown(value)}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            reader.fail(key, f"must be a number, got {_shown(value)}")
        _check_range(value, reader, key, valid)
        try:
            return float(value)
        except OverflowError:
            reader.fail(key, f"is too large to be a number, got {_shown(value)}")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            reader.fail(key, f"must be an integer, got {_shown(value)}")
        _check_range(value, reader, key, valid)
        return value
    raise TypeError(f"unsupported physics list type {kind!r}")


def _check_range(value: int | float, reader, key: str, valid: Interval) -> None:
    """Within the field's declared range (NaN never, infinity only if the range says `inf]`)."""
    try:
        inside = value in valid
    except OverflowError:
        inside = False
    if not inside:
        reader.fail(key, f"must be in {valid}, got {_shown(value)}")


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
