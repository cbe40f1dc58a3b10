"""The served phone's limits, each against a client that pushes them: flow control on streams, the phone's
storage size, connections and streams per connection, the handshake deadline, adb's RSA authentication.
While one client is held at a limit, others keep being served."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest

from android.emulator.adbd.auth import load_public_keys
from android.emulator.adbd.server import AdbLimits, AdbServer
from android.emulator.adbd.shell_service import STDIN_BUFFER_BYTES
from android.emulator.phone import VirtualPhone
from android.emulator.shell import run_shell
from android.emulator.vfs import SHELL_UID
from android.errors import FusegovError
from tests.emulator.test_adb_faults import CLSE, OKAY, OPEN, WRTE, closed_by_peer, packet, raw_client, recv_packet
from tests.helpers.adb import Emulator, start_emulator, stop_emulator, wait_for_state

LIMITED = ("--storage", "4MiB", "--max-connections", "4", "--max-streams", "3")


@pytest.fixture(scope="module")
def limited(adb_server) -> Emulator:
    """This module's own phone (no other module uses these limits), stopped at the module's end rather than
    idling, ticking its simulation, until the session ends."""
    emulator = start_emulator(adb_server, "pixel4", *LIMITED)
    yield emulator
    stop_emulator(emulator)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _closed_eventually(sock: socket.socket, timeout_s: float = 10.0) -> bool:
    """The peer closes the connection (whatever it sent before) within the timeout."""
    sock.settimeout(timeout_s)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _open(sock: socket.socket, local_id: int, service: bytes) -> int:
    sock.sendall(packet(OPEN, local_id, 0, service + b"\0"))
    tag, remote_id, _, _ = recv_packet(sock)
    assert tag == OKAY
    return remote_id


def _okay_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return recv_packet(sock)[0] == OKAY
    except TimeoutError:
        return False
    finally:
        sock.settimeout(10)


@pytest.mark.slow  # a served phone of its own, or RSA key generation
def test_stdin_is_acknowledged_only_as_the_command_reads_it(limited: Emulator):
    sock = raw_client(limited.port)
    try:
        reader = _open(sock, 1, b"shell:cat > /dev/null")
        for _ in range(8):  # a command that reads: every WRTE is acknowledged
            sock.sendall(packet(WRTE, 1, reader, b"x" * 65536))
            assert _okay_within(sock, 10)
        sleeper = _open(sock, 2, b"shell:sleep 600")
        sock.sendall(packet(WRTE, 2, sleeper, b"y" * 65536))
        assert not _okay_within(sock, 0.5)  # nobody reads `sleep`'s stdin: no OKAY, the client must wait
        assert limited.shell("echo served").stdout == b"served\n"  # meanwhile, other clients are served
        flood = packet(WRTE, 2, sleeper, b"z" * 262144)
        for _ in range(8):  # a client that ignores flow control is cut off, not buffered
            try:
                sock.sendall(flood)
            except OSError:
                break
        assert _closed_eventually(sock)
    finally:
        sock.close()
    assert limited.shell("echo still served").stdout == b"still served\n"


@pytest.mark.slow  # a served phone of its own, or RSA key generation
def test_shell_v2_stdin_of_a_command_that_never_reads_stops_at_a_pipe_buffer(limited: Emulator):
    sock = raw_client(limited.port, version=0x01000001)
    try:
        stream = _open(sock, 1, b"shell,v2,raw:sleep 600")
        acknowledged = 0
        frame = struct.pack("<BI", 0, 65536) + b"s" * 65536
        for _ in range(40):  # 2.5 MiB offered, one packet at a time as adb does
            sock.sendall(packet(WRTE, 1, stream, frame, crc=0))
            if not _okay_within(sock, 1.0):
                break
            acknowledged += len(frame)
        assert acknowledged <= STDIN_BUFFER_BYTES + 2 * len(frame)
    finally:
        sock.close()


@pytest.mark.slow  # a served phone of its own, or RSA key generation
def test_storage_is_a_phones_size_for_push_shell_and_scripts(limited: Emulator, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (6 << 20))
    pushed = limited.adb("push", str(big), "/data/local/tmp/big.bin")
    assert pushed.returncode != 0 and b"No space left on device" in pushed.stdout + pushed.stderr
    assert limited.shell("ls /data/local/tmp/big.bin").returncode != 0
    small = tmp_path / "small.bin"
    small.write_bytes(b"1" * (1 << 20))
    assert limited.adb("push", str(small), "/data/local/tmp/small.bin").returncode == 0
    filled = limited.shell("cat /data/local/tmp/small.bin /data/local/tmp/small.bin /data/local/tmp/small.bin "
                           "/data/local/tmp/small.bin > /data/local/tmp/four.bin; echo rc=$?")  # fmt: skip
    assert b"No space left on device" in filled.stdout + filled.stderr
    script = "import errno\ntry:\n    open('/sdcard/x', 'wb').write(bytes(8 << 20))\nexcept OSError as e:\n    print(errno.errorcode[e.errno])"
    assert limited.shell(f'python3 -c "{script}"').stdout == b"ENOSPC\n"
    assert limited.shell("rm /data/local/tmp/small.bin /data/local/tmp/four.bin; echo ok").stdout == b"ok\n"
    assert limited.adb("push", str(small), "/data/local/tmp/small.bin").returncode == 0  # the space came back


@pytest.mark.slow  # a served phone of its own, or RSA key generation
def test_connections_beyond_the_cap_are_refused_only_when_all_are_busy(limited: Emulator):
    busy = []
    try:
        while len(busy) < 10:  # connections each running a command; the adb server holds one more
            sock = socket.create_connection(("127.0.0.1", limited.port), timeout=10)
            sock.sendall(packet(b"CNXN", 0x01000000, 4096, b"host::limits\0"))
            sock.settimeout(5)
            try:
                assert recv_packet(sock)[0] == b"CNXN"
                _open(sock, 1, b"shell:sleep 600")
            except (EOFError, ConnectionResetError):
                sock.close()
                break
            busy.append(sock)
        # the adb server's idle connection made room once (the newest idle goes first), then all were busy
        assert len(busy) == 4
    finally:
        for sock in busy:
            sock.close()
    limited.server.adb("disconnect", limited.serial, timeout=30)
    limited.server.adb("connect", limited.serial, timeout=30)
    wait_for_state(limited.server, limited.serial, "device")
    assert limited.shell("echo served again").stdout == b"served again\n"


@pytest.mark.slow  # a served phone of its own, or RSA key generation
def test_idle_connections_make_room_for_a_new_client(limited: Emulator):
    idle = [socket.create_connection(("127.0.0.1", limited.port), timeout=10) for _ in range(8)]  # no CNXN
    try:
        time.sleep(0.3)
        client = raw_client(limited.port)  # the oldest handshake-less connection gave its place
        client.close()
        assert limited.shell("echo served").stdout == b"served\n"
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.slow  # a served phone of its own, or RSA key generation
def test_streams_beyond_the_cap_are_refused_with_a_message(limited: Emulator):
    sock = raw_client(limited.port)
    try:
        for local_id in (1, 2, 3):
            _open(sock, local_id, b"shell:sleep 600")
        refused = _open(sock, 4, b"shell:echo hi")
        tag, _, _, data = recv_packet(sock)
        assert tag == WRTE and b"refused: 3 streams are open on this connection" in data
        sock.sendall(packet(OKAY, 4, refused))
        assert recv_packet(sock)[0] == CLSE
    finally:
        sock.close()


def test_a_connection_that_never_says_cnxn_is_closed():
    phone = VirtualPhone("pixel4")
    server = AdbServer(phone, limits=AdbLimits(handshake_timeout_s=0.3)).start()
    try:
        sock = socket.create_connection((server.host, server.port), timeout=5)
        assert closed_by_peer(sock)
        sock.close()
    finally:
        server.stop()


def test_process_table_and_python_caps_refuse_cleanly():
    phone = VirtualPhone("pixel4")
    from android.emulator.shell.runtime import runtime_of

    runtime = runtime_of(phone)
    runtime.procs.max_procs = 8
    result = run_shell(phone, "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 100 & done; echo done", uid=SHELL_UID)
    assert "can't fork: Try again" in result.stderr and result.stdout == "done\n"
    runtime.procs.max_procs = 512
    runtime.script_limits.max_scripts = 1
    run_shell(phone, "python3 -c 'import time; time.sleep(1000)' &", uid=SHELL_UID)
    deadline = time.monotonic() + 30
    while not any(p.popen is not None for p in runtime.procs.live()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = run_shell(phone, "python3 -c pass", uid=SHELL_UID)
    assert second.exit_code == 1 and "can't fork: Try again" in second.stderr
    runtime.procs.shutdown()


def _adb_shell_device(server: AdbServer, keys_dir: Path, name: str):
    from adb_shell.adb_device import AdbDeviceTcp
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    return AdbDeviceTcp(server.host, server.port, default_transport_timeout_s=5), PythonRSASigner.FromRSAKeyPath(
        str(keys_dir / name)
    )


@pytest.mark.slow  # a served phone of its own, or RSA key generation
def test_rsa_authentication_lets_only_trusted_keys_in(tmp_path):
    from adb_shell.auth.keygen import keygen

    keygen(str(tmp_path / "adbkey"))
    trusted = load_public_keys(tmp_path / "adbkey.pub")
    for keys, admitted in ((trusted, True), ((), False)):
        server = AdbServer(VirtualPhone("pixel4"), auth_keys=keys).start()
        try:
            device, signer = _adb_shell_device(server, tmp_path, "adbkey")
            if admitted:
                assert device.connect(rsa_keys=[signer], auth_timeout_s=2)
                assert device.shell("getprop ro.product.model") == "Pixel 4\n"
                device.close()
            else:
                with pytest.raises(Exception):  # noqa: B017  (adb_shell's auth failure or timeout)
                    device.connect(rsa_keys=[signer], auth_timeout_s=1)
                assert not device.available
        finally:
            server.stop()


def test_auth_key_files_are_checked(tmp_path):
    (tmp_path / "bad.pub").write_text("not-base64!! user@host\n")
    with pytest.raises(FusegovError, match="line 1 is not an adb public key"):
        load_public_keys(tmp_path / "bad.pub")
    with pytest.raises(FusegovError, match="cannot read it"):
        load_public_keys(tmp_path / "missing.pub")


@pytest.mark.slow
def test_debian_adb_authenticates_with_its_own_key(adb_server, tmp_path):
    """`fusegov emulate --auth ~/.android/adbkey.pub` with the stock adb client and its key (in the test HOME)."""
    from adb_shell.auth.keygen import keygen

    key = Path(adb_server.env["HOME"]) / ".android" / "adbkey.pub"
    assert key.exists(), "adb creates its key when its server starts"
    trusted = start_emulator(adb_server, "pixel4", "--auth", str(key))
    try:
        assert trusted.shell("getprop ro.product.model").stdout == b"Pixel 4\n"
    finally:
        stop_emulator(trusted)
    keygen(str(tmp_path / "other"))
    other = start_emulator(adb_server, "pixel4", "--auth", str(tmp_path / "other.pub"), expect_state="unauthorized")
    stop_emulator(other)


def test_non_loopback_host_requires_a_key(tmp_path, monkeypatch, capsys):
    from governor.cli import main

    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["emulate", "--profile", "pixel4", "--host", "0.0.0.0", "--port", "0"]) == 1
    assert "--host 0.0.0.0 serves the phone beyond this computer: give --auth" in capsys.readouterr().err
