"""Write semantics of the virtual sysfs: snapping, clamping, EINVAL, permissions, min above max."""

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.vfs import SHELL_UID
from android.errors import DevicePathError, DevicePermissionError, InvalidValueError

POLICY6 = "/sys/devices/system/cpu/cpufreq/policy6"
MALI = "/sys/devices/platform/28000000.mali"
KGSL = "/sys/class/kgsl/kgsl-3d0"
MIF = "/sys/class/devfreq/17000010.devfreq_mif"


def rw(phone, path, value=None, uid=0):
    if value is not None:
        phone.fs.write(path, f"{value}\n".encode(), uid)
    return phone.fs.read(path).decode().strip()


def test_cpufreq_snaps_like_resolve_freq():
    phone = VirtualPhone("pixel7")
    assert rw(phone, f"{POLICY6}/scaling_max_freq", 1500000) == "1426000"  # highest <= value
    assert rw(phone, f"{POLICY6}/scaling_min_freq", 1000000) == "1106000"  # lowest >= value
    assert rw(phone, f"{POLICY6}/scaling_max_freq", 9999999) == "2850000"  # clamped to hardware


def test_cpufreq_min_above_max_keeps_request_and_caps_min():
    phone = VirtualPhone("pixel7")
    rw(phone, f"{POLICY6}/scaling_max_freq", 1426000)
    assert rw(phone, f"{POLICY6}/scaling_min_freq", 2252000) == "1426000"
    assert rw(phone, f"{POLICY6}/scaling_cur_freq") == "1426000"
    assert rw(phone, f"{POLICY6}/scaling_max_freq", 2850000) == "2850000"
    assert rw(phone, f"{POLICY6}/scaling_min_freq") == "2252000"  # the request comes back


def test_non_numeric_write_is_invalid_and_names_the_file():
    phone = VirtualPhone("pixel7")
    with pytest.raises(InvalidValueError, match="scaling_max_freq.*'fast'"):
        rw(phone, f"{POLICY6}/scaling_max_freq", "fast")
    with pytest.raises(InvalidValueError):
        rw(phone, f"{MIF}/min_freq", "-5")


def test_non_root_write_is_permission_denied_and_changes_nothing():
    phone = VirtualPhone("pixel7")
    with pytest.raises(DevicePermissionError, match="permission denied"):
        rw(phone, f"{POLICY6}/scaling_max_freq", 1426000, uid=SHELL_UID)
    assert rw(phone, f"{POLICY6}/scaling_max_freq") == "2850000"
    assert phone.fs.read(f"{POLICY6}/scaling_max_freq", SHELL_UID) == b"2850000\n"  # reading is allowed


def test_read_only_files_reject_writes_even_for_root():
    phone = VirtualPhone("pixel7")
    with pytest.raises(DevicePermissionError):
        rw(phone, f"{POLICY6}/scaling_available_frequencies", 1)
    with pytest.raises(DevicePermissionError):
        rw(phone, f"{POLICY6}/new_file", 1)  # sysfs has no file creation


def test_missing_path_is_named():
    phone = VirtualPhone("pixel7")
    with pytest.raises(DevicePathError, match="policy9"):
        rw(phone, "/sys/devices/system/cpu/cpufreq/policy9/scaling_max_freq")


def test_governor_switch_among_available_ones():
    phone = VirtualPhone("pixel7")
    assert rw(phone, f"{POLICY6}/scaling_governor", "performance") == "performance"
    assert rw(phone, f"{POLICY6}/scaling_cur_freq") == "2850000"
    assert rw(phone, f"{POLICY6}/scaling_governor", "powersave") == "powersave"
    assert rw(phone, f"{POLICY6}/scaling_cur_freq") == "500000"
    with pytest.raises(InvalidValueError, match="ondemand.*allowed"):
        rw(phone, f"{POLICY6}/scaling_governor", "ondemand")
    assert rw(phone, f"{MIF}/governor", "performance") == "performance"
    assert rw(phone, f"{MIF}/cur_freq") == "3172000"


