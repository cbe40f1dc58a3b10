"""Virtual-phone profiles: one JSON data file per phone, validated field by field on load.

A profile says what the phone *is* (OPP tables, sysfs layout, rails, zones, stock governors). Physics
parameters live in the `physics` section, read by the simulation and validated field by field by
android.emulator.sim.physics (each numeric field within the range its record declares).

Everything a profile file can get wrong is a ProfileError naming the file and the field: types, ranges
(queue depth >= 1, voltages, sizes), names that become sysfs paths (no `/` or `..`), duplicates (CPUs in
two clusters, two knobs of one name), governors the phone does not offer or the simulator does not know
(or that drive another kind of knob), files too big or nested too deep to be a profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from android.emulator.datafiles import builtin_names, read_named_json
from android.emulator.ranges import parse_interval
from android.errors import ProfileError

BUILTIN_DIR = Path(__file__).with_name("profiles")
PROFILE_FORMAT = "fusegov.profile"
PROFILE_VERSION = 1
NAME = re.compile(r"^[A-Za-z0-9_.,:+-]{1,100}$")  # becomes part of a sysfs path: no '/', not '.' or '..'
POLICY = re.compile(r"^policy[0-9]{1,4}$")
IIO = re.compile(r"^iio:device[0-9]{1,4}$")
SYSFS_DIR = re.compile(r"^/sys(/[A-Za-z0-9_.,:+-]{1,100}){1,12}$")
MAX_FREQ_HZ, MAX_VOLT_UV, MAX_OPPS = 100_000_000_000, 5_000_000, 256


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
            policy=c.name("policy", POLICY),
            cpus=c.cpus("cpus"),
            core=c.text("core"),
            capacity=c.number("capacity", int, "[1, 4096]"),
            dynamic_power_coefficient=c.number("dynamic_power_coefficient", (int, float), "(0, 1e4]"),
            opps=c.opps("opp"),
            governor=c.get("governor", str),
            available_governors=c.governors("available_governors"),
        )
        for c in r.items("cpu.clusters")
    )
    if not clusters:
        r.fail("cpu.clusters", "needs at least one cluster")
    g = r.sub("gpu")
    gpu = Gpu(
        driver=g.choice("driver", ("mali", "kgsl")),
        model=g.text("model"),
        sysfs_dir=g.name("sysfs_dir", SYSFS_DIR),
        opps=g.opps("opp"),
        governor=g.get("governor", str),
        available_governors=g.governors("available_governors"),
        pmc_family=g.text("pmc_family"),
        queue_depth=g.number("queue_depth", int, "[1, 64]"),
    )
    devfreq = tuple(
        DevfreqDevice(
            name=d.name("name", NAME),
            knob=d.name("knob", NAME),
            unit=d.choice("unit", ("hz", "khz", "mbps")),
            opps=d.opps("opp"),
            governor=d.get("governor", str),
            available_governors=d.governors("available_governors"),
        )
        for d in r.items("memory.devfreq")
    )
    if sum(d.knob == "mem" for d in devfreq) != 1:
        r.fail("memory.devfreq", "exactly one device must have knob 'mem' (the main DRAM bus)")
    odpm = tuple(
        OdpmDevice(
            iio_name=o.name("iio_name", IIO),
            chip=o.text("chip"),
            sampling_rate_hz=float(o.number("sampling_rate_hz", (int, float), "(0, 1e6]")),
            rails=tuple(
                Rail(
                    channel=rr.number("channel", int, "[0, 63]"),
                    name=rr.name("name", NAME),
                    schematic=rr.text("schematic"),
                    component=rr.name("component", NAME),
                )
                for rr in o.items("rails")
            ),
        )
        for o in r.items("power.odpm", required=False)
    )
    b = r.sub("power.battery")
    battery = Battery(
        voltage_uv=b.number("voltage_uv", int, "[1000000, 10000000]"),
        capacity_pct=b.number("capacity_pct", int, "[0, 100]"),
        discharge_current_sign=b.choice("discharge_current_sign", (-1, 1)),
    )
    zones = tuple(
        ThermalZone(type=z.name("type", NAME), component=z.name("component", NAME)) for z in r.items("thermal.zones")
    )
    props = r.get("props", dict)
    for key in ("ro.product.model", "ro.product.name", "ro.product.device", "ro.board.platform"):
        if key not in props:
            r.fail(f"props.{key}", "is required")
    for key, value in props.items():
        if not isinstance(value, str) or len(key) > 200 or len(value) > 1000:
            r.fail(f"props.{key[:40]}", f"must be a string of at most 1000 characters, got {_short(value)}")
    profile = Profile(
        name=r.name("name", NAME),
        model=r.text("model"),
        soc=r.text("soc"),
        family=r.choice("family", ("tensor", "snapdragon")),
        props={str(k): str(v) for k, v in props.items()},
        clusters=clusters,
        gpu=gpu,
        devfreq=devfreq,
        odpm=odpm,
        battery=battery,
        thermal_zones=zones,
        memory_bytes=r.number("memory_bytes", int, f"[{64 << 20}, {1 << 40}]"),
        source=source,
    )
    _check_unique(r, profile)
    from android.emulator.sim.physics import parse_physics

    object.__setattr__(profile, "physics", parse_physics(r.sub("physics"), profile))
    _check_governors(r, profile)
    return profile


def _check_unique(r: _Reader, profile: Profile) -> None:
    """Names that key sysfs directories or the simulation's state must not repeat."""
    seen_cpus: dict[int, str] = {}
    for i, cluster in enumerate(profile.clusters):
        for cpu in cluster.cpus:
            if cpu in seen_cpus:
                r.fail(f"cpu.clusters[{i}].cpus", f"cpu {cpu} is already in {seen_cpus[cpu]}")
            seen_cpus[cpu] = cluster.policy
    groups = {
        "cpu.clusters (policy)": [c.policy for c in profile.clusters],
        "knob names (policies, gpu, memory.devfreq knob)": profile.knob_names(),
        "memory.devfreq (name)": [d.name for d in profile.devfreq],
        "power.odpm (iio_name)": [o.iio_name for o in profile.odpm],
        "thermal.zones (type)": [z.type for z in profile.thermal_zones],
    }
    groups.update({f"power.odpm {o.iio_name} (channel)": [rr.channel for rr in o.rails] for o in profile.odpm})
    for where, names in groups.items():
        twice = sorted({str(n) for n in names if names.count(n) > 1})
        if twice:
            r.fail(where, f"names {', '.join(twice)} more than once")


