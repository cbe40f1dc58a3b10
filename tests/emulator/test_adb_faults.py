"""Faults against `fusegov emulate`: each must leave the phone serving, with its state intact. The raw
clients here build packets by hand (struct, not fusegov's code) to be able to break them."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from tests.helpers.adb import Emulator

CNXN, OPEN, OKAY, WRTE, CLSE = b"CNXN", b"OPEN", b"OKAY", b"WRTE", b"CLSE"
POLICY0_MAX = "/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq"
KEEP = "/data/local/tmp/keep.txt"


def _word(tag: bytes) -> int:
    return struct.unpack("<I", tag)[0]


def packet(
    tag: bytes, arg0: int, arg1: int, data: bytes = b"", crc: int | None = None, magic: int | None = None
) -> bytes:
    command = _word(tag)
    crc = sum(data) & 0xFFFFFFFF if crc is None else crc
    magic = command ^ 0xFFFFFFFF if magic is None else magic
    return struct.pack("<6I", command, arg0, arg1, len(data), crc, magic) + data


def recv_packet(sock: socket.socket) -> tuple[bytes, int, int, bytes]:
    header = _recv_exact(sock, 24)
    command, arg0, arg1, length, _, _ = struct.unpack("<6I", header)
    return struct.pack("<I", command), arg0, arg1, _recv_exact(sock, length)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed")
        buf += chunk
    return buf


def raw_client(port: int, version: int = 0x01000000) -> socket.socket:
    """A device-transport client that has done the CNXN handshake (checksums checked at this version)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(packet(CNXN, version, 4096, b"host::faults\0"))
    tag, _, _, banner = recv_packet(sock)
    assert tag == CNXN and banner.startswith(b"device::")
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture()
def phone_state(pixel7: Emulator):  # noqa: F811
    """Known state before a fault; the test checks it survived."""
    assert pixel7.shell(f"echo original > {KEEP}").returncode == 0
    assert pixel7.adb("shell", "su", "-c", f"'echo 1197000 > {POLICY0_MAX}'").returncode == 0
    yield pixel7
    assert pixel7.shell(f"cat {KEEP}").stdout == b"original\n"
    assert pixel7.shell(f"cat {POLICY0_MAX}").stdout == b"1197000\n"
    assert pixel7.adb("shell", "su", "-c", f"'echo 1803000 > {POLICY0_MAX}'").returncode == 0


def test_client_disconnecting_mid_push_leaves_the_old_file(phone_state: Emulator):
    """Two whole DATA chunks of a longer push arrive (and are acknowledged, so the phone has read them),
    then the client vanishes before DONE: a phone that wrote chunks as they came would now hold them."""
    sock = raw_client(phone_state.port)
    sock.sendall(packet(OPEN, 1, 0, b"sync:\0"))
    tag, remote_id, _, _ = recv_packet(sock)
    assert tag == OKAY
    spec = f"{KEEP},{0o100644}".encode()
    chunk = b"DATA" + struct.pack("<I", 30000) + b"x" * 30000
    sock.sendall(packet(WRTE, 1, remote_id, b"SEND" + struct.pack("<I", len(spec)) + spec + chunk))
    assert recv_packet(sock)[0] == OKAY
    sock.sendall(packet(WRTE, 1, remote_id, chunk))
    assert recv_packet(sock)[0] == OKAY
    sock.close()  # gone between chunks: no DONE
    assert phone_state.shell(f"cat {KEEP}").stdout == b"original\n"


def test_malformed_packet_closes_only_that_connection(phone_state: Emulator):
    sock = socket.create_connection(("127.0.0.1", phone_state.port), timeout=10)
    sock.sendall(b"\x00GARBAGE-not-an-adb-header-at-all\xff" * 2)
    assert closed_by_peer(sock)
    sock.close()
    assert phone_state.shell("echo still here").stdout == b"still here\n"


def test_wrong_checksum_is_refused_and_a_right_one_served(phone_state: Emulator):
    good = raw_client(phone_state.port)
    good.sendall(packet(OPEN, 7, 0, b"shell:echo checked\0"))
    tag, remote_id, local_id, _ = recv_packet(good)
    assert (tag, local_id) == (OKAY, 7)
    tag, _, _, data = recv_packet(good)
    assert (tag, data) == (WRTE, b"checked\n")
    good.close()
    bad = raw_client(phone_state.port)
    bad.sendall(packet(OPEN, 1, 0, f"shell:echo lost > {KEEP}\0".encode(), crc=12345))
    assert closed_by_peer(bad)
    bad.close()


def test_unknown_service_is_refused_and_the_connection_goes_on(phone_state: Emulator):
    sock = raw_client(phone_state.port)
    sock.sendall(packet(OPEN, 3, 0, b"frobnicate:now\0"))
    assert recv_packet(sock)[:3] == (CLSE, 0, 3)
    sock.sendall(packet(OPEN, 4, 0, b"shell:getprop ro.product.device\0"))
    tag, remote_id, _, _ = recv_packet(sock)
    assert tag == OKAY
    assert recv_packet(sock)[3] == b"panther\n"
    sock.sendall(packet(OKAY, 4, remote_id))
    assert recv_packet(sock)[0] == CLSE
    sock.close()
    refused = phone_state.adb("reboot")  # a service this phone does not offer
    assert refused.returncode != 0


def test_second_client_during_a_long_shell_command(phone_state: Emulator):
    long_result = {}

    def long_command() -> None:
        long_result["out"] = phone_state.shell("sleep 2; echo slept")

    thread = threading.Thread(target=long_command)
    started = time.monotonic()
    thread.start()
    time.sleep(0.3)
    quick = phone_state.shell("cat /proc/uptime")
    quick_s = time.monotonic() - started
    thread.join(30)
    assert quick.returncode == 0 and quick_s < 1.5  # answered while the other command still sleeps
    assert long_result["out"].stdout == b"slept\n"
    assert time.monotonic() - started >= 1.9  # served, the simulation runs in real time (10 ms steps)
