"""ioctl numbers and struct layouts, byte for byte against REFERENCES.md section 2, in the sampler (what runs on
the phone) and in the virtual phone's drivers (what answers it)."""

import struct

from android.emulator.devices import kgsl, mali

# REFERENCES.md section 2
KGSL = {"GET": 0xC0140938, "PUT": 0x40100939, "QUERY": 0xC020093A, "READ": 0xC018093B}
KBASE = {
    "VERSION_CHECK_JM": 0xC0048000,
    "VERSION_CHECK_CSF": 0xC0048034,
    "SET_FLAGS": 0x40048001,
    "HWCNT_READER_SETUP": 0x40148008,
}
READER = {
    "GET_HWVER": 0x8004BE00,
    "GET_BUFFER_SIZE": 0x8004BE01,
    "DUMP": 0x4004BE10,
    "CLEAR": 0x4004BE11,
    "GET_BUFFER": 0x8010BE20,
    "PUT_BUFFER": 0x4010BE21,
    "SET_INTERVAL": 0x4004BE30,
    "GET_API_VERSION": 0x4004BEFF,
}


def test_kgsl_numbers(sampler):
    got = {
        "GET": sampler.IOCTL_KGSL_PERFCOUNTER_GET,
        "PUT": sampler.IOCTL_KGSL_PERFCOUNTER_PUT,
        "QUERY": sampler.IOCTL_KGSL_PERFCOUNTER_QUERY,
        "READ": sampler.IOCTL_KGSL_PERFCOUNTER_READ,
    }
    assert got == KGSL
    driver = {
        "GET": kgsl.IOCTL_KGSL_PERFCOUNTER_GET,
        "PUT": kgsl.IOCTL_KGSL_PERFCOUNTER_PUT,
        "QUERY": kgsl.IOCTL_KGSL_PERFCOUNTER_QUERY,
        "READ": kgsl.IOCTL_KGSL_PERFCOUNTER_READ,
    }
    assert driver == KGSL


def test_kbase_numbers(sampler):
    assert {k: getattr(sampler, f"KBASE_IOCTL_{k}") for k in KBASE} == KBASE
    assert {k: getattr(mali, f"KBASE_IOCTL_{k}") for k in KBASE} == KBASE
    assert {k: getattr(sampler, f"HWCNT_READER_{k}") for k in READER} == READER
    assert {k: getattr(mali, k) for k in READER} == READER


def test_kgsl_structs_pack_as_the_arm64_kernel_lays_them_out(sampler):
    # kgsl_perfcounter_get {u32 groupid, countable, offset, offset_hi, __pad}
    assert sampler.KGSL_GET.pack(0xA, 7, 0, 0, 0) == bytes.fromhex("0a000000 07000000 00000000 00000000 00000000")
    # kgsl_perfcounter_put {u32 groupid, countable, __pad[2]}
    assert sampler.KGSL_PUT.pack(0x1, 3, 0, 0) == bytes.fromhex("01000000 03000000 00000000 00000000")
    # kgsl_perfcounter_query {u32 groupid; (4 pad) u32 *countables; u32 count, max_counters, __pad[2]}
    packed = sampler.KGSL_QUERY.pack(0x9, 0x1122334455667788, 4, 0)
    assert len(packed) == 32 and packed[:4] == b"\x09\0\0\0" and packed[8:16] == struct.pack("<Q", 0x1122334455667788)
    assert packed[16:20] == struct.pack("<I", 4)
    # kgsl_perfcounter_read {read_group *reads; u32 count; __pad[2]} -> 24 bytes with tail padding
    packed = sampler.KGSL_READ.pack(0xAABBCCDD00112233, 5)
    assert packed == struct.pack("<Q", 0xAABBCCDD00112233) + struct.pack("<I", 5) + bytes(12)
    # kgsl_perfcounter_read_group {u32 groupid, countable; u64 value}
    assert sampler.KGSL_READ_GROUP.pack(0xA, 2, 2**40 + 5) == bytes.fromhex("0a000000 02000000") + struct.pack(
        "<Q", 2**40 + 5
    )
    for name in ("GET", "PUT", "QUERY", "READ", "READ_GROUP"):
        assert getattr(sampler, f"KGSL_{name}").format == getattr(kgsl, name).format


def test_kbase_structs(sampler):
    assert sampler.KBASE_VERSION.pack(11, 40) == bytes.fromhex("0b00 2800")
    assert sampler.KBASE_READER_SETUP.pack(4, 1, 2, 3, 5) == struct.pack("<5I", 4, 1, 2, 3, 5)
    assert sampler.KBASE_READER_SETUP.size == 20
    # kbase_hwcnt_reader_metadata {u64 timestamp; u32 event_id; u32 buffer_idx}
    assert sampler.HWCNT_META.pack(2**33, 1, 3) == struct.pack("<Q", 2**33) + bytes.fromhex("01000000 03000000")
    assert (
        sampler.HWCNT_META.format == mali.META.format and sampler.KBASE_READER_SETUP.format == mali.READER_SETUP.format
    )
