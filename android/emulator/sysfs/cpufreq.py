"""cpufreq policies at /sys/devices/system/cpu/cpufreq/policyN (values in kHz)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from android.emulator.sysfs.values import parse_uint, parse_word, spaced
from android.errors import InvalidValueError

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

CPU_DIR = "/sys/devices/system/cpu"
DRIVER = {"tensor": "exynos_cpufreq", "snapdragon": "qcom-cpufreq-hw"}


def build(phone: VirtualPhone) -> None:
    fs, dev = phone.fs, phone.serial
    all_cpus = sorted(c for cl in phone.profile.clusters for c in cl.cpus)
    span = f"{all_cpus[0]}-{all_cpus[-1]}\n"
    for name in ("online", "possible", "present"):
        fs.attr(f"{CPU_DIR}/{name}", lambda s=span: s)
    for cluster in phone.profile.clusters:
        knob = phone.knobs[cluster.policy]
        base = f"{CPU_DIR}/cpufreq/{cluster.policy}"
        khz = [int(f // 1000) for f in knob.table_hz]
        cpus = " ".join(map(str, cluster.cpus)) + "\n"

        def store_min(text: str, knob=knob, path=f"{base}/scaling_min_freq") -> None:
            knob.min_request_hz = parse_uint(dev, path, text) * 1000

        def store_max(text: str, knob=knob, path=f"{base}/scaling_max_freq") -> None:
            knob.max_request_hz = parse_uint(dev, path, text) * 1000

        def store_governor(text: str, knob=knob, path=f"{base}/scaling_governor") -> None:
            name = parse_word(text)
            if name not in knob.available_governors:
                raise InvalidValueError(dev, path, text.strip(), " ".join(knob.available_governors))
            knob.set_governor(name)

        def show_setspeed(knob=knob) -> str:
            return f"{knob.cur_hz // 1000}\n" if knob.governor == "userspace" else "<unsupported>\n"

        def store_setspeed(text: str, knob=knob, path=f"{base}/scaling_setspeed") -> None:
            value = parse_uint(dev, path, text) * 1000
            if knob.governor != "userspace":
                raise InvalidValueError(dev, path, text.strip(), "only with the userspace governor")
            knob.target_hz = knob.floor_hz(value)

        def show_time_in_state(knob=knob, khz=khz) -> str:
            ticks = (knob.time_in_state_s * 100).astype(int)  # 10 ms units, as USER_HZ=100
            return "".join(f"{f} {t}\n" for f, t in zip(khz, ticks))

        fs.attr(f"{base}/affected_cpus", lambda s=cpus: s)
        fs.attr(f"{base}/related_cpus", lambda s=cpus: s)
        fs.attr(f"{base}/cpuinfo_min_freq", lambda v=khz[0]: f"{v}\n")
        fs.attr(f"{base}/cpuinfo_max_freq", lambda v=khz[-1]: f"{v}\n")
        fs.attr(f"{base}/cpuinfo_cur_freq", lambda k=knob: f"{k.cur_hz // 1000}\n", mode=0o400)
        fs.attr(f"{base}/cpuinfo_transition_latency", lambda: "500000\n")
        fs.attr(f"{base}/scaling_available_frequencies", lambda s=spaced(khz, True): s)
        fs.attr(f"{base}/scaling_available_governors", lambda k=knob: spaced(k.available_governors, True))
        fs.attr(f"{base}/scaling_driver", lambda d=DRIVER[phone.profile.family]: f"{d}\n")
        fs.attr(f"{base}/scaling_cur_freq", lambda k=knob: f"{k.cur_hz // 1000}\n")
        fs.attr(f"{base}/scaling_min_freq", lambda k=knob: f"{k.min_hz // 1000}\n", store_min)
        fs.attr(f"{base}/scaling_max_freq", lambda k=knob: f"{k.max_hz // 1000}\n", store_max)
        fs.attr(f"{base}/scaling_governor", lambda k=knob: f"{k.governor}\n", store_governor)
        fs.attr(f"{base}/scaling_setspeed", show_setspeed, store_setspeed)
        fs.attr(f"{base}/stats/time_in_state", show_time_in_state)
        fs.attr(f"{base}/stats/total_trans", lambda k=knob: f"{k.transitions}\n")
        for cpu in cluster.cpus:
            fs.symlink(f"{CPU_DIR}/cpu{cpu}/cpufreq", f"../cpufreq/{cluster.policy}")
            fs.attr(f"{CPU_DIR}/cpu{cpu}/online", lambda: "1\n")
