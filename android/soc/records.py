"""What probing finds, as plain records that serialise to JSON (`fusegov probe --json`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FreqControl:
    """Where one knob lives and how to speak to it: files, native unit, table (Hz, ascending)."""

    knob: str
    kind: str  # "cpufreq" | "mali" | "kgsl" | "devfreq"
    directory: str
    unit: str  # native unit of the files below: "hz", "khz", "mhz" or "mbps"
    cur_file: str
    min_file: str
    max_file: str
    governor_file: str
    table_hz: list[int]
    governor: str
    available_governors: list[str]
    cpus: list[int] = field(default_factory=list)  # cpufreq policies only
    exact_writes: bool = False  # Mali: a written clock must be a table entry exactly

    def path(self, file: str) -> str:
        return f"{self.directory}/{file}"


@dataclass
class GpuInfo:
    driver: str  # "mali" | "kgsl"
    model: str
    control: FreqControl
    busy_file: str  # utilisation: Mali `utilization` ("%d"), kgsl `gpu_busy_percentage` ("37 %")


@dataclass
class RailInfo:
    source: str  # "odpm"
    device_dir: str  # iio device directory with energy_value
    channel: int
    name: str
    component: str  # knob it powers (policy6, gpu, mem) or "other"


@dataclass
class ZoneInfo:
    index: int
    type: str
    temp_file: str
    component: str
    trips: list[list[float]] = field(default_factory=list)  # passive trips something throttles at: [C, hysteresis C]


@dataclass
class BatteryInfo:
    directory: str
    current_file: str  # microamps; sign of discharge varies by driver
    voltage_file: str  # microvolts


@dataclass
class DeviceInfo:
    name: str
    model: str
    soc: str
    family: str
    clusters: list[FreqControl]
    gpu: GpuInfo
    memory: list[FreqControl]
    rails: list[RailInfo]
    battery: BatteryInfo | None
    zones: list[ZoneInfo]

    @property
    def knobs(self) -> dict[str, FreqControl]:
        found = {c.knob: c for c in self.clusters}
        found["gpu"] = self.gpu.control
        found.update({m.knob: m for m in self.memory})
        return found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceInfo:
        gpu = dict(data["gpu"])
        gpu["control"] = FreqControl(**gpu["control"])
        return cls(
            name=data["name"],
            model=data["model"],
            soc=data["soc"],
            family=data["family"],
            clusters=[FreqControl(**c) for c in data["clusters"]],
            gpu=GpuInfo(**gpu),
            memory=[FreqControl(**m) for m in data["memory"]],
            rails=[RailInfo(**r) for r in data["rails"]],
            battery=BatteryInfo(**data["battery"]) if data.get("battery") else None,
            zones=[ZoneInfo(**z) for z in data["zones"]],
        )
