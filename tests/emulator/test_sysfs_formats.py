"""Every virtual sysfs file against the kernel formats in REFERENCES.md section 4, byte for byte."""

import re

import pytest

from android.emulator.phone import VirtualPhone
from android.errors import DevicePathError

POLICY6 = "/sys/devices/system/cpu/cpufreq/policy6"
MALI = "/sys/devices/platform/28000000.mali"
KGSL = "/sys/class/kgsl/kgsl-3d0"


@pytest.fixture(scope="module")
def pixel7():
    return VirtualPhone("pixel7")


@pytest.fixture(scope="module")
def sm8550():
    return VirtualPhone("sm8550")


def read(phone, path):
    return phone.fs.read(path).decode()


def test_cpufreq_formats(pixel7):
    freqs = read(pixel7, f"{POLICY6}/scaling_available_frequencies")
    assert freqs.startswith("500000 851000 ") and freqs.endswith("2802000 2850000 \n")  # trailing space
    assert (
        read(pixel7, f"{POLICY6}/scaling_available_governors")
        == "sched_pixel schedutil performance powersave userspace \n"
    )
    assert read(pixel7, "/sys/devices/system/cpu/cpufreq/policy0/related_cpus") == "0 1 2 3\n"
    assert read(pixel7, f"{POLICY6}/related_cpus") == "6 7\n"
    for name in ("scaling_cur_freq", "scaling_min_freq", "scaling_max_freq"):
        assert re.fullmatch(r"\d+\n", read(pixel7, f"{POLICY6}/{name}"))
    assert read(pixel7, f"{POLICY6}/scaling_min_freq") == "500000\n"
    assert read(pixel7, f"{POLICY6}/scaling_max_freq") == "2850000\n"
    rows = read(pixel7, f"{POLICY6}/stats/time_in_state").splitlines()
    assert len(rows) == 18 and all(re.fullmatch(r"\d+ \d+", r) for r in rows)
    # the per-cpu view is the policy
    assert read(pixel7, "/sys/devices/system/cpu/cpu7/cpufreq/related_cpus") == "6 7\n"


def test_time_in_state_moves_with_time_in_10ms_units(pixel7):
    phone = VirtualPhone("pixel7")
    phone.advance(1.0)
    rows = dict(r.split() for r in read(phone, f"{POLICY6}/stats/time_in_state").splitlines())
    used = [int(ticks) for ticks in rows.values() if int(ticks)]
    # 1 s is 100 ticks of 10 ms, spread over the levels used; each row truncates to whole ticks
    assert 100 - len(used) <= sum(used) <= 100


def test_mali_formats(pixel7):
    table = read(pixel7, f"{MALI}/available_frequencies")
    assert table == "848000 762000 701000 572000 510000 471000 400000 351000 302000 251000 202000 151000 \n"
    assert re.fullmatch(r"\d+\n", read(pixel7, f"{MALI}/utilization"))
    assert read(pixel7, f"{MALI}/cur_freq") == f"{pixel7.gpu.cur_hz // 1000}\n"
    assert read(pixel7, f"{MALI}/governor") == "quickstep\n"
    assert read(pixel7, "/sys/class/misc/mali0/device/cur_freq") == read(pixel7, f"{MALI}/cur_freq")


def test_kgsl_formats(sm8550):
    phone = sm8550
    table = read(phone, f"{KGSL}/gpu_available_frequencies")
    assert table.startswith("719000000 680000000 ") and table.endswith(" 124800000 \n")
    assert read(phone, f"{KGSL}/gpuclk") == f"{phone.gpu.cur_hz}\n"
    assert read(phone, f"{KGSL}/max_gpuclk") == "719000000\n"
    assert read(phone, f"{KGSL}/num_pwrlevels") == "10\n"
    assert read(phone, f"{KGSL}/freq_table_mhz").endswith(" 124 \n")
    phone.state.gpu_load.busy_s, phone.state.gpu_load.total_s = 0.037, 0.1
    assert read(phone, f"{KGSL}/gpu_busy_percentage") == "37 %\n"
    assert read(phone, f"{KGSL}/gpubusy") == "  37000  100000\n"
    assert read(phone, f"{KGSL}/devfreq/governor") == "msm-adreno-tz\n"


