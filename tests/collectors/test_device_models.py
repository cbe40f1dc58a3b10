"""The virtual phone's GPU counter devices through their Python API and through the sampler's readers:
counter values read by ioctl equal the phone's own counters, kgsl's reservation limits hold, non-root opens
are refused, and the files are where a phone has them."""

import errno
import threading

import numpy as np
import pytest

from android.emulator.devices import devices_of, open_device
from android.emulator.devices.base import LocalMemory
from android.emulator.phone import VirtualPhone
from android.emulator.sim.llm import LlmRequest
from android.emulator.sim.llm_models import load_model
from android.emulator.vfs import SHELL_UID
from collectors.links import PhoneOs


def busy_phone(profile):
    phone = VirtualPhone(profile, seed=3)
    phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 16, 4))
    return phone


@pytest.mark.parametrize("profile,path", [("sm8550", "/dev/kgsl-3d0"), ("pixel7", "/dev/mali0")])
def test_device_node_exists_and_refuses_the_shell_user(profile, path):
    phone = VirtualPhone(profile)
    assert list(devices_of(phone)) == [path]
    assert phone.fs.exists(path)
    with pytest.raises(OSError) as info:
        open_device(phone, path, SHELL_UID)
    assert info.value.errno == errno.EACCES


def test_kgsl_reads_equal_the_phones_counters_and_respect_group_limits(sampler):
    phone = busy_phone("sm8550")
    unit = phone.pmc
    sp = unit.groups["SP"]
    counters = [c for c in unit.catalogue if c.group == "SP"][: sp.n_physical]
    spec = {"counters": [[sp.group_id, c.index] for c in counters]}
    os_ = PhoneOs(phone, threading.Event())
    reader = sampler.KgslCounters(os_, spec)
    first = reader.values()
    truth_first = unit.read_all_totals()
    phone.advance(0.3)
    second = reader.values()
    truth = unit.read_all_totals()
    index = [unit.index_of(c.name) for c in counters]
    assert first == [int(truth_first[i]) for i in index]
    assert second == [int(truth[i]) for i in index]
    assert any(b > a for a, b in zip(first, second))  # the GPU worked
    # the group is full now: one more countable is EBUSY, named in the sampler's error
    extra = [c for c in unit.catalogue if c.group == "SP"][sp.n_physical]
    with pytest.raises(sampler.SamplerError, match="every physical counter of its group is taken"):
        sampler.KgslCounters(os_, {"counters": [[sp.group_id, extra.index]], "labels": {}})
    answer = sampler.KgslCounters.query(os_, {"groups": [sp.group_id]})
    assert answer["groups"][str(sp.group_id)]["max_counters"] == sp.n_physical
    assert sorted(answer["groups"][str(sp.group_id)]["held"]) == sorted(c.index for c in counters)
    reader.close()  # PUT: the counters are free again
    assert unit.free_counters("SP") == sp.n_physical


def test_kgsl_read_of_an_unreserved_countable_is_einval():
    phone = VirtualPhone("sm8550")
    handle = open_device(phone, "/dev/kgsl-3d0", 0)
    import array
    import struct

    from android.emulator.devices import kgsl

    reads = array.array("B", kgsl.READ_GROUP.pack(0xA, 5, 0))
    arg = bytearray(kgsl.READ.pack(reads.buffer_info()[0], 1))
    with pytest.raises(OSError) as info:
        handle.ioctl(kgsl.IOCTL_KGSL_PERFCOUNTER_READ, arg, LocalMemory())
    assert info.value.errno == errno.EINVAL
    assert struct.calcsize(kgsl.READ.format) == 24


def test_mali_reader_sums_cores_and_slices_back_to_the_phones_counters(sampler):
    phone = busy_phone("pixel7")
    unit = phone.pmc
    counters = [[unit.groups[c.group].group_id, c.index] for c in unit.catalogue]
    os_ = PhoneOs(phone, threading.Event())
    reader = sampler.MaliCounters(os_, {"counters": counters, "shader_cores": unit.shape.cores})
    assert reader.l2_slices >= 1 and reader.hw_version >= 5
    reader.prime()
    before = unit.read_all_totals()
    phone.advance(0.2)
    out = []
    reader.read(out)
    after = unit.read_all_totals()
    np.testing.assert_array_equal(np.array(out, dtype=np.uint64), after - before)
    assert max(out) > 0
    reader.close()


def test_mali_version_check_order_is_enforced():
    from android.emulator.devices import mali

    phone = VirtualPhone("pixel7")
    ctx = open_device(phone, "/dev/mali0", 0)
    with pytest.raises(OSError) as info:  # Job-Manager number on a CSF GPU
        ctx.ioctl(mali.KBASE_IOCTL_VERSION_CHECK_JM, bytearray(4), LocalMemory())
    assert info.value.errno == errno.ENOTTY
    with pytest.raises(OSError) as info:  # flags before the version check
        ctx.ioctl(mali.KBASE_IOCTL_SET_FLAGS, bytearray(4), LocalMemory())
    assert info.value.errno == errno.EPERM


def test_proc_stat_counts_the_inference_threads_cpu_time():
    phone = VirtualPhone("pixel7")
    first = phone.fs.read("/proc/stat").decode()
    request = phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 16, 8))
    phone.advance(1.0)
    second = phone.fs.read("/proc/stat").decode()

    def busy(text, cpu):
        fields = next(line for line in text.splitlines() if line.startswith(f"cpu{cpu} ")).split()[1:]
        return int(fields[0])

    assert busy(second, request.cpu) - busy(first, request.cpu) >= 5  # the feeding thread: ~15% busy (FUSE saw 17.5%)
    assert busy(second, 0) - busy(first, 0) < busy(second, request.cpu) - busy(first, request.cpu)
