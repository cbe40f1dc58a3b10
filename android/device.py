"""The one interface through which fusegov reaches a phone's files and shell.

Backends: `LocalDevice` (a directory root: `/` on the phone, a captured sysfs tree in tests),
`VirtualDevice` (the in-process virtual phone) and `AdbDevice` (adbutils against an `adb` server).
Everything above this layer speaks paths and text; units and knob semantics live in android.knobs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from android.errors import DeviceError


@dataclass(frozen=True)
class ShellResult:
    exit_code: int
    stdout: str
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Device(ABC):
    """Primitives every backend offers; modules (probing, knobs, samplers) build on these only."""

    name: str

    @abstractmethod
    def read(self, path: str) -> str:
        """Text of a file; DevicePathError if missing, DevicePermissionError if unreadable."""

    @abstractmethod
    def write(self, path: str, value: str) -> None:
        """Write as root (sysfs style: one write of the whole value); errors name path and value."""

    @abstractmethod
    def listdir(self, path: str) -> list[str]:
        """Sorted entry names of a directory."""

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def is_dir(self, path: str) -> bool: ...

    @abstractmethod
    def shell(self, command: str, timeout_s: float | None = None) -> ShellResult:
        """Run a shell command on the device (as the shell user) and return its exit code and output."""

    @abstractmethod
    def push(self, local: str | Path, remote: str) -> None: ...

    @abstractmethod
    def pull(self, remote: str, local: str | Path) -> None: ...

    @abstractmethod
    def getprop(self, name: str) -> str:
        """A system property, '' when unset."""

    @abstractmethod
    def is_rooted(self) -> bool:
        """Whether fusegov can write kernel knobs (root shell or running as root)."""

    def read_many(self, paths: list[str]) -> dict[str, str | None]:
        """Read several files; missing or unreadable ones map to None. Backends batch this."""
        out: dict[str, str | None] = {}
        for path in paths:
            try:
                out[path] = self.read(path)
            except DeviceError:
                out[path] = None
        return out

    def close(self) -> None:  # noqa: B027  (optional hook: backends without connections keep it)
        """Release connections; reading after close is an error."""

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
