"""The GPU: Adreno through kgsl (/sys/class/kgsl/kgsl-3d0) or Mali (Pixel's platform device)."""

from __future__ import annotations

from android.device import Device
from android.soc.cpufreq import parse_table
from android.soc.records import FreqControl, GpuInfo

KGSL_DIR = "/sys/class/kgsl/kgsl-3d0"
MALI_PLATFORM_DIR = "/sys/devices/platform"
MALI_MISC_DIR = "/sys/class/misc/mali0/device"


def probe(device: Device) -> GpuInfo | None:
    return _probe_kgsl(device) or _probe_mali(device)


def _probe_kgsl(device: Device) -> GpuInfo | None:
    if not device.exists(f"{KGSL_DIR}/gpuclk"):
        return None
    devfreq = f"{KGSL_DIR}/devfreq"
    files = device.read_many(
        [
            f"{KGSL_DIR}/gpu_available_frequencies",
            f"{KGSL_DIR}/gpu_model",
            f"{devfreq}/governor",
            f"{devfreq}/available_governors",
        ]
    )
    table = parse_table(files[f"{KGSL_DIR}/gpu_available_frequencies"] or "", "hz")
    if not table:
        return None
    control = FreqControl(
        knob="gpu",
        kind="kgsl",
        directory=devfreq,
        unit="hz",
        cur_file="cur_freq",
        min_file="min_freq",
        max_file="max_freq",
        governor_file="governor",
        table_hz=table,
        governor=(files[f"{devfreq}/governor"] or "").strip(),
        available_governors=(files[f"{devfreq}/available_governors"] or "").split(),
    )
    model = (files[f"{KGSL_DIR}/gpu_model"] or "Adreno").strip()
    return GpuInfo(driver="kgsl", model=model, control=control, busy_file=f"{KGSL_DIR}/gpu_busy_percentage")


def _mali_dirs(device: Device) -> list[str]:
    dirs = []
    if device.is_dir(MALI_PLATFORM_DIR):
        dirs += [f"{MALI_PLATFORM_DIR}/{d}" for d in device.listdir(MALI_PLATFORM_DIR) if d.endswith(".mali")]
    if device.is_dir(MALI_MISC_DIR):
        dirs.append(MALI_MISC_DIR)
    return dirs


def _probe_mali(device: Device) -> GpuInfo | None:
    for base in _mali_dirs(device):
        files = device.read_many(
            [
                f"{base}/{f}"
                for f in ("available_frequencies", "governor", "available_governors", "gpu_model", "scaling_min_freq")
            ]
        )
        table = parse_table(files[f"{base}/available_frequencies"] or "", "khz")
        if not table or files[f"{base}/scaling_min_freq"] is None:
            continue
        control = FreqControl(
            knob="gpu",
            kind="mali",
            directory=base,
            unit="khz",
            cur_file="cur_freq",
            min_file="scaling_min_freq",
            max_file="scaling_max_freq",
            governor_file="governor",
            table_hz=table,
            governor=(files[f"{base}/governor"] or "").strip(),
            available_governors=(files[f"{base}/available_governors"] or "").split(),
            exact_writes=True,
        )
        model = (files[f"{base}/gpu_model"] or "Mali").strip()
        return GpuInfo(driver="mali", model=model, control=control, busy_file=f"{base}/utilization")
    return None
