"""The in-process virtual phone as a Device, with root access (like the daemon running as root)."""

from __future__ import annotations

from pathlib import Path

from android.device import Device, ShellResult
from android.emulator.phone import VirtualPhone
from android.emulator.vfs import ROOT_UID, SHELL_UID


class VirtualDevice(Device):
    def __init__(self, phone: VirtualPhone | str, seed: int = 0, root: bool = True):
        self.phone = phone if isinstance(phone, VirtualPhone) else VirtualPhone(phone, seed=seed)
        self.uid = ROOT_UID if root else SHELL_UID
        self.name = self.phone.serial

    def read(self, path: str) -> str:
        return self.phone.fs.read(path, self.uid).decode(errors="replace")

    def write(self, path: str, value: str) -> None:
        self.phone.fs.write(path, value.encode(), self.uid)

    def listdir(self, path: str) -> list[str]:
        return self.phone.fs.listdir(path)

    def exists(self, path: str) -> bool:
        return self.phone.fs.exists(path)

    def is_dir(self, path: str) -> bool:
        return self.phone.fs.is_dir(path)

    def shell(self, command: str, timeout_s: float | None = None) -> ShellResult:
        from android.emulator.shell import run_shell

        return run_shell(self.phone, command, uid=SHELL_UID, timeout_s=timeout_s)

    def push(self, local: str | Path, remote: str) -> None:
        self.phone.fs.write(remote, Path(local).read_bytes(), self.uid)

    def pull(self, remote: str, local: str | Path) -> None:
        Path(local).write_bytes(self.phone.fs.read(remote, self.uid))

    def getprop(self, name: str) -> str:
        return self.phone.props.get(name, "")

    def is_rooted(self) -> bool:
        return self.uid == ROOT_UID
