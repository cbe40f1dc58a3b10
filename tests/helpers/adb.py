"""Real parts for the ADB tests, started the way a user would: Debian's `adb` server on a private port,
`fusegov emulate` subprocesses on free ports, `adb connect`. The session fixtures in tests/conftest.py
(`adb_server`, `pixel7`, `sm8550`) start them once per test session through REGISTRY, which stops them at
session end."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADB = shutil.which("adb")
STARTUP_TIMEOUT_S = 60.0


def require_adb() -> str:
    if ADB is None:
        pytest.skip("Debian's `adb` is not installed (apt-get install adb; the README's test command does)")
    return ADB


try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """Linux: the emulator gets SIGTERM if the test process dies without stopping it."""
    if _LIBC is not None:
        _LIBC.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AdbServer:
    port: int
    env: dict[str, str]

    def adb(
        self, *args: str, timeout: float = 60.0, input: bytes | None = None, check: bool = False
    ) -> subprocess.CompletedProcess:
        """Run the adb command line against this server."""
        return subprocess.run(
            [require_adb(), "-P", str(self.port), *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            input=input if input is not None else b"",
            check=check,
        )

    def state(self, serial: str) -> str | None:
        for line in self.adb("devices").stdout.decode().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == serial:
                return parts[1]
        return None


@dataclass
class Emulator:
    """A `fusegov emulate` process connected to the test adb server."""

    server: AdbServer
    proc: subprocess.Popen
    serial: str
    banner: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.serial.rsplit(":", 1)[1])

    def adb(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.server.adb("-s", self.serial, *args, **kwargs)

    def shell(self, command: str, **kwargs) -> subprocess.CompletedProcess:
        return self.adb("shell", command, **kwargs)


def start_emulator(
    server: AdbServer,
    profile: str,
    *options: str,
    connect: bool = True,
    expect_state: str = "device",
    port: int = 0,
) -> Emulator:
    """`port` 0 picks a free one; a fixed port serves the same serial again after a restart."""
    log = open(Path(server.env["HOME"]) / f"emulate-{Path(profile).stem}-{free_port()}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "governor.cli", "emulate", "--profile", profile, "--port", str(port), *options],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=server.env,
        preexec_fn=_die_with_parent,
    )
    log.close()
    banner: list[str] = []
    serial = ""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not (banner and banner[-1].strip().startswith("stop:")):
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"fusegov emulate exited early: {Path(log.name).read_text()}")
        banner.append(line.rstrip())
        if line.strip().startswith("serial:"):
            serial = line.split()[1]
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("fusegov emulate did not print its serial")
    emulator = Emulator(server, proc, serial, banner)
    if connect:
        server.adb("connect", serial, timeout=30)
        wait_for_state(server, serial, expect_state)
    return emulator


def wait_for_state(server: AdbServer, serial: str, state: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while server.state(serial) != state:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{serial} did not reach state {state!r}: {server.adb('devices').stdout!r}")
        time.sleep(0.05)


def stop_emulator(emulator: Emulator) -> None:
    emulator.server.adb("disconnect", emulator.serial, timeout=30)
    if emulator.proc.poll() is None:
        emulator.proc.send_signal(signal.SIGTERM)
        try:
            emulator.proc.wait(15)
        except subprocess.TimeoutExpired:
            emulator.proc.kill()
            emulator.proc.wait()


class _Registry:
    """Session-wide processes, started on first use and stopped when the pytest session ends."""

    def __init__(self) -> None:
        self.server: AdbServer | None = None
        self.emulators: dict[tuple, Emulator] = {}

    def adb_server(self, request: pytest.FixtureRequest, tmp_dir: Path) -> AdbServer:
        if self.server is None:
            require_adb()
            port = free_port()
            home = tmp_dir / "home"
            home.mkdir(parents=True, exist_ok=True)
            env = {
                **os.environ,
                "HOME": str(home),
                "ANDROID_ADB_SERVER_PORT": str(port),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            }
            server = AdbServer(port, env)
            server.adb("start-server", timeout=60, check=True)
            self.server = server
            request.config.add_cleanup(self._stop)
        return self.server

    def emulator(self, server: AdbServer, profile: str, *options: str) -> Emulator:
        key = (profile, *options)
        if key not in self.emulators:
            self.emulators[key] = start_emulator(server, profile, *options)
        return self.emulators[key]

    def stop(self, profile: str, *options: str) -> None:
        """Stop one emulator before the session ends (its last user is done); a later call to emulator() would
        start it again."""
        emulator = self.emulators.pop((profile, *options), None)
        if emulator is not None:
            stop_emulator(emulator)

    def _stop(self) -> None:
        for emulator in self.emulators.values():
            stop_emulator(emulator)
        self.emulators.clear()
        if self.server is not None:
            self.server.adb("kill-server", timeout=30)
            self.server = None


REGISTRY = _Registry()
