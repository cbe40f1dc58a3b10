"""The DVFS configuration space of a probed device: its knobs, their tables, and settings over them.

Built from `android.probe`'s DeviceInfo, never from a profile's name, so any phone probe understands works
(other policy names, a one-core prime cluster, other table sizes). A *setting* pins some knobs (min = max at
one table frequency, in Hz) and leaves every other knob to its stock governor.

Knob roles say what a knob does for an inference, not what it is called:
- `cpu`: the CPU policy that runs the inference thread (the one whose clock paces the GPU's feeding);
- `gpu`: the GPU;
- `mem`: the main memory bus (`mem` as probe names it);
- `side`: everything else (the other CPU clusters, other devfreq buses). They do not run the inference, so
  they cost power but rarely time; searches may pin them low or leave them to their governors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from android.soc.records import DeviceInfo
from android.units import format_hz
from governor.errors import GovernorError

PRIMARY_ROLES = ("cpu", "gpu", "mem")


@dataclass(frozen=True)
class Knob:
    name: str
    role: str  # "cpu" | "gpu" | "mem" | "side"
    kind: str  # "cpufreq" | "mali" | "kgsl" | "devfreq"
    table_hz: tuple[int, ...]  # ascending
    cpus: tuple[int, ...] = ()

    @property
    def max_hz(self) -> int:
        return self.table_hz[-1]

    @property
    def min_hz(self) -> int:
        return self.table_hz[0]

    def level(self, freq_hz: int) -> int:
        try:
            return self.table_hz.index(int(freq_hz))
        except ValueError:
            table = ", ".join(format_hz(f) for f in self.table_hz)
            raise GovernorError(f"{self.name}: {format_hz(freq_hz)} is not in its table ({table})") from None


@dataclass(frozen=True)
class Setting:
    """Pinned knobs as sorted (knob, Hz) pairs; a knob absent is left to its stock governor. Hashable, so
    measurements are cached by setting."""

    pins: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, pins: Mapping[str, int | None] | None = None) -> Setting:
        items = ((k, int(v)) for k, v in (pins or {}).items() if v is not None)
        return cls(tuple(sorted(items)))

    def as_dict(self) -> dict[str, int]:
        return dict(self.pins)

    def get(self, knob: str) -> int | None:
        return self.as_dict().get(knob)

    def with_pins(self, **changes: int | None) -> Setting:
        merged: dict[str, int | None] = {**self.as_dict(), **changes}
        return Setting.of(merged)

    def label(self) -> str:
        return ", ".join(f"{k}={format_hz(v)}" for k, v in self.pins) or "stock"

    def __str__(self) -> str:
        return self.label()


STOCK = Setting()


@dataclass(frozen=True)
class ConfigSpace:
    """The knobs of one device with the role each plays for an inference running on `inference_cpu`."""

    device: str
    knobs: tuple[Knob, ...]
    inference_cpu: int
    soc: str = "unknown"
    family: str = "unknown"
    names: dict[str, Knob] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", {k.name: k for k in self.knobs})

    @classmethod
    def from_device(cls, info: DeviceInfo, inference_cpu: int | None = None) -> ConfigSpace:
        """Knobs from a probe. The inference thread runs on `inference_cpu` (default: the first CPU of the
        policy with the highest top frequency, where llama.cpp's thread is pinned on big.LITTLE phones)."""
        clusters = [c for c in info.clusters if c.table_hz]
        if not clusters:
            raise GovernorError(f"{info.name}: probe found no CPU policy with a frequency table")
        if inference_cpu is None:
            fastest = max(clusters, key=lambda c: (max(c.table_hz), len(c.cpus)))
            inference_cpu = min(fastest.cpus) if fastest.cpus else 0
        owner = next((c for c in clusters if inference_cpu in c.cpus), None)
        if owner is None:
            cpus = sorted(cpu for c in clusters for cpu in c.cpus)
            raise GovernorError(f"{info.name}: no CPU {inference_cpu} (CPUs {cpus[0]}-{cpus[-1]}); fix --cpu")
        knobs = [
            Knob(c.knob, "cpu" if c is owner else "side", c.kind, tuple(sorted(c.table_hz)), tuple(c.cpus))
            for c in clusters
        ]
        gpu = info.gpu.control
        knobs.append(Knob("gpu", "gpu", gpu.kind, tuple(sorted(gpu.table_hz))))
        for bus in info.memory:
            if bus.table_hz:
                role = "mem" if bus.knob == "mem" else "side"
                knobs.append(Knob(bus.knob, role, bus.kind, tuple(sorted(bus.table_hz))))
        space = cls(info.name, tuple(knobs), inference_cpu, info.soc, info.family)
        if not any(len(k.table_hz) > 1 for k in space.primary):
            raise GovernorError(
                f"{info.name}: no CPU, GPU or memory knob has more than one frequency, so there is nothing to tune"
            )
        return space

    def knob(self, name: str) -> Knob:
        try:
            return self.names[name]
        except KeyError:
            raise GovernorError(f"{self.device}: no knob {name!r}; it has {', '.join(self.names)}") from None

    def role(self, role: str) -> Knob | None:
        return next((k for k in self.knobs if k.role == role), None)

    @property
    def primary(self) -> tuple[Knob, ...]:
        """The knobs the inference's speed depends on: its CPU policy, the GPU, the memory bus (if any)."""
        return tuple(k for r in PRIMARY_ROLES for k in self.knobs if k.role == r)

    @property
    def side(self) -> tuple[Knob, ...]:
        return tuple(k for k in self.knobs if k.role == "side")

    def validate(self, setting: Setting) -> Setting:
        """A setting whose every pin is a knob of this device at one of its table frequencies."""
        for name, freq_hz in setting.pins:
            self.knob(name).level(freq_hz)
        return setting

    def all_max(self) -> Setting:
        return Setting.of({k.name: k.max_hz for k in self.knobs})

    def tables(self) -> dict[str, list[int]]:
        return {k.name: list(k.table_hz) for k in self.knobs}

    def grid(self, knobs: Iterable[Knob], with_stock: Iterable[str] = ()) -> list[Setting]:
        """Every combination of the given knobs' table frequencies (plus 'stock' for the knobs named in
        `with_stock`); the other knobs stay stock."""
        combos: list[dict[str, int | None]] = [{}]
        stock_ok = set(with_stock)
        for knob in knobs:
            values: list[int | None] = list(knob.table_hz) + ([None] if knob.name in stock_ok else [])
            combos = [{**c, knob.name: v} for c in combos for v in values]
        return [Setting.of(c) for c in combos]
