"""A device that is a directory tree: `/` when fusegov runs on the phone, a captured sysfs in tests."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

from android.device import Device, ShellResult
from android.errors import DeviceError, DevicePathError, DevicePermissionError, InvalidValueError


class LocalDevice(Device):
    def __init__(self, root: str | Path = "/"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DevicePathError("local", str(root), "is not a directory")
        self.name = f"local:{self.root}"

    def _host(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def _error(self, exc: OSError, path: str, value: str = "") -> DeviceError:
        if exc.errno == errno.ENOENT:
            return DevicePathError(self.name, path)
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return DevicePermissionError(self.name, path)
        if exc.errno == errno.EINVAL:
            return InvalidValueError(self.name, path, value)
        return DeviceError(f"{self.name}: {path}: {exc.strerror}")

    def read(self, path: str) -> str:
        try:
            return self._host(path).read_text(errors="replace")
        except OSError as exc:
            raise self._error(exc, path) from None

    def write(self, path: str, value: str) -> None:
        target = self._host(path)
        if not target.exists():
            raise DevicePathError(self.name, path)
        try:
            # One write() of the whole value, as sysfs wants; O_TRUNC like the shell's '>'.
            fd = os.open(target, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._error(exc, path, value) from None

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self._host(path)))
        except OSError as exc:
            raise self._error(exc, path) from None

    def exists(self, path: str) -> bool:
        return self._host(path).exists()

    def is_dir(self, path: str) -> bool:
        return self._host(path).is_dir()

    def shell(self, command: str, timeout_s: float | None = None) -> ShellResult:
        """Runs the command with the host's sh, in the root directory (on the phone: the phone's sh)."""
        proc = subprocess.run(["sh", "-c", command], cwd=self.root, capture_output=True, text=True, timeout=timeout_s)
        return ShellResult(proc.returncode, proc.stdout, proc.stderr)

    def push(self, local: str | Path, remote: str) -> None:
        try:
            shutil.copyfile(local, self._host(remote))
        except OSError as exc:
            raise self._error(exc, remote) from None

    def pull(self, remote: str, local: str | Path) -> None:
        try:
            shutil.copyfile(self._host(remote), local)
        except OSError as exc:
            raise self._error(exc, remote) from None

    def getprop(self, name: str) -> str:
        """From the build.prop files of the tree (or the `getprop` tool when the root is `/`)."""
        if str(self.root) == "/" and shutil.which("getprop"):
            return self.shell(f"getprop {name}").stdout.strip()
        for rel in ("system/build.prop", "vendor/build.prop", "odm/build.prop", "default.prop"):
            prop_file = self.root / rel
            if prop_file.is_file():
                for line in prop_file.read_text(errors="replace").splitlines():
                    key, sep, value = line.partition("=")
                    if sep and key.strip() == name:
                        return value.strip()
        return ""

    def is_rooted(self) -> bool:
        return os.geteuid() == 0 or os.access(self.root, os.W_OK)
