"""Virtual-phone profiles: one JSON data file per phone, validated field by field on load.

A profile says what the phone *is* (OPP tables, sysfs layout, rails, zones, stock governors). Physics
parameters live in the `physics` section, read by the simulation and validated field by field by
android.emulator.sim.physics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from android.emulator.datafiles import builtin_names, read_named_json
from android.errors import ProfileError

BUILTIN_DIR = Path(__file__).with_name("profiles")
PROFILE_FORMAT = "fusegov.profile"
PROFILE_VERSION = 1


@dataclass(frozen=True)
class Opp:
    """One operating point: frequency in Hz and supply voltage in microvolts."""

    freq_hz: int
    volt_uv: int


@dataclass(frozen=True)
class CpuCluster:
    policy: str
    cpus: tuple[int, ...]
    core: str
    capacity: int
    dynamic_power_coefficient: float  # uW/MHz/V^2, the device-tree energy-model convention
    opps: tuple[Opp, ...]
    governor: str
    available_governors: tuple[str, ...]


@dataclass(frozen=True)
class Gpu:
    driver: str  # "mali" or "kgsl"
    model: str
    sysfs_dir: str
    opps: tuple[Opp, ...]
    governor: str
    available_governors: tuple[str, ...]
    pmc_family: str
    queue_depth: int


@dataclass(frozen=True)
class DevfreqDevice:
    name: str  # the devfreq device name under /sys/class/devfreq
    knob: str  # knob name fusegov uses ("mem" for the main DRAM bus, else the device name)
    unit: str  # native unit of its frequency files: "hz", "khz" or "mbps"
    opps: tuple[Opp, ...]
    governor: str
    available_governors: tuple[str, ...]


@dataclass(frozen=True)
class Rail:
    channel: int
    name: str  # e.g. S2M_VDD_CPUCL2
    schematic: str
    component: str  # knob or part it powers: policy6, gpu, mem, soc, display, ...


@dataclass(frozen=True)
class OdpmDevice:
    iio_name: str  # iio:deviceN
    chip: str  # e.g. s2mpg12-odpm
    sampling_rate_hz: float
    rails: tuple[Rail, ...]


@dataclass(frozen=True)
class ThermalZone:
    type: str
    component: str  # what heats it: policy6, gpu, soc, battery, skin


@dataclass(frozen=True)
class Battery:
    voltage_uv: int
    capacity_pct: int
    discharge_current_sign: int  # -1: discharge reads negative (Pixel); +1: positive


@dataclass(frozen=True)
class Profile:
    name: str
    model: str
    soc: str
    family: str  # "tensor" or "snapdragon"
    props: dict[str, str]
    clusters: tuple[CpuCluster, ...]
    gpu: Gpu
    devfreq: tuple[DevfreqDevice, ...]
    odpm: tuple[OdpmDevice, ...]
    battery: Battery
    thermal_zones: tuple[ThermalZone, ...]
    memory_bytes: int
    physics: Any = None  # android.emulator.sim.physics.Physics: what the simulation needs
    source: str = ""

    def knob_names(self) -> list[str]:
        return [c.policy for c in self.clusters] + ["gpu"] + [d.knob for d in self.devfreq]


def builtin_profiles() -> list[str]:
    return builtin_names(BUILTIN_DIR)


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a built-in profile by name, or any profile file by path."""
    raw, path = read_named_json(name_or_path, BUILTIN_DIR, "profile", ProfileError)
    return parse_profile(raw, source=str(path))


