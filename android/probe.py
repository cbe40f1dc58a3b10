"""`fusegov probe`: find a phone's CPU policies, GPU, memory buses, rails and zones by looking."""

from __future__ import annotations

from android.device import Device
from android.errors import ProbeError
from android.soc import cpufreq, devfreq, gpu, power, thermal
from android.soc.families import family_for_gpu
from android.soc.records import DeviceInfo


def probe_device(device: Device) -> DeviceInfo:
    clusters = cpufreq.probe(device)
    if not clusters:
        raise ProbeError(f"{device.name}: no cpufreq policies under /sys/devices/system/cpu/cpufreq")
    found_gpu = gpu.probe(device)
    if found_gpu is None:
        raise ProbeError(
            f"{device.name}: no GPU found (looked for kgsl at {gpu.KGSL_DIR} and Mali under "
            f"{gpu.MALI_PLATFORM_DIR}/*.mali and {gpu.MALI_MISC_DIR})"
        )
    family = family_for_gpu(found_gpu.driver)
    policies = [c.knob for c in clusters]
    return DeviceInfo(
        name=device.name,
        model=device.getprop("ro.product.model") or "unknown",
        soc=device.getprop("ro.board.platform") or device.getprop("ro.soc.model") or "unknown",
        family=family.name,
        clusters=clusters,
        gpu=found_gpu,
        memory=devfreq.probe(device, family),
        rails=power.probe_rails(device, family, policies),
        battery=power.probe_battery(device),
        zones=thermal.probe(device, family, policies),
    )