def test_devfreq_formats(pixel7, sm8550):
    mif = read(pixel7, "/sys/class/devfreq/17000010.devfreq_mif/available_frequencies")
    assert mif == (
        "421000 546000 676000 845000 1014000 1352000 1539000 1716000 2028000 2288000 2535000 2730000 3172000\n"
    )  # no trailing space
    ddr = read(sm8550, "/sys/class/devfreq/soc:qcom,cpu-llcc-ddr-bw/available_frequencies")
    assert ddr.startswith("2086 2929 ") and ddr.endswith(" 16265\n")
    for name in ("cur_freq", "min_freq", "max_freq"):
        assert re.fullmatch(r"\d+\n", read(pixel7, f"/sys/class/devfreq/17000010.devfreq_mif/{name}"))
    assert read(pixel7, "/sys/class/devfreq/17000010.devfreq_mif/governor") == "interactive\n"


def test_odpm_formats(pixel7):
    phone = VirtualPhone("pixel7")
    phone.state.rail_energy_j[("iio:device1", 0)] = 12.3456789
    text = read(phone, "/sys/bus/iio/devices/iio:device1/energy_value")
    lines = text.splitlines()
    t_ms = int(phone.state.uptime_s * 1000)
    assert lines[0] == f"t={t_ms}"
    assert lines[1] == f"CH0(T={t_ms})[S2S_VDD_G3D], 12345678"
    assert all(re.fullmatch(r"CH\d+\(T=\d+\)\[\w+\], \d+", line) for line in lines[1:])
    assert read(phone, "/sys/bus/iio/devices/iio:device0/sampling_rate") == "500.000000\n"
    assert read(phone, "/sys/bus/iio/devices/iio:device1/enabled_rails").startswith(
        "CH0[S2S_VDD_G3D]:VSYS_PWR_G3D\nCH1[S4S_VDD2H_MEM]:"
    )


def test_odpm_reads_within_50ms_return_the_cached_block():
    phone = VirtualPhone("pixel7")
    path = "/sys/bus/iio/devices/iio:device0/energy_value"
    first = read(phone, path)
    phone.state.rail_energy_j[("iio:device0", 0)] = 1.0
    phone.advance(0.030)
    assert read(phone, path) == first  # 30 ms later: cached
    phone.advance(0.030)
    fresh = read(phone, path)
    uws = int(fresh.splitlines()[1].rsplit(", ", 1)[1])
    assert fresh != first and uws >= 1_000_000  # the 1 J set above, plus what the idle phone drew


def test_battery_and_thermal_units():
    phone = VirtualPhone("pixel7")
    phone.state.battery_current_a, phone.state.battery_voltage_v = 0.75, 4.1
    assert read(phone, "/sys/class/power_supply/battery/current_now") == "-750000\n"  # Pixel: discharge < 0
    assert read(phone, "/sys/class/power_supply/battery/voltage_now") == "4100000\n"
    qcom = VirtualPhone("sm8550")
    qcom.state.battery_current_a = 0.75
    assert read(qcom, "/sys/class/power_supply/battery/current_now") == "750000\n"
    phone.state.zone_temp_c["BIG"] = 41.5
    assert read(phone, "/sys/class/thermal/thermal_zone0/type") == "BIG\n"
    assert read(phone, "/sys/class/thermal/thermal_zone0/temp") == "41500\n"


def test_thermal_bindings_name_the_trip_and_link_the_cooling_device():
    """pixel7's BIG zone: power_allocator's switch-on trip (0) has no binding, its control trip (1) throttles
    the third CPU policy; the skin zone binds three devices to its one trip, numbered per zone from 0."""
    phone = VirtualPhone("pixel7")
    big = "/sys/class/thermal/thermal_zone0"
    assert read(phone, f"{big}/cdev0_trip_point") == "1\n"
    assert read(phone, f"{big}/cdev0/type") == "thermal-cpufreq-2\n"
    with pytest.raises(DevicePathError):
        read(phone, f"{big}/cdev1_trip_point")
    skin = next(i for i, z in enumerate(phone.profile.thermal_zones) if z.type == "neutral_therm")
    skin_dir = f"/sys/class/thermal/thermal_zone{skin}"
    assert [read(phone, f"{skin_dir}/cdev{j}_trip_point") for j in range(3)] == ["0\n"] * 3
    assert {read(phone, f"{skin_dir}/cdev{j}/type") for j in range(3)} == {
        "thermal-cpufreq-2\n",
        "thermal-cpufreq-1\n",
        "thermal-gpufreq-0\n",
    }