def parse_profile(raw: Any, source: str = "<dict>") -> Profile:
    """Validate a profile dictionary; errors name the file and the field."""
    r = _Reader(raw, source)
    if r.get("format", str) != PROFILE_FORMAT:
        r.fail("format", f"must be {PROFILE_FORMAT!r}")
    if r.get("version", int) != PROFILE_VERSION:
        r.fail("version", f"must be {PROFILE_VERSION}")
    clusters = tuple(
        CpuCluster(
            policy=c.get("policy", str),
            cpus=tuple(c.get("cpus", list)),
            core=c.get("core", str),
            capacity=c.get("capacity", int),
            dynamic_power_coefficient=c.get("dynamic_power_coefficient", (int, float)),
            opps=c.opps("opp"),
            governor=c.get("governor", str),
            available_governors=tuple(c.get("available_governors", list)),
        )
        for c in r.items("cpu.clusters")
    )
    if not clusters:
        r.fail("cpu.clusters", "needs at least one cluster")
    g = r.sub("gpu")
    gpu = Gpu(
        driver=g.choice("driver", ("mali", "kgsl")),
        model=g.get("model", str),
        sysfs_dir=g.get("sysfs_dir", str),
        opps=g.opps("opp"),
        governor=g.get("governor", str),
        available_governors=tuple(g.get("available_governors", list)),
        pmc_family=g.get("pmc_family", str),
        queue_depth=g.get("queue_depth", int),
    )
    devfreq = tuple(
        DevfreqDevice(
            name=d.get("name", str),
            knob=d.get("knob", str),
            unit=d.choice("unit", ("hz", "khz", "mbps")),
            opps=d.opps("opp"),
            governor=d.get("governor", str),
            available_governors=tuple(d.get("available_governors", list)),
        )
        for d in r.items("memory.devfreq")
    )
    if sum(d.knob == "mem" for d in devfreq) != 1:
        r.fail("memory.devfreq", "exactly one device must have knob 'mem' (the main DRAM bus)")
    odpm = tuple(
        OdpmDevice(
            iio_name=o.get("iio_name", str),
            chip=o.get("chip", str),
            sampling_rate_hz=float(o.get("sampling_rate_hz", (int, float))),
            rails=tuple(
                Rail(
                    channel=rr.get("channel", int),
                    name=rr.get("name", str),
                    schematic=rr.get("schematic", str),
                    component=rr.get("component", str),
                )
                for rr in o.items("rails")
            ),
        )
        for o in r.items("power.odpm", required=False)
    )
    b = r.sub("power.battery")
    battery = Battery(
        voltage_uv=b.get("voltage_uv", int),
        capacity_pct=b.get("capacity_pct", int),
        discharge_current_sign=b.choice("discharge_current_sign", (-1, 1)),
    )
    zones = tuple(
        ThermalZone(type=z.get("type", str), component=z.get("component", str)) for z in r.items("thermal.zones")
    )
    props = r.get("props", dict)
    for key in ("ro.product.model", "ro.product.name", "ro.product.device", "ro.board.platform"):
        if key not in props:
            r.fail(f"props.{key}", "is required")
    profile = Profile(
        name=r.get("name", str),
        model=r.get("model", str),
        soc=r.get("soc", str),
        family=r.choice("family", ("tensor", "snapdragon")),
        props={str(k): str(v) for k, v in props.items()},
        clusters=clusters,
        gpu=gpu,
        devfreq=devfreq,
        odpm=odpm,
        battery=battery,
        thermal_zones=zones,
        memory_bytes=r.get("memory_bytes", int),
        source=source,
    )
    from android.emulator.sim.physics import parse_physics

    object.__setattr__(profile, "physics", parse_physics(r.sub("physics"), profile))
    return profile


class _Reader:
    """Walks a nested dict and reports the dotted path of the first bad field."""

    def __init__(self, data: Any, source: str, prefix: str = ""):
        if not isinstance(data, dict):
            raise ProfileError(f"profile {source}: field {prefix or '<top>'} must be an object")
        self.data, self.source, self.prefix = data, source, prefix

    def _path(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, key: str, why: str) -> None:
        raise ProfileError(f"profile {self.source}: field {self._path(key)} {why}")

    def _walk(self, dotted: str, required: bool = True) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                if not required:
                    return None
                self.fail(dotted, "is missing")
            node = node[part]
        return node

    def get(self, key: str, kind: type | tuple[type, ...]) -> Any:
        value = self._walk(key)
        if isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(key, f"must be {names}, got {type(value).__name__} {value!r}"[:200])
        return value

    def choice(self, key: str, options: tuple) -> Any:
        value = self._walk(key)
        if value not in options:
            self.fail(key, f"must be one of {', '.join(map(str, options))}, got {value!r}")
        return value

    def sub(self, key: str) -> _Reader:
        return _Reader(self._walk(key), self.source, self._path(key))

    def items(self, key: str, required: bool = True) -> list[_Reader]:
        value = self._walk(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(key, "must be a list")
        return [_Reader(v, self.source, f"{self._path(key)}[{i}]") for i, v in enumerate(value)]

    def opps(self, key: str) -> tuple[Opp, ...]:
        """An OPP table: [[freq_hz, volt_uv], ...], strictly increasing in frequency, voltage non-decreasing."""
        value = self._walk(key)
        if not isinstance(value, list) or not value:
            self.fail(key, "must be a non-empty list of [freq_hz, volt_uv] pairs")
        opps = []
        for i, pair in enumerate(value):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in pair)
            ):
                self.fail(f"{key}[{i}]", f"must be [freq_hz, volt_uv] with positive integers, got {pair!r}")
            opps.append(Opp(*pair))
        for i in range(1, len(opps)):
            if opps[i].freq_hz <= opps[i - 1].freq_hz:
                self.fail(f"{key}[{i}]", "is not monotonic: frequencies must strictly increase")
            if opps[i].volt_uv < opps[i - 1].volt_uv:
                self.fail(f"{key}[{i}]", "is not monotonic: voltage must not fall as frequency rises")
        return tuple(opps)