def test_userspace_governor_takes_scaling_setspeed():
    phone = VirtualPhone("pixel7")
    assert rw(phone, f"{POLICY6}/scaling_setspeed") == "<unsupported>"
    with pytest.raises(InvalidValueError):
        rw(phone, f"{POLICY6}/scaling_setspeed", 1426000)
    rw(phone, f"{POLICY6}/scaling_governor", "userspace")
    assert rw(phone, f"{POLICY6}/scaling_setspeed", 1500000) == "1426000"
    assert rw(phone, f"{POLICY6}/scaling_cur_freq") == "1426000"


def test_mali_needs_an_exact_table_clock():
    phone = VirtualPhone("pixel7")
    with pytest.raises(InvalidValueError, match="hint_max_freq.*848000 762000"):
        rw(phone, f"{MALI}/hint_max_freq", 800000)
    assert rw(phone, f"{MALI}/scaling_max_freq", 572000) == "572000"
    assert rw(phone, f"{MALI}/cur_freq") == "572000"
    # hint and scaling locks intersect
    rw(phone, f"{MALI}/hint_max_freq", 471000)
    assert rw(phone, f"{MALI}/cur_freq") == "471000"
    rw(phone, f"{MALI}/scaling_min_freq", 701000)  # min above the window: pulled to the max
    assert rw(phone, f"{MALI}/cur_freq") == "471000"


def test_kgsl_snaps_to_nearest_level_and_pulls_min_down():
    phone = VirtualPhone("sm8550")
    assert rw(phone, f"{KGSL}/max_gpuclk", 600000000) == "615000000"
    assert rw(phone, f"{KGSL}/gpuclk") == "615000000"
    assert rw(phone, f"{KGSL}/min_clock_mhz", 700) == "615"  # above max -> max
    assert rw(phone, f"{KGSL}/max_clock_mhz", 300) == "295"
    assert rw(phone, f"{KGSL}/min_clock_mhz") == "295"
    assert rw(phone, f"{KGSL}/max_pwrlevel") == "7"  # level 0 is the highest


def test_devfreq_clamps_zero_lifts_and_min_above_max():
    phone = VirtualPhone("pixel7")
    assert rw(phone, f"{MIF}/max_freq", 2000000) == "2000000"  # kept as asked, within range
    assert rw(phone, f"{MIF}/cur_freq") == "1716000"  # runs at the highest level <= max
    assert rw(phone, f"{MIF}/min_freq", 2500000) == "2000000"  # min above max shows max
    assert rw(phone, f"{MIF}/max_freq", 0) == "3172000"  # 0 lifts the limit
    assert rw(phone, f"{MIF}/min_freq") == "2500000"
    rw(phone, f"{MIF}/governor", "powersave")
    assert rw(phone, f"{MIF}/cur_freq") == "2535000"  # lowest level >= min
    sm = VirtualPhone("sm8550")
    ddr = "/sys/class/devfreq/soc:qcom,cpu-llcc-ddr-bw"
    assert rw(sm, f"{ddr}/max_freq", 7980) == "7980"
    assert rw(sm, f"{ddr}/cur_freq") == "7980"


def test_thermal_cap_limits_max_and_cur():
    phone = VirtualPhone("pixel7")
    phone.knobs["policy6"].thermal_cap_hz = 2_000_000_000
    assert rw(phone, f"{POLICY6}/scaling_max_freq") == "1826000"
    assert rw(phone, f"{POLICY6}/scaling_cur_freq") == "1826000"


def test_plain_files_in_data_local_tmp_are_writable_by_shell():
    phone = VirtualPhone("pixel7")
    phone.fs.write("/data/local/tmp/x.txt", b"hello", SHELL_UID)
    phone.fs.write("/data/local/tmp/x.txt", b" world", SHELL_UID, append=True)
    assert phone.fs.read("/data/local/tmp/x.txt", SHELL_UID) == b"hello world"
    with pytest.raises(DevicePermissionError):
        phone.fs.write("/system/bin/evil", b"x", SHELL_UID)
