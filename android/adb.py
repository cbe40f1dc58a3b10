"""A phone reached through an `adb` server (adbutils): a real phone, or `fusegov emulate`.

Reads go through one persistent raw shell stream (`shell,raw:` with commands on its stdin, each answered
up to a marker line carrying its exit status), so a burst of reads costs one round trip instead of one
adb process or connection per file; `read_many` sends one small shell helper that prints every file
between delimiters. Root comes from `su -c` (or an adbd already running as uid 0); files only root may
read are re-read through su in the same burst. Writes go through `su -c 'printf ... > path'`; callers
verify them by reading back.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import shlex
import socket
import threading
from pathlib import Path

import adbutils
from adbutils.errors import AdbError

from android.device import Device, ShellResult
from android.errors import (
    ConnectionLostError,
    DeviceError,
    DevicePathError,
    DevicePermissionError,
    InvalidValueError,
    NotRootedError,
)

DEFAULT_ADB_PORT = 5037
DEFAULT_TIMEOUT_S = 30.0
_READ_OK, _READ_MISSING, _READ_DENIED = "0", "1", "2"
READ_CHUNK = 256  # paths per shell command of a read_many: the command line stays short


def adb_server_port(adb_port: int | None = None) -> int:
    """The adb server port: given, else $ANDROID_ADB_SERVER_PORT, else 5037 (as the adb tool does)."""
    if adb_port:
        return adb_port
    env = os.environ.get("ANDROID_ADB_SERVER_PORT", "")
    return int(env) if env.isdigit() else DEFAULT_ADB_PORT


class AdbDevice(Device):
    def __init__(self, serial: str, adb_port: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.serial = self.name = serial
        self.adb_port = adb_server_port(adb_port)
        self.timeout_s = timeout_s
        self._require_server()
        self.client = adbutils.AdbClient(host="127.0.0.1", port=self.adb_port, socket_timeout=timeout_s)
        self.check_state()
        self._adb = self.client.device(serial=serial)
        self._lock = threading.RLock()
        self._session: _PersistentShell | None = None
        self._root: str | None = None  # "uid0" (adbd runs as root), "su", or "none"
        self._shell_v2: bool | None = None

    # --- connection state ---------------------------------------------------------------------
    def _require_server(self) -> None:
        """Fail clearly when nothing listens (adbutils would start a server on its own)."""
        try:
            socket.create_connection(("127.0.0.1", self.adb_port), timeout=2.0).close()
        except OSError:
            raise ConnectionLostError(
                f"{self.serial}: no adb server on 127.0.0.1:{self.adb_port}: start one with "
                f"`adb -P {self.adb_port} start-server`"
                + (
                    f" and connect the phone with `adb -P {self.adb_port} connect {self.serial}`"
                    if ":" in self.serial
                    else ""
                )
            ) from None

    def check_state(self) -> None:
        """Raise a clear error unless the adb server lists this serial as a ready device."""
        try:
            infos = self.client.list()
        except (AdbError, OSError) as exc:
            raise ConnectionLostError(
                f"{self.serial}: cannot talk to the adb server on port {self.adb_port}: {exc}"
            ) from None
        states = {info.serial: info.state for info in infos}
        state = states.get(self.serial)
        if state is None:
            listed = ", ".join(f"{s} ({st})" for s, st in states.items()) or "none"
            how = (
                f"connect it with `adb -P {self.adb_port} connect {self.serial}`"
                if ":" in self.serial
                else "plug it in, enable USB debugging, and check `adb devices`"
            )
            raise DeviceError(
                f"no device {self.serial!r} on the adb server at port {self.adb_port} (devices: {listed}): {how}"
            )
        if state == "unauthorized":
            raise ConnectionLostError(
                f"{self.serial}: unauthorized: accept the 'Allow USB debugging?' prompt "
                "on the phone (or revoke and re-grant authorizations), then retry"
            )
        if state == "offline":
            raise ConnectionLostError(
                f"{self.serial}: offline: the phone does not answer; reconnect it "
                f"(`adb -P {self.adb_port} reconnect offline`, or disconnect and connect)"
            )
        if state != "device":
            raise ConnectionLostError(f"{self.serial}: in state {state!r}, not ready for commands")

    def _lost(self, exc: BaseException) -> DeviceError:
        """The error to raise after a failed adb operation: the device's state says why, if it can."""
        self._drop_session()
        try:
            self._require_server()
            self.check_state()
        except ConnectionLostError as state_error:
            return state_error
        except DeviceError:
            return ConnectionLostError(
                f"{self.serial}: the connection dropped and the adb server no longer "
                f"lists the phone ({exc}); reconnect it "
                f"(`adb -P {self.adb_port} connect {self.serial}`) and retry"
            )
        return ConnectionLostError(
            f"{self.serial}: the adb connection dropped ({exc}); check `adb -P {self.adb_port} devices` and retry"
        )

    # --- the persistent shell -----------------------------------------------------------------
    def _run(self, command: str) -> tuple[int, str]:
        """Run a one-line command in the persistent shell: (exit status, stdout+stderr)."""
        with self._lock:
            if self._session is None:
                try:
                    self._session = _PersistentShell(self._adb, self.timeout_s)
                except (AdbError, OSError, EOFError) as exc:
                    raise self._lost(exc) from None
            try:
                return self._session.run(command)
            except TimeoutError:
                self._drop_session()
                raise DeviceError(f"{self.serial}: no answer within {self.timeout_s} s to {command[:120]!r}") from None
            except (OSError, EOFError, AdbError) as exc:
                raise self._lost(exc) from None

    def _drop_session(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def close(self) -> None:
        self._drop_session()

    # --- root ---------------------------------------------------------------------------------
    def _root_mode(self) -> str:
        if self._root is None:
            status, out = self._run("id -u")
            if status == 0 and out.strip() == "0":
                self._root = "uid0"
            else:
                status, out = self._run("su -c 'id -u'")
                self._root = "su" if status == 0 and out.strip().splitlines()[-1:] == ["0"] else "none"
        return self._root

    def is_rooted(self) -> bool:
        return self._root_mode() != "none"

    def _as_root(self, command: str) -> str:
        """`command` run with root rights (NotRootedError on a phone that gives none)."""
        mode = self._root_mode()
        if mode == "none":
            raise NotRootedError(
                f"{self.serial}: the phone gives no root shell (`su -c id` does not report uid 0): root it "
                "(e.g. Magisk) or use a userdebug build with `adb root`"
            )
        return command if mode == "uid0" else f"su -c {shlex.quote(command)}"

    def root_shell(self, command: str, timeout_s: float | None = None) -> ShellResult:
        """`shell`, with root rights (NotRootedError on a phone that gives none)."""
        return self.shell(self._as_root(command), timeout_s)

    # --- Device interface -----------------------------------------------------------------------
    def read_many(self, paths: list[str]) -> dict[str, str | None]:
        return {path: text for path, (code, text) in self._read_codes(paths).items()}

    def _read_codes(self, paths: list[str]) -> dict[str, tuple[str, str | None]]:
        """path -> (result code, text or None): one round trip, plus one through su for the files
        only root may read."""
        if not paths:
            return {}
        results = self._read_burst(paths, as_root=False)
        denied = [p for p, (code, _) in results.items() if code == _READ_DENIED]
        if denied and self.is_rooted():
            results.update(self._read_burst(denied, as_root=True))
        return results

    def _read_burst(self, paths: list[str], as_root: bool) -> dict[str, tuple[str, str | None]]:
        """One shell command per READ_CHUNK paths."""
        results: dict[str, tuple[str, str | None]] = {}
        for start in range(0, len(paths), READ_CHUNK):
            results.update(self._read_chunk(paths[start : start + READ_CHUNK], as_root))
        return results

    def _read_chunk(self, paths: list[str], as_root: bool) -> dict[str, tuple[str, str | None]]:
        mark = self._mark()
        helper = (
            f'for f in {" ".join(shlex.quote(p) for p in paths)}; do echo "{mark}B"; '
            f'if [ ! -e "$f" ]; then echo "{mark}E{_READ_MISSING}"; '
            f'elif cat "$f" 2>/dev/null; then echo; echo "{mark}E{_READ_OK}"; '
            f'else echo "{mark}E{_READ_DENIED}"; fi; done'
        )
        _, out = self._run(self._as_root(helper) if as_root else helper)
        return dict(zip(paths, _parse_burst(out, mark, len(paths), self.serial)))

    def read(self, path: str) -> str:
        code, text = self._read_codes([path])[path]
        if code == _READ_MISSING:
            raise DevicePathError(self.serial, path)
        if text is None:
            raise DevicePermissionError(self.serial, path, "permission denied (or a directory)")
        return text

    def write(self, path: str, value: str) -> None:
        command = self._as_root(f"printf '%s\\n' {shlex.quote(value)} > {shlex.quote(path)}")
        status, out = self._run(command)
        if status == 0:
            return
        if "Invalid argument" in out:
            raise InvalidValueError(self.serial, path, value)
        if "No such file" in out:
            raise DevicePathError(self.serial, path)
        if "Permission denied" in out or "Read-only" in out or "not permitted" in out:
            raise DevicePermissionError(self.serial, path)
        raise DeviceError(f"{self.serial}: writing {value!r} to {path} failed: {out.strip() or f'status {status}'}")

    def listdir(self, path: str) -> list[str]:
        status, out = self._run(f"ls -1A {shlex.quote(path)}")
        if status != 0:
            raise DevicePathError(self.serial, path, out.strip() or "cannot list")
        return sorted(line for line in out.splitlines() if line)

    def exists(self, path: str) -> bool:
        return self._run(f"test -e {shlex.quote(path)}")[0] == 0

    def is_dir(self, path: str) -> bool:
        return self._run(f"test -d {shlex.quote(path)}")[0] == 0

    def getprop(self, name: str) -> str:
        return self._run(f"getprop {shlex.quote(name)}")[1].strip()

    def shell(self, command: str, timeout_s: float | None = None) -> ShellResult:
        """A command in its own shell stream (shell v2 when the phone has it: separate stderr)."""
        try:
            if self._shell_v2 is None:
                self._shell_v2 = "shell_v2" in self._adb.get_features().split(",")
            result = self._adb.shell2(command, timeout=timeout_s or self.timeout_s, v2=self._shell_v2)
        except adbutils.AdbTimeout:
            raise DeviceError(
                f"{self.serial}: shell command timed out after {timeout_s or self.timeout_s} s: {command[:200]!r}"
            ) from None
        except (AdbError, OSError, EOFError) as exc:
            raise self._lost(exc) from None
        return ShellResult(result.returncode, result.stdout if self._shell_v2 else result.output, result.stderr)

    def push(self, local: str | Path, remote: str) -> None:
        if not Path(local).is_file():
            raise DeviceError(f"cannot push {local}: no such local file")
        try:
            self._adb.sync.push(str(local), remote, mode=0o644)
        except AdbError as exc:
            raise self._push_error(exc, remote) from None
        except (OSError, EOFError) as exc:
            raise self._lost(exc) from None

    def _push_error(self, exc: AdbError, remote: str) -> DeviceError:
        """adbutils reports a refused push as a bare FAIL: ask the phone why."""
        parent = posixpath.dirname(remote.rstrip("/")) or "/"
        if not self.exists(parent):
            return DevicePathError(self.serial, parent, "no such directory to push into")
        if self._run(f"test -w {shlex.quote(parent)}")[0] != 0 or self.exists(remote):
            return DevicePermissionError(
                self.serial,
                remote,
                "permission denied for the adb shell user (push to /data/local/tmp, then copy with su)",
            )
        return DeviceError(f"{self.serial}: push to {remote} failed: {exc}")

    def pull(self, remote: str, local: str | Path) -> None:
        try:
            if not self._adb.sync.exists(remote):
                raise DevicePathError(self.serial, remote)
            self._adb.sync.pull(remote, str(local))
        except AdbError as exc:
            text = str(exc)
            if "Permission denied" in text:
                raise DevicePermissionError(self.serial, remote) from None
            raise DeviceError(f"{self.serial}: cannot pull {remote}: {text}") from None
        except (OSError, EOFError) as exc:
            raise self._lost(exc) from None

    def _mark(self) -> str:
        return f"__fusegov_{secrets.token_hex(6)}_"


def _parse_burst(out: str, mark: str, count: int, serial: str) -> list[tuple[str, str | None]]:
    """Split the read helper's output: per file, BEGIN, the text plus one newline, END with a code."""
    results: list[tuple[str, str | None]] = []
    begin, end = f"{mark}B\n", f"{mark}E"
    pos = 0
    for _ in range(count):
        start = out.find(begin, pos)
        stop = out.find(end, start + len(begin)) if start >= 0 else -1
        if start < 0 or stop < 0:
            raise DeviceError(f"{serial}: garbled answer from the read helper: {out[pos : pos + 200]!r}")
        code = out[stop + len(end)]
        body = out[start + len(begin) : stop]
        results.append((code, body[:-1] if code == _READ_OK else None))
        pos = stop + len(end) + 1
    return results


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge at once: the adb server writes a reply in pieces, and with Nagle on its side and
    delayed ACKs on ours each further piece would wait ~40 ms."""
    if hasattr(socket, "TCP_QUICKACK"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


class _PersistentShell:
    """A raw shell whose stdin we write commands to; each is followed by `echo; echo MARK$?`."""

    def __init__(self, adb_device: adbutils.AdbDevice, timeout_s: float):
        self.conn = adb_device.open_transport(timeout=timeout_s)
        self.conn.send_command("shell,raw:")
        self.conn.check_okay()
        self.sock = self.conn.conn
        self.sock.settimeout(timeout_s)
        self.mark = f"__fusegov_end_{secrets.token_hex(6)}_".encode()
        self._buf = bytearray()

    def run(self, command: str) -> tuple[int, str]:
        if "\n" in command:
            raise ValueError("persistent-shell commands are one line")
        self.sock.sendall(f"{command}\n__fg_rc=$?; echo; echo {self.mark.decode()}$__fg_rc\n".encode())
        needle = b"\n" + self.mark
        while True:
            at = self._buf.find(needle)
            if at >= 0:
                line_end = self._buf.find(b"\n", at + len(needle))
                if line_end >= 0:
                    status = int(self._buf[at + len(needle) : line_end] or b"1")
                    out = bytes(self._buf[:at])
                    del self._buf[: line_end + 1]
                    return status, out.decode(errors="replace")
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                raise TimeoutError from None
            if not chunk:
                raise EOFError("the shell stream closed")
            _quick_ack(self.sock)
            self._buf += chunk

    def close(self) -> None:
        try:
            self.sock.sendall(b"exit\n")
        except OSError:
            pass
        self.conn.close()