def _check_governors(r: _Reader, profile: Profile) -> None:
    """Each knob's governor is one it offers, and every governor it offers is one the simulator runs for
    that kind of knob (a CPU governor cannot drive the GPU)."""
    from android.emulator.sim.governors import KNOB_OWN, REGISTRY

    knobs = [(f"cpu.clusters[{i}]", c, ("cpu",)) for i, c in enumerate(profile.clusters)]
    knobs.append(("gpu", profile.gpu, ("gpu",)))
    knobs += [(f"memory.devfreq[{i}]", d, ("bus", "latency")) for i, d in enumerate(profile.devfreq)]
    for where, knob, kinds in knobs:
        if knob.governor not in knob.available_governors:
            r.fail(
                f"{where}.governor",
                f"{knob.governor[:40]!r} is not in its available_governors ({', '.join(knob.available_governors)})",
            )
        for name in knob.available_governors:
            if name in KNOB_OWN:
                continue
            governor = REGISTRY.get(name)
            if governor is None:
                known = ", ".join(sorted([*REGISTRY, *KNOB_OWN]))
                r.fail(
                    f"{where}.available_governors",
                    f"{name[:40]!r} is not a governor the virtual phone simulates ({known})",
                )
            if governor.kind not in kinds:
                r.fail(
                    f"{where}.available_governors",
                    f"{name!r} drives a {governor.kind} knob, not this one ({'/'.join(kinds)})",
                )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Reader:
    """Walks a nested dict and reports the dotted path of the first bad field."""

    def __init__(self, data: Any, source: str, prefix: str = ""):
        if not isinstance(data, dict):
            raise ProfileError(f"profile {source}: field {prefix or '<top>'} must be an object")
        self.data, self.source, self.prefix = data, source, prefix

    def _path(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, key: str, why: str) -> None:
        raise ProfileError(f"profile {self.source}: field {self._path(key)[:120]} {why}")

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
            self.fail(key, f"must be {names}, got {type(value).__name__} {_short(value)}")
        return value

    def number(self, key: str, kind: type | tuple[type, ...], valid: str) -> Any:
        """A number within an interval ('[1, 64]'); NaN and infinities are never in range."""
        value = self.get(key, kind)
        try:
            inside = value in parse_interval(valid)
        except OverflowError:
            inside = False
        if not inside:
            self.fail(key, f"must be in {valid}, got {_short(value)}")
        return value

    def text(self, key: str, limit: int = 200) -> str:
        """A non-empty string of printable characters."""
        value = self.get(key, str)
        if not value or len(value) > limit or not value.isprintable():
            self.fail(key, f"must be 1 to {limit} printable characters, got {_short(value)}")
        return value

    def name(self, key: str, pattern: re.Pattern) -> str:
        """A name that ends up in a sysfs path or a knob name, in the shape `pattern` allows."""
        value = self.get(key, str)
        if not pattern.match(value) or {".", ".."} & set(value.split("/")):
            self.fail(key, f"{_short(value)} is not a valid name here (pattern {pattern.pattern})")
        return value

    def cpus(self, key: str) -> tuple[int, ...]:
        value = self.get(key, list)
        if (
            not value
            or len(value) > 1024
            or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 1024 for c in value)
        ):
            self.fail(key, f"must be a non-empty list of CPU numbers 0..1023, got {_short(value)}")
        if len(set(value)) != len(value):
            self.fail(key, f"lists a CPU twice: {_short(value)}")
        return tuple(value)

    def governors(self, key: str) -> tuple[str, ...]:
        value = self.get(key, list)
        if not value or not all(isinstance(v, str) and NAME.match(v) for v in value):
            self.fail(key, f"must be a non-empty list of governor names, got {_short(value)}")
        return tuple(value)

    def choice(self, key: str, options: tuple) -> Any:
        value = self._walk(key)
        if isinstance(value, bool) or not any(value == o and type(value) is type(o) for o in options):
            self.fail(key, f"must be one of {', '.join(map(str, options))}, got {_short(value)}")
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
        if not isinstance(value, list) or not value or len(value) > MAX_OPPS:
            self.fail(key, f"must be a list of 1 to {MAX_OPPS} [freq_hz, volt_uv] pairs")
        opps = []
        for i, pair in enumerate(value):
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
                or not (0 < pair[0] <= MAX_FREQ_HZ and 0 < pair[1] <= MAX_VOLT_UV)
            ):
                self.fail(
                    f"{key}[{i}]",
                    f"must be [freq_hz, volt_uv]: 1 Hz..100 GHz and 1 uV..5 V, got {_short(pair)}",
                )
            opps.append(Opp(*pair))
        for i in range(1, len(opps)):
            if opps[i].freq_hz <= opps[i - 1].freq_hz:
                self.fail(f"{key}[{i}]", "is not monotonic: frequencies must strictly increase")
            if opps[i].volt_uv < opps[i - 1].volt_uv:
                self.fail(f"{key}[{i}]", "is not monotonic: voltage must not fall as frequency rises")
        return tuple(opps)
