"""Memory of `fusegov emulate` (its RSS, from /proc/PID/status) while one client attacks it, and whether
another client is still served meanwhile. Three attacks, as in issue 8:

- flood: rounds of 1 MiB WRTE packets into the stdin of `sleep 600`, once as adb sends them (waiting for
  each OKAY) and once ignoring flow control;
- big push: a push several times the phone's storage size;
- many connections: thousands of connections opened and held.

Prints the RSS before, the peak during, and the growth, per attack, with the limits in force.

    python bench/bench_adbd_limits.py [--rounds 3] [--push-mib 500] [--connections 3000]
"""

from __future__ import annotations

import argparse
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CNXN, OPEN, OKAY, WRTE = (struct.unpack("<I", t)[0] for t in (b"CNXN", b"OPEN", b"OKAY", b"WRTE"))


def packet(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    return struct.pack("<6I", command, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, command ^ 0xFFFFFFFF) + data


def recv_packet(sock: socket.socket) -> tuple[int, int, int, bytes]:
    header = _exact(sock, 24)
    command, arg0, arg1, length, _, _ = struct.unpack("<6I", header)
    return command, arg0, arg1, _exact(sock, length)


def _exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def client(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(packet(CNXN, 0x01000001, 1 << 20, b"host::bench\0"))
    assert recv_packet(sock)[0] == CNXN
    return sock


def open_stream(sock: socket.socket, local_id: int, service: str) -> int:
    sock.sendall(packet(OPEN, local_id, 0, service.encode() + b"\0"))
    command, remote, _, _ = recv_packet(sock)
    assert command == OKAY
    return remote


def shell(port: int, command: str) -> bytes:
    sock = client(port)
    try:
        remote = open_stream(sock, 1, f"shell:{command}")
        out = b""
        while True:
            kind, _, _, data = recv_packet(sock)
            if kind == WRTE:
                out += data
                sock.sendall(packet(OKAY, 1, remote))
            elif kind != OKAY:
                return out
    finally:
        sock.close()


class Rss:
    """Samples the emulator's RSS every 20 ms in a thread; `peak` since the last reset."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def now(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def reset(self) -> int:
        self.peak = self.now()
        return self.peak


def served_meanwhile(port: int) -> str:
    started = time.monotonic()
    answer = "yes" if shell(port, "echo served") == b"served\n" else "NO"
    return f"{answer} ({(time.monotonic() - started) * 1e3:.0f} ms)"


def flood(port: int, rounds: int, obey_flow_control: bool) -> str:
    sent = 0
    for _ in range(rounds):
        sock = client(port)
        remote = open_stream(sock, 1, "shell:sleep 600")
        sock.settimeout(1.0)
        try:
            for _ in range(400):
                sock.sendall(packet(WRTE, 1, remote, b"\0" * (1 << 20)))
                sent += 1
                if obey_flow_control:
                    try:
                        recv_packet(sock)
                    except (TimeoutError, EOFError):
                        break  # no OKAY: the phone holds the client here
        except OSError:
            pass  # the phone closed a client that ignored flow control
        finally:
            sock.close()
    return f"{sent} MiB offered"


def big_push(port: int, size_mib: int) -> str:
    sock = client(port)
    remote = open_stream(sock, 1, "sync:")
    spec = b"/data/local/tmp/big.bin,33188"
    request = b"SEND" + struct.pack("<I", len(spec)) + spec
    sock.sendall(packet(WRTE, 1, remote, request))
    recv_packet(sock)
    chunk = b"DATA" + struct.pack("<I", 65536) + b"\0" * 65536
    for _ in range(size_mib * 16):
        sock.sendall(packet(WRTE, 1, remote, chunk))
        recv_packet(sock)  # OKAY: the phone read it (and drops it once the storage is full)
    sock.sendall(packet(WRTE, 1, remote, b"DONE" + struct.pack("<I", 0)))
    while True:
        kind, _, _, data = recv_packet(sock)
        if kind == WRTE:
            sock.close()
            return f"{size_mib} MiB pushed: phone answered {data[8:].decode(errors='replace')!r}"


def many_connections(port: int, count: int) -> str:
    held, refused = [], 0
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(sock)
        except OSError:
            refused += 1
    time.sleep(1.0)
    alive = 0
    for sock in held:
        sock.setblocking(False)
        try:
            alive += sock.recv(1) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    for sock in held:
        sock.close()
    return f"{count} opened, {alive} still held by the phone after 1 s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--push-mib", type=int, default=500)
    parser.add_argument("--connections", type=int, default=3000)
    args = parser.parse_args()
    proc = subprocess.Popen(
        [sys.executable, "-m", "governor.cli", "emulate", "--profile", "pixel7", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    port = 0
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.strip().startswith("serial:"):
            port = int(line.split(":")[-1])
        if line.strip().startswith("stop:"):
            break
    rss = Rss(proc.pid)
    try:
        print(f"fusegov emulate (pixel7, default limits) pid {proc.pid}, port {port}")
        print(f"{'attack':<34} {'RSS before':>11} {'peak':>9} {'growth':>9}  served meanwhile  detail")
        attacks = [
            ("stdin flood, flow control obeyed", lambda: flood(port, args.rounds, True)),
            ("stdin flood, flow control ignored", lambda: flood(port, args.rounds, False)),
            (f"push of {args.push_mib} MiB", lambda: big_push(port, args.push_mib)),
            (f"{args.connections} connections", lambda: many_connections(port, args.connections)),
        ]
        for name, attack in attacks:
            before = rss.reset()
            result: dict = {}
            worker = threading.Thread(target=lambda attack=attack, result=result: result.setdefault("detail", attack()))
            worker.start()
            time.sleep(0.5)
            meanwhile = served_meanwhile(port)
            worker.join()
            time.sleep(0.3)
            peak = max(rss.peak, rss.now())
            print(
                f"{name:<34} {before / 2**20:>8.0f} MiB {peak / 2**20:>5.0f} MiB {(peak - before) / 2**20:>5.0f} MiB  "
                f"{meanwhile:<16} {result.get('detail', '')}"
            )
    finally:
        proc.terminate()
        proc.wait(15)


if __name__ == "__main__":
    main()
